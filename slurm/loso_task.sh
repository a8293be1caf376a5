#!/bin/bash
# One task of a LOSO job array: task K of N runs the folds i with i mod N = K-1, all into one run folder.
# Not submitted itself: slurm/loso_array.sbatch (GPU) and slurm/loso_array_cpu.sbatch (CPU) hold the #SBATCH
# resource lines and run this file, so both forms share one body. Settings come from the environment
# (sbatch exports the submitting shell's environment by default):
#
#   REPO      the emhnet-lite checkout                     (default: the folder sbatch was called from)
#   EMHNET    the emhnet command                           (default: $REPO/.venv/bin/emhnet, from `make setup`)
#   DATA      a prepared cache folder (`emhnet prepare --data ... --out ...`)
#   OUT       the run folder all tasks write into          (default: $REPO/runs/$RUN_NAME)
#   MODEL, PRESET, SELECT, SEED, DEVICE                   as `emhnet loso --model/--preset/--select/--seed/--device`
#   EXTRA_ARGS further `emhnet loso` flags, e.g. "--epochs 20 --vectorize-folds auto"
#
# Every task must see the same data and settings: config.json is checked by each task. Re-submitting the
# same array after a failure is safe: finished folds are skipped (--resume), and an interrupted fold restarts
# from its own seed, so the merged result equals an uninterrupted run.

set -euo pipefail

REPO=${REPO:-$SLURM_SUBMIT_DIR}
EMHNET=${EMHNET:-$REPO/.venv/bin/emhnet}
DATA=${DATA:-$REPO/data/cache/PREPARED_KEY}
RUN_NAME=${RUN_NAME:-emhnet_paper_last}
OUT=${OUT:-$REPO/runs/$RUN_NAME}
MODEL=${MODEL:-emhnet}                            # emhnet (paper preset), emhnet_tiny, htnet, ststnet
SELECT=${SELECT:-last}                            # last | val | oracle (oracle = test-set-selected, leaky)
PRESET=${PRESET:-paper}                           # training schedule preset
SEED=${SEED:-0}
DEVICE=${DEVICE:-auto}                            # auto (CUDA when allocated), cpu, cuda
EXTRA_ARGS=${EXTRA_ARGS:-}
N_SHARDS=${SLURM_ARRAY_TASK_COUNT:?run as a job array (sbatch --array=1-N)}
SHARD=$(( ${SLURM_ARRAY_TASK_ID:?run as a job array} - ${SLURM_ARRAY_TASK_MIN:-1} + 1 ))   # 1-based, whatever the array start

cd "$REPO"
export EMHNET_BATCH=1                              # plain progress lines in the log
# shellcheck disable=SC2086  # EXTRA_ARGS is a list of flags, split on purpose
"$EMHNET" loso --data "$DATA" --model "$MODEL" --preset "$PRESET" --select "$SELECT" \
    --seed "$SEED" --out "$OUT" --shard "$SHARD/$N_SHARDS" --threads "${SLURM_CPUS_PER_TASK:-1}" \
    --device "$DEVICE" --resume --no-merge $EXTRA_ARGS
