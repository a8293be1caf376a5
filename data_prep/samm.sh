#!/usr/bin/env bash
# SAMM release (SAMM_Micro_FACS_Codes_v2.xlsx + SAMM/<subject>/<clip>/) -> cached model inputs.
# Usage: data_prep/samm.sh /path/to/SAMM [CACHE_DIR] [extra `emhnet prepare` options]
set -euo pipefail
root="${1:?usage: $0 /path/to/SAMM [CACHE_DIR] [options]}"
out="${2:-cache}"
exec "${EMHNET:-emhnet}" prepare --samm "$root" --out "$out" --preset real "${@:3}"
