#!/usr/bin/env bash
# End-to-end test of sweeps on Slurm: brings up a single-node cluster from Debian's packages
# (munged, slurmctld and slurmd started by hand with a config in a temporary directory; no
# systemd), runs a small sweep through harness/slurm/submit.sh as 4 array tasks, checks that the
# merged CSV holds exactly the items of the same sweep run unsharded, then kills one task in the
# middle of its shard, checks that status reports the gap, resubmits that index and checks that
# the merge is complete. About a minute. Where the packages cannot be installed it prints
# SKIPPED and succeeds.
#   tests/slurm/end_to_end.sh [path/to/attnbench]   (ATTN_SLURM_KEEP=1 keeps its directory)
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
attnbench=$(realpath "${1:-build/release/attnbench}")
python=/usr/bin/python3

skip() {
  echo "==================================================================="
  echo "SKIPPED: Slurm end-to-end test: $*"
  echo "==================================================================="
  exit 0
}

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null ||
  ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  [[ $(id -u) -eq 0 ]] || skip "slurmctld, slurmd, slurm-client and munge are not installed and this is not root"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends slurmctld slurmd slurm-client munge; } >/tmp/attn-slurm-apt.log 2>&1; then
    tail -5 /tmp/attn-slurm-apt.log
    skip "apt-get could not install slurmctld slurmd slurm-client munge (log: /tmp/attn-slurm-apt.log)"
  fi
fi
[[ $(id -u) -eq 0 ]] || skip "starting munged and slurmd needs root"

