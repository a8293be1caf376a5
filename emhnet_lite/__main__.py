"""``python -m emhnet_lite`` is the same as the ``emhnet`` command."""

import sys

from emhnet_lite.cli import main

sys.exit(main())
