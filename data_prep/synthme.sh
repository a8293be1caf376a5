#!/usr/bin/env bash
# SynthME (the kit's synthetic composite) -> cached model inputs, using its ground-truth landmarks.
# Usage: data_prep/synthme.sh [SYNTHME_DIR] [CACHE_DIR] [extra `emhnet prepare` options]
set -euo pipefail
root="${1:-data/synthme}"
out="${2:-data/cache}"
exec "${EMHNET:-emhnet}" prepare --data "$root" --out "$out" --preset default "${@:3}"
