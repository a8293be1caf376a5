#!/usr/bin/env bash
# SMIC-HS release (HS/s1/micro/{negative,positive,surprise}/<clip>/*.bmp) -> cached model inputs.
# SMIC has no apex: the middle frame is the default; pass `--apex spot` to spot it from motion instead.
# Usage: data_prep/smic_hs.sh /path/to/SMIC [CACHE_DIR] [extra `emhnet prepare` options]
set -euo pipefail
root="${1:?usage: $0 /path/to/SMIC [CACHE_DIR] [options]}"
out="${2:-cache}"
exec "${EMHNET:-emhnet}" prepare --smic "$root" --out "$out" --preset real "${@:3}"
