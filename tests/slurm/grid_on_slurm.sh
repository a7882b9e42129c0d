#!/usr/bin/env bash
# `sesame report` on a real Slurm cluster: starts munge, slurmctld and slurmd on this machine (a one-node
# cluster in a temporary directory, on ports of its own), runs a small grid as a 3-task job array
# (experiments/slurm/grid.sbatch), kills one task while it trains and requeues it, and checks that
#   - every run of the grid finished, and each was trained to its end exactly once (the tasks' logs together
#     hold one "finished" line per run);
#   - every run has the dev metrics and the training log of the same grid run by one process;
#   - the report gathered with --collect-only is the one-process report.
# The grid has a selection on dev and a variant that chooses from it, so tasks also wait for each other.
# Needs Debian's slurm-wlm and munge (apt-get install slurm-wlm munge) and root (slurmd starts jobs as their
# user).
#   tests/slurm/grid_on_slurm.sh [--record] [path/to/sesame]   (default target/release/sesame)
#   tests/slurm/grid_on_slurm.sh --covered-hash
# The code this test covers (the scheduling of grids, the run lock, the sbatch file, this script) is hashed;
# --record writes the hash to tests/slurm/passed-on once the test passes, and CI runs the test only when the
# hash of what it checks out differs from that file (the test takes minutes and most changes leave this code
# alone).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
covered_hash() {
  find crates/sesame-cli/src/report crates/sesame-cli/src/cli/report.rs crates/sesame-train/src/run \
    crates/sesame-train/src/job.rs experiments/slurm tests/slurm/grid_on_slurm.sh -type f -print0 \
    | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16
}
if [[ ${1:-} == --covered-hash ]]; then covered_hash; exit 0; fi
record=0
if [[ ${1:-} == --record ]]; then record=1; shift; fi
sesame=$(realpath "${1:-target/release/sesame}")
shared=$(realpath "${SESAME_SHARED:-../shared}")
for tool in munged slurmctld slurmd sbatch squeue scontrol; do
  command -v "$tool" >/dev/null || { echo "$tool not found: apt-get install slurm-wlm munge" >&2; exit 1; }
done
[[ -x $sesame ]] || { echo "no binary at $sesame: cargo build --release -p sesame-cli" >&2; exit 1; }

