#!/usr/bin/env bash
# GPU check (issue 17): EMHNet-tiny and STSTNet 68-fold LOSO on CUDA + AMP, fold by fold and fold-vectorized
# (wall time, peak GPU memory); paper-preset EMHNet and full-size HTNet seconds per epoch, one full fold and the
# projected LOSO; agreement with the committed CPU reference predictions (benchmarks/gpu_reference/).
# At most about 5.5 minutes on one H100 (--budget-s 300 bounds it; a step that does not fit is skipped or cut
# and says so). timeout_s=420 below is the command's own limit: with a machine start of 1-2 minutes, one
# immediate rerun still fits a 15-minute device budget.
#
# Runs from the source tree against the machine's own PyTorch (no install step) on the full-scale SynthME cache
# prepared here, which travels with the call (7 MB):
#
#   here, once:   .venv/bin/python benchmarks/gpu_reference.py prepare    # -> data/gpu_check/cache
#                 .venv/bin/python benchmarks/gpu_reference.py verify     # the committed references' cache?
#   device call:  run(command="bash benchmarks/gpu_check.sh", carry=["data/gpu_check/cache"], timeout_s=420)
#   then here:    .venv/bin/python benchmarks/gpu_report.py <files_at>/gpu_check.json --out results/gpu.md
#
# Writes under $OUT (default runs/gpu_check_out): gpu_check.json (every number, saved after each step),
# gpu_check.log, gpu.md (the rendered table) and runs.tar.gz (each run's tables, no checkpoints).
# On a CPU, a smaller setting (what tests/test_gpu_check.py runs):
#   PYTHON=.venv/bin/python bash benchmarks/gpu_check.sh --device cpu --epochs 1 --paper-epochs 3 --probe-epochs 1 2
# Extra arguments go to benchmarks/gpu_check.py (see its --help); PYTHON picks the interpreter.
set -uo pipefail

main() {  # one function, so bash has read the whole script before it runs any of it
    cd "$(dirname "$0")/.." || return 2
    OUT=${OUT:-runs/gpu_check_out}
    mkdir -p "$OUT"
    export OUT PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" EMHNET_PROGRESS=0 PYTHONUNBUFFERED=1
    local py=${PYTHON:-python3} status
    "$py" benchmarks/gpu_check.py --out "$OUT" "$@" 2>&1 | tee "$OUT/gpu_check.log"
    status=${PIPESTATUS[0]}
    if [ -f "$OUT/gpu_check.json" ]; then
        "$py" benchmarks/gpu_report.py "$OUT/gpu_check.json" --out "$OUT/gpu.md" || status=1
    fi
    return "$status"
}

main "$@"
exit $?
