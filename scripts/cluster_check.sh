#!/usr/bin/env bash
# `make cluster-check`: run the kit's SLURM job array on a real one-node SLURM started on localhost and check
# that the merged predictions equal a single-process `emhnet loso` run of the same settings.
#
#   bash scripts/cluster_check.sh [BIN]      BIN: folder holding python and emhnet (default .venv/bin,
#                                            or $EMHNET_BIN)
#
# Installs slurm-wlm and munge with apt when missing (needs root, as in CI). Everything else lives in a
# temporary folder: a private munge key and socket, a minimal slurm.conf (read through SLURM_CONF, so no
# global configuration is written), state, spool and logs. The daemons (munged, slurmctld, slurmd) listen on
# localhost only, their PIDs are recorded, and they are stopped when the script exits, also on failure or
# interrupt. CLUSTER_CHECK_KEEP=1 keeps the temporary folder (its path is printed).
set -euo pipefail

BIN="${1:-${EMHNET_BIN:-.venv/bin}}"
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "$BIN" && pwd)
N_TASKS=3                                        # array tasks (the SynthME cache below has 6 subjects = folds)
WAIT_S=${CLUSTER_CHECK_WAIT_S:-240}              # longest wait for the jobs
started=$(date +%s)
export EMHNET_BATCH=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
# shellcheck disable=SC2046  # an outer job's or the user's SLURM_*/SBATCH_* settings must not leak in
unset $(compgen -e | grep -E '^(SLURM|SBATCH|SALLOC|SRUN)_' || true)

say() { echo "== cluster-check [$(( $(date +%s) - started )) s] $*"; }
fail() { echo "FAIL: cluster-check: $*" >&2; exit 1; }

# --- 1. packages -------------------------------------------------------------------------------------------
need=()
for cmd in munged mungekey slurmctld slurmd sbatch squeue scontrol sinfo scancel; do
  command -v "$cmd" >/dev/null 2>&1 || need+=("$cmd")