work=$(mktemp -d /tmp/sesame-slurm.XXXXXX)
chmod 755 "$work"
host=$(hostname -s)
failed=1
stop() {
  [[ -f $work/slurmd.pid ]] && kill "$(cat "$work/slurmd.pid")" 2>/dev/null || true
  [[ -f $work/slurmctld.pid ]] && kill "$(cat "$work/slurmctld.pid")" 2>/dev/null || true
  munged --socket="$work/munge/munge.socket" --stop >/dev/null 2>&1 || true
  pkill -f "$work/grid.toml" 2>/dev/null || true
  grep -h "array task" "$work"/array/task-*.out 2>/dev/null || true
  if (( failed )); then
    echo "--- failed; logs follow ($work is kept)" >&2
    tail -n 30 "$work"/*.log "$work"/array/task-*.out 2>/dev/null >&2 || true
  else
    rm -rf "$work"
  fi
}
trap stop EXIT

echo "== munge ($(date -u +%H:%M:%S))"
mkdir -p "$work/munge" && chmod 700 "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
munged --force --key-file="$work/munge/munge.key" --socket="$work/munge/munge.socket" \
  --pid-file="$work/munge/munged.pid" --log-file="$work/munge.log" --seed-file="$work/munge/seed"

echo "== slurmctld and slurmd ($(date -u +%H:%M:%S))"
mkdir -p "$work/state" "$work/spool"
cat >"$work/slurm.conf" <<CONF
ClusterName=sesame-test
SlurmctldHost=$host
SlurmctldPort=26817
SlurmdPort=26818
AuthType=auth/munge
AuthInfo=socket=$work/munge/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
JobRequeue=1
SchedulerParameters=sched_interval=2
NodeName=$host CPUs=3 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$work/slurm.conf
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 60); do
  sinfo -h -o %T 2>/dev/null | grep -q idle && break
  sleep 1
done
sinfo -h -o %T | grep -q idle || { echo "the node did not come up" >&2; exit 1; }

echo "== the grid ($(date -u +%H:%M:%S))"
cat >"$work/grid.toml" <<GRID
title = "Slurm test grid"
model = "$shared/models/tiny-roberta"
data_dir = "$shared/data/glue"
seeds = [1, 2, 3]
recipe = { epochs = 2, max_seq_length = 64 }

[[experiment]]
id = "select"
title = "σ on dev"
tasks = ["RTE"]
seeds = [1, 2]
sigmas = [0.3, 1.0]
variants = [{ label = "blur", preset = "blur", model = { attention = { blur = { target = "value" } } } }]

[[experiment]]
id = "main"
title = "Main"
tasks = ["RTE"]
baseline = "baseline"
variants = [
  { label = "baseline" },
  { label = "SE", preset = "se" },
  { label = "blur (σ chosen)", choose = { experiment = "select" } },
]
GRID
# 4 selection runs, 6 main runs, and the chosen blur's seed 3 (seeds 1 and 2 are the selection's runs).
runs_expected=11

echo "== one process ($(date -u +%H:%M:%S))"
"$sesame" report --grid "$work/grid.toml" --runs "$work/one" --output "$work/one/results.md" >"$work/one.log" 2>&1
[[ $(grep -c "^\[report\] finished " "$work/one.log") == "$runs_expected" ]] || {
  echo "one process trained $(grep -c '^\[report\] finished ' "$work/one.log") runs, want $runs_expected" >&2
  exit 1
}

echo "== a 3-task job array, one task killed and requeued while it trains ($(date -u +%H:%M:%S))"
mkdir -p "$work/array"
job=$(sbatch --parsable --array=0-2 --cpus-per-task=1 --chdir="$root" --output="$work/array/task-%a.out" \
  --export="ALL,SESAME=$sesame,GRID=$work/grid.toml,RUNS=$work/array" experiments/slurm/grid.sbatch)
job=${job%%;*}
# Wait until task 1 is inside a run: a run directory whose lock is held by task 1's process.
killed=""
for _ in $(seq 600); do
  for lock in "$work"/array/*/*/*/seed*/.lock; do
    [[ -s $lock ]] || continue
    holder=$(tr -dc '0-9' <"$lock")
    [[ -n $holder && -d /proc/$holder ]] || continue
    if tr '\0' '\n' <"/proc/$holder/environ" 2>/dev/null | grep -qx "SLURM_ARRAY_TASK_ID=1"; then
      run_dir=$(dirname "$lock")
      if [[ -f $run_dir/config.json && ! -f $run_dir/report.json ]]; then killed=$run_dir; break 2; fi
    fi
  done
  sleep 0.2
done
[[ -n $killed ]] || { echo "task 1 was never seen inside a run" >&2; exit 1; }
scontrol requeue "${job}_1"; echo "$(date -u +%H:%M:%S) requeued"
echo "requeued task 1 inside $killed"
for _ in $(seq 900); do
  [[ -z $(squeue -h -j "$job" 2>/dev/null) ]] && break
  sleep 1
done
[[ -z $(squeue -h -j "$job") ]] || { echo "the array did not finish" >&2; exit 1; }
restarts=$(grep -c "restart 1" "$work/array/task-1.out" || true)
[[ $restarts == 1 ]] || { echo "task 1 did not run a second time after its requeue" >&2; exit 1; }

echo "== every run finished exactly once, with the one-process results ($(date -u +%H:%M:%S))"
finished=$(grep -h "^\[report\] finished " "$work"/array/task-*.out | awk '{print $3}' | sed "s|$work/array/||" | sort)
[[ $(wc -l <<<"$finished") == "$runs_expected" ]] || { echo "finished lines: $finished" >&2; exit 1; }
[[ -z $(uniq -d <<<"$finished") ]] || { echo "trained twice: $(uniq -d <<<"$finished")" >&2; exit 1; }
grep -q "${killed#"$work"/array/}" <<<"$finished" || { echo "the killed run never finished" >&2; exit 1; }
while read -r run; do
  for file in report.json metrics.jsonl; do
    python3 - "$work/one/$run/$file" "$work/array/$run/$file" <<'PY'
import json, sys
# Wall-clock fields differ between any two runs; everything else must be equal.
def load(path):
    text = open(path).read()
    rows = [json.loads(l) for l in text.splitlines() if l.strip()] if path.endswith("jsonl") else [json.loads(text)]
    for r in rows:
        for k in ("wall_seconds", "examples_per_second", "startup", "run_dir", "seconds"):
            r.pop(k, None)
    return rows
a, b = load(sys.argv[1]), load(sys.argv[2])
if a != b:
    sys.exit(f"{sys.argv[2]} differs from the one-process run:\n{a}\n{b}")
PY
  done
done <<<"$finished"
"$sesame" report --grid "$work/grid.toml" --runs "$work/array" --output "$work/array/results.md" --collect-only \
  >"$work/collect.log" 2>&1
grep -q "chosen on dev in \`select\`" "$work/array/results.md"
diff <(grep "^|" "$work/one/results.md") <(grep "^|" "$work/array/results.md") \
  || { echo "the tables differ from the one-process report" >&2; exit 1; }
echo "slurm grid test passed: $runs_expected runs, task 1 requeued inside ${killed#"$work"/array/}"
failed=0
if (( record )); then
  covered_hash >tests/slurm/passed-on
  echo "recorded $(cat tests/slurm/passed-on) in tests/slurm/passed-on"
fi