tmp=$(mktemp -d /tmp/attn-slurm.XXXXXX)
chmod 755 "$tmp"  # munged runs as munge and must reach its directory
export SLURM_CONF=$tmp/slurm.conf  # every shell that talks to this cluster needs it
stop_cluster() {
  local status=$?
  for pidfile in "$tmp/slurmd.pid" "$tmp/slurmctld.pid" "$tmp/munged.pid"; do
    [[ -s $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  sleep 1
  for pidfile in "$tmp/slurmd.pid" "$tmp/slurmctld.pid" "$tmp/munged.pid"; do
    [[ -s $pidfile ]] && kill -9 "$(cat "$pidfile")" 2>/dev/null || true
  done
  if [[ $status -ne 0 ]]; then
    echo "--- slurmctld log (tail)"; tail -20 "$tmp/slurmctld.log" 2>/dev/null || true
    echo "--- slurmd log (tail)"; tail -20 "$tmp/slurmd.log" 2>/dev/null || true
    for f in "$tmp"/parts/logs/*.out; do [[ -f $f ]] && { echo "--- $f"; tail -5 "$f"; }; done
    echo "FAILED: Slurm end-to-end test (files in $tmp)"
  elif [[ -z ${ATTN_SLURM_KEEP:-} ]]; then
    rm -rf "$tmp"
  fi
  exit $status
}
trap stop_cluster EXIT
trap 'exit 130' INT TERM

# munge: its own key and socket, so a munged already running on the machine is not disturbed.
mkdir -p "$tmp/munge" "$tmp/munge-socket" "$tmp/state" "$tmp/spool"
dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1 count=1024 status=none
chown -R munge:munge "$tmp/munge" "$tmp/munge-socket"
chmod 700 "$tmp/munge"
chmod 755 "$tmp/munge-socket"  # every client must reach the socket
chmod 400 "$tmp/munge/munge.key"
runuser -u munge -- munged --key-file="$tmp/munge/munge.key" --socket="$tmp/munge-socket/munge.socket" \
  --pid-file="$tmp/munge/munged.pid" --log-file="$tmp/munge/munged.log" \
  --seed-file="$tmp/munge/munged.seed"
cp "$tmp/munge/munged.pid" "$tmp/munged.pid"

node=$(hostname -s)
# slurmd -C: this machine's CPUs and memory in slurm.conf's words.
node_line=$(slurmd -C | head -1)
cat >"$SLURM_CONF" <<CONF
ClusterName=attnci
SlurmctldHost=${node}
SlurmUser=root
SlurmdUser=root
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
AuthInfo=socket=${tmp}/munge-socket/munge.socket
CredType=cred/munge
StateSaveLocation=${tmp}/state
SlurmdSpoolDir=${tmp}/spool
SlurmctldPidFile=${tmp}/slurmctld.pid
SlurmdPidFile=${tmp}/slurmd.pid
SlurmctldLogFile=${tmp}/slurmctld.log
SlurmdLogFile=${tmp}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# slurmd still logs a few mpi/pmix errors at start (Debian's plugin finds no PMIx library, with
# or without libpmix2); no job here uses MPI, so they are harmless.
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without it every job takes the node's whole memory.
DefMemPerCPU=512
# Must name a program that exists.
MailProg=/bin/true
# sacct without slurmdbd.
JobCompType=jobcomp/filetxt
JobCompLoc=${tmp}/jobcomp.txt
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
SchedulerParameters=sched_min_interval=100000
MinJobAge=600
${node_line/NodeName=* CPUs/NodeName=${node} CPUs} State=UNKNOWN
PartitionName=ci Nodes=${node} Default=YES MaxTime=INFINITE State=UP
CONF

slurmctld
slurmd
for _ in $(seq 50); do
  sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)' && break
  sleep 0.2
done
sinfo -h -N -o '%N %T' | grep -qE 'idle' || { echo "the node did not come up"; sinfo; exit 1; }
echo "slurm is up: $(sinfo -h -N -o '%N %T %c CPUs')"

# The sweep: 3 variants x 3 lengths x 2 inputs = 18 items, seconds in all.
cfg=$tmp/tiny.cfg
cat >"$cfg" <<CONF
variant = flash
variant = sliding_window:left=32,right=0
variant = bigbird:block=32
seq-len = 256,512,1024
input = gaussian,local
heads = 2
head-dim = 32
threads = 1
reps = 1
min-time = 0.01
accuracy-rows = 16
CONF

wait_for_jobs() {  # job ids...; fails after 120 s
  local ids
  ids=$(IFS=,; echo "$*")
  for _ in $(seq 600); do
    [[ -z $(squeue -h -j "$ids" 2>/dev/null) ]] && return 0
    sleep 0.2
  done
  echo "jobs $ids did not finish in 120 s"; squeue; return 1
}
# The identifying columns (variant ... threads) of every row, sorted: what "the same items" means.
keys_of() {
  "$python" - "$@" <<'PY'
import csv, sys
for path in sys.argv[1:]:
    with open(path) as f:
        for row in csv.DictReader(f):
            print("|".join(row[c] for c in ("variant", "params", "batch", "heads", "kv_heads",
                  "seq_len", "query_len", "head_dim", "causal", "shared_qk", "input", "seed",
                  "scale", "threads")), row["status"])
PY
}

"$attnbench" sweep --config "$cfg" --out "$tmp/unsharded.csv" 2>/dev/null
keys_of "$tmp/unsharded.csv" | sort >"$tmp/unsharded.keys"
[[ $(wc -l <"$tmp/unsharded.keys") -eq 18 ]] || { echo "unsharded sweep: expected 18 rows"; exit 1; }

echo "--- 4 array tasks and the merge job"
submit=$(ATTNBENCH="$attnbench" harness/slurm/submit.sh "$cfg" 4 "$tmp/parts")
echo "$submit"
array=$(sed -n 's/^array job \([0-9]*\):.*/\1/p' <<<"$submit")
merge=$(sed -n 's/^merge job \([0-9]*\):.*/\1/p' <<<"$submit")
wait_for_jobs "$array" "$merge"
[[ -f $tmp/parts/all.csv ]] || { echo "no merged CSV"; cat "$tmp"/parts/logs/merge-*.out; exit 1; }
keys_of "$tmp/parts/all.csv" | sort >"$tmp/merged.keys"
diff "$tmp/unsharded.keys" "$tmp/merged.keys" || { echo "merged items differ from the unsharded sweep"; exit 1; }
# Every row names its shard and its job.
"$python" - "$tmp/parts/all.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
shards = {r["shard"] for r in rows}
assert shards == {"0/4", "1/4", "2/4", "3/4"}, shards
assert all(r["job_id"] and r["host"] for r in rows), "rows without job_id or host"
PY
grep -q complete "$tmp"/parts/logs/merge-"$merge".out || { cat "$tmp"/parts/logs/merge-"$merge".out; exit 1; }
echo "ok: the merged CSV holds the 18 items of the unsharded sweep, each once"
# sacct reads the job completion log (no slurmdbd here): every array task COMPLETED.
# (Slurm 22.05's reader of that log does not know its array fields, hence no -j and 2>/dev/null.)
completed=$(sacct --completion -n -o JobName%30,State 2>/dev/null |
  grep -cE 'attnbench-sweep +COMPLETED' || true)
echo "sacct: ${completed} of 4 array tasks COMPLETED"
[[ $completed -eq 4 ]] || { sacct --completion -o JobID,JobName%30,State || true; exit 1; }

echo "--- kill shard 1 in the middle, resubmit it"
rm "$tmp/parts/shard-1-of-4.csv" "$tmp/parts/all.csv"
expected=$("$attnbench" sweep --config "$cfg" --num-shards 4 --plan | sed -n 's#^shard 1/4: \([0-9]*\) item.*#\1#p')
[[ $expected -ge 2 ]] || { echo "shard 1 has $expected items; the kill test needs 2"; exit 1; }
# Slower repetitions (not part of an item's identity) leave time to kill it between rows.
slow=$(ATTNBENCH="$attnbench" sbatch --parsable --array=1 --output="$tmp/parts/logs/slow-%A_%a.out" \
  harness/slurm/sweep.sbatch "$cfg" 4 "$tmp/parts" --min-time 1)
slow=${slow%%;*}
for _ in $(seq 300); do
  [[ -f $tmp/parts/shard-1-of-4.csv && $(wc -l <"$tmp/parts/shard-1-of-4.csv") -ge 2 ]] && break
  sleep 0.1
done
scancel --signal=KILL "${slow}"
wait_for_jobs "$slow"
done_rows=$(( $(wc -l <"$tmp/parts/shard-1-of-4.csv") - 1 ))
echo "shard 1 was killed after $done_rows of $expected rows"
[[ $done_rows -ge 1 && $done_rows -lt $expected ]] || { echo "the kill did not land mid-shard"; exit 1; }
if "$attnbench" status --expect "$cfg" "$tmp"/parts/shard-*-of-4.csv >"$tmp/status.txt"; then
  echo "status should report the killed shard's missing items"; cat "$tmp/status.txt"; exit 1
fi
grep -q "submit.sh .* 1$" "$tmp/status.txt" || { cat "$tmp/status.txt"; exit 1; }
submit=$(ATTNBENCH="$attnbench" harness/slurm/submit.sh "$cfg" 4 "$tmp/parts" 1)
array=$(sed -n 's/^array job \([0-9]*\):.*/\1/p' <<<"$submit")
merge=$(sed -n 's/^merge job \([0-9]*\):.*/\1/p' <<<"$submit")
wait_for_jobs "$array" "$merge"
keys_of "$tmp/parts/all.csv" | sort >"$tmp/merged.keys"
diff "$tmp/unsharded.keys" "$tmp/merged.keys" || { echo "after the resubmission the merge differs"; exit 1; }
[[ $(( $(wc -l <"$tmp/parts/shard-1-of-4.csv") - 1 )) -eq $expected ]] ||
  { echo "shard 1 holds other than its $expected items once each"; exit 1; }
"$attnbench" status --expect "$cfg" "$tmp"/parts/shard-*-of-4.csv >/dev/null
echo "ok: the resubmitted shard resumed after its $done_rows rows and the merge is complete"
echo "PASSED: Slurm end-to-end test"
