#!/usr/bin/env bash
# All three releases under one folder -> the MEGC2019 composite's cached model inputs.
# Pass the published sample list to pin the 442 clips: --sample-list composite_442_samples.csv
# Usage: data_prep/composite.sh /path/to/releases [CACHE_DIR] [extra `emhnet prepare` options]
set -euo pipefail
root="${1:?usage: $0 /path/to/releases [CACHE_DIR] [options]}"
out="${2:-cache}"
exec "${EMHNET:-emhnet}" prepare --data "$root" --out "$out" --preset real "${@:3}"
