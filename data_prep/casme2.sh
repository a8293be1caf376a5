#!/usr/bin/env bash
# CASME II raw release (CASME2-coding-20140508.xlsx + CASME2_RAW_selected/) -> cached model inputs.
# Usage: data_prep/casme2.sh /path/to/CASME2 [CACHE_DIR] [extra `emhnet prepare` options]
set -euo pipefail
root="${1:?usage: $0 /path/to/CASME2 [CACHE_DIR] [options]}"
out="${2:-cache}"
exec "${EMHNET:-emhnet}" prepare --casme2 "$root" --out "$out" --preset real "${@:3}"