done
if [ "${#need[@]}" -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || fail "missing ${need[*]}; install slurm-wlm and munge (apt-get needs root)"
  say "installing slurm-wlm and munge (missing: ${need[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null
fi
[ "$(id -u)" -eq 0 ] || fail "the daemons run with root as SlurmUser: run as root (CI does)"

# --- 2. a private cluster in a temporary folder, stopped on exit ----------------------------------------------
WORK=$(mktemp -d /tmp/emhnet-cluster.XXXXXX)      # short path: a unix socket path must fit 108 bytes
chmod 755 "$WORK"
mkdir -p "$WORK"/{munge,state,spool,log,data,runs}
chmod 755 "$WORK/munge"                          # munged: socket dir must be traversable
PIDS=()            # daemons in start order
NAMES=()

stop_all() {
  local rc=$?
  set +e
  if [ -n "${SLURM_CONF:-}" ] && [ "${#PIDS[@]}" -ge 2 ]; then
    scancel --quiet --user="$(id -un)" 2>/dev/null           # only this cluster's jobs (SLURM_CONF)
    for _ in $(seq 20); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
  fi
  for (( i=${#PIDS[@]}-1; i>=0; i-- )); do                   # slurmd, slurmctld, then munged
    local pid=${PIDS[$i]}
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "cluster-check: ${NAMES[$i]} (pid $pid) ignored TERM; killing it" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
  done
  if [ "$rc" -ne 0 ]; then
    for f in "$WORK"/log/{loso-*,merge-*,synth,prepare,single}.log "$WORK"/log/{slurmctld,slurmd,munged}.*; do
      [ -f "$f" ] || continue
      case $f in */slurmctld.out|*/slurmd.out) [ -s "${f%.out}.log" ] && continue ;; esac   # same lines
      echo "---- tail of ${f#"$WORK"/}" >&2
      tail -n 25 "$f" >&2
    done
  fi
  if [ "${CLUSTER_CHECK_KEEP:-0}" = 1 ]; then echo "cluster-check: kept $WORK" >&2; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_daemon() {  # NAME COMMAND...: start in the foreground mode of the daemon, in the background here
  local name=$1; shift
  "$@" >"$WORK/log/$name.out" 2>&1 &
  PIDS+=("$!"); NAMES+=("$name")
  say "started $name (pid $!)"
}

wait_for() {  # SECONDS WHAT COMMAND...: poll until COMMAND succeeds
  local limit=$1 what=$2; shift 2
  local t0 i; t0=$(date +%s)
  until "$@" >/dev/null 2>&1; do
    [ $(( $(date +%s) - t0 )) -lt "$limit" ] || fail "$what not ready after $limit s"
    for i in "${!PIDS[@]}"; do kill -0 "${PIDS[$i]}" 2>/dev/null || fail "${NAMES[$i]} exited early"; done
    sleep 0.5
  done
}

free_port() { "$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# munge: a fresh key and a socket of our own (the system's /etc/munge is not used)
SOCK=$WORK/munge/munge.socket
mungekey --create --keyfile="$WORK/munge/munge.key" 2>/dev/null \
  || { dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none; chmod 600 "$WORK/munge/munge.key"; }
start_daemon munged munged --foreground --force --key-file="$WORK/munge/munge.key" --socket="$SOCK" \
  --pid-file="$WORK/munge/munged.pid" --seed-file="$WORK/munge/munged.seed" --log-file="$WORK/log/munged.log"
wait_for 20 "munged" bash -c "munge --socket='$SOCK' -n | unmunge --socket='$SOCK'"

# slurm.conf: one node with this machine's CPUs and (90% of its) memory, root as SlurmUser, everything local
CPUS=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)   # nproc obeys OMP_NUM_THREADS, exported above
MEM_MB=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
CTLD_PORT=$(free_port)
SLURMD_PORT=$(free_port)
[ "$CTLD_PORT" != "$SLURMD_PORT" ] || SLURMD_PORT=$(free_port)
export SLURM_CONF=$WORK/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=emhnetcheck
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
MinJobAge=600
NodeName=emhnet1 NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=check Nodes=emhnet1 Default=YES MaxTime=INFINITE State=UP
EOF
start_daemon slurmctld slurmctld -D -f "$SLURM_CONF"
wait_for 30 "slurmctld" scontrol ping
start_daemon slurmd slurmd -D -f "$SLURM_CONF" -N emhnet1
node_idle() { sinfo -h -N -n emhnet1 -o %t | grep -qx idle; }
wait_for 30 "node emhnet1" node_idle
say "SLURM up: 1 node, $CPUS CPUs, $MEM_MB MB; ports $CTLD_PORT/$SLURMD_PORT on 127.0.0.1"

# --- 3. a small SynthME cache and the single-process reference -------------------------------------------------
"$BIN/emhnet" synth --out "$WORK/data/synth" --scale 0.05 --seed 0 >"$WORK/log/synth.log" 2>&1
"$BIN/emhnet" prepare --data "$WORK/data/synth" --out "$WORK/data/cache" --workers 1 --on-error raise \
  >"$WORK/log/prepare.log" 2>&1
CACHE=$(dirname "$(ls "$WORK"/data/cache/*/manifest.csv)")
say "prepared $CACHE"

# --- 4. the kit's job array (CPU form) and the dependent merge job ---------------------------------------------
# The settings of slurm/loso_task.sh. sbatch exports this environment (PYTHONPATH included) to the jobs;
# options on the sbatch command line override the template's #SBATCH lines.
export REPO DATA=$CACHE OUT=$WORK/runs/array EMHNET=$BIN/emhnet MODEL=emhnet_tiny PRESET=tiny SELECT=last \
  SEED=0 DEVICE=cpu EXTRA_ARGS="--epochs 2"
array_id=$(sbatch --parsable --array=1-$N_TASKS --cpus-per-task=1 --mem=1G --time=00:10:00 \
  --output="$WORK/log/loso-%A_%a.log" "$REPO/slurm/loso_array_cpu.sbatch")
array_id=${array_id%%;*}
merge_id=$(sbatch --parsable --dependency=afterok:"$array_id" --job-name=emhnet-merge --cpus-per-task=1 \
  --mem=1G --time=00:05:00 --output="$WORK/log/merge-%j.log" --wrap "$(printf '%q merge %q' "$EMHNET" "$OUT")")
merge_id=${merge_id%%;*}
say "submitted array $array_id (tasks 1-$N_TASKS) and merge $merge_id (afterok)"

# The reference runs while the cluster works: the same settings in one process with one thread (as each task).
# shellcheck disable=SC2086  # EXTRA_ARGS is a list of flags
"$EMHNET" loso --data "$DATA" --model "$MODEL" --preset "$PRESET" --select "$SELECT" --seed "$SEED" \
  --device "$DEVICE" --threads 1 --out "$WORK/runs/single" $EXTRA_ARGS >"$WORK/log/single.log" 2>&1
say "single-process reference finished"

left_queue() { [ -z "$(squeue -h -j "$1" 2>/dev/null)" ]; }
job_states() { scontrol -o show job "$1" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 | sort -u | xargs; }
wait_for "$WAIT_S" "the job array" left_queue "$array_id"
state=$(job_states "$array_id")                 # a failed task leaves the merge pending for ever: stop here
[ "$state" = COMPLETED ] || fail "job array $array_id ended $state (logs below)"
wait_for "$WAIT_S" "the merge job" left_queue "$merge_id"
state=$(job_states "$merge_id")
[ "$state" = COMPLETED ] || fail "merge job $merge_id ended $state (logs below)"
say "array and merge jobs COMPLETED"

# --- 5. the merged run equals the single-process run ----------------------------------------------------------
for f in predictions.csv predictions_last.csv predictions_oracle.csv; do
  cmp -s "$WORK/runs/single/$f" "$OUT/$f" || { diff "$WORK/runs/single/$f" "$OUT/$f" | head -20 >&2;
    fail "$f of the SLURM array differs from the single-process run"; }
done
"$BIN/python" - "$OUT" "$N_TASKS" <<'PY'
import json, pathlib, sys
run, n = pathlib.Path(sys.argv[1]), int(sys.argv[2])
shards = sorted(p.get("shard") for p in json.loads((run / "manifest.json").read_text())["processes"])
want = sorted(f"{k}/{n}" for k in range(1, n + 1))
if shards != want:
    sys.exit(f"FAIL: cluster-check: the merged run was trained by shards {shards}, expected {want}")
PY
say "merged predictions of $N_TASKS SLURM tasks equal the single-process run; passed in $(( $(date +%s) - started )) s"
