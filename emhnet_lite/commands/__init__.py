"""Subcommands of the ``emhnet`` CLI, one module each (see :mod:`emhnet_lite.cli`)."""
