#!/usr/bin/env bash
# The CIFAR-100 CCT-4/3x2 reproduce run with K = 100 on one GPU (JAX backend,
# no TensorFlow), then the per-layer sensitivity and sweep points, then the
# report; the run folder (less the SNP arrays of the pruned and validation
# models, and whatever else pushes it past 60 MB) packed into $OUT parts.
#
# How it ran on 2026-11-28 (the project's device tool, one H200, 64 MiB a
# call each way): cifar100.npz was split into three parts of 56 MiB
# (`split -b 56M -d`); call 1 carried the keras, namex and optree wheels for
# Python 3.12 and part c00 (installed to /tmp/site, copied to /tmp/gd with
# label_names.json), call 2 carried c01 into /tmp/gd, call 3 carried c02,
# its sha256 and this script, and ran `BUDGET=565 OUT=$OUT bash gpu_k100.sh`
# from the repository root. The sweep points it had no time for ran in a
# fourth call on the same warm machine (see the run's NOTES.md).
#
# Environment: GD (folder of c00, c01, label_names.json), DATA (the joined
# .npz; joined from GD and c02 beside this script when absent), RUNS,
# PYTHON, BUDGET (seconds for everything), EXTRA (more reproduce flags),
# POINTS (the sweep points, space-separated; --sensitivity for the table).
set -u
START=$(date +%s)
DEADLINE=$(( START + ${BUDGET:-560} ))
left() { echo $(( DEADLINE - $(date +%s) )); }
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/k100_out}
mkdir -p "$OUT"
LOG="$OUT/k100.log"
say() { echo "== $* [t=$(( $(date +%s) - START ))s left=$(left)s]" | tee -a "$LOG"; }
PY=${PYTHON:-python3}
GD=${GD:-/tmp/gd}
DATA=${DATA:-/tmp/cifar100.npz}
if [ ! -f "$DATA" ]; then
  cat "$GD/c00" "$GD/c01" "$HERE/c02" > "$DATA"
fi
echo "$(cut -d' ' -f1 "$HERE/sha256")  $DATA" | sha256sum -c >> "$LOG" 2>&1 \
  || { say "FATAL: data checksum"; exit 1; }
export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export KERAS_BACKEND=jax TF_CPP_MIN_LOG_LEVEL=3 PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; \
  "$PY" -c "import jax, keras, numpy; print('jax', jax.__version__, \
  jax.devices(), 'keras', keras.__version__, 'numpy', numpy.__version__)") \
  >> "$LOG" 2>&1
RUNS=${RUNS:-/tmp/runs}
NAME=cifar100-cct_4_3x2-k100
RUN="$RUNS/$NAME"
EXTRA=${EXTRA:-}  # SMOKE: --limit 10 --variant cct_2_3x2 --epochs 1 ...
say "reproduce"
timeout $(( $(left) - 150 )) "$PY" scripts/reproduce.py --dataset "$DATA" \
  --label-names "$GD/label_names.json#fine_label_names" --epochs 10 \
  --output-dir "$RUNS" --run-name "$NAME" --resume --quiet $EXTRA \
  >> "$LOG" 2>&1
say "reproduce rc=$?"
SWEEP="$PY docs/results/cifar100-cct_4_3x2-andc/sweep.py $RUN"
# in the order they run while time lasts; the 2026-11-28 run got through
# the first two here (ff:0.3, attn_proj:0.3, all:0.1 ran in a second call)
DEFAULT_POINTS="--sensitivity readout:0.3 ff:0.3 attn_proj:0.3 all:0.1 \
  ff:0.1 attn_proj:0.1 readout:0.1 all:0.5 ff:0.5 attn_proj:0.5 readout:0.5"
for POINT in ${POINTS:-$DEFAULT_POINTS}; do
  [ -d "$RUN/pruned/snp_validation" ] || break
  [ "$(left)" -lt 150 ] && { say "SKIPPED (time): $POINT"; continue; }
  case $POINT in --*) ARGS="--points $POINT" ;;
    *) ARGS="--points $POINT --methods andc random magnitude" ;; esac
  say "sweep $ARGS"
  timeout $(( $(left) - 110 )) $SWEEP $ARGS >> "$LOG" 2>&1
  say "sweep rc=$?"
done
if [ "$(left)" -gt 80 ] && [ -f "$RUN/pruned/pruning.json" ]; then
  say "report"
  timeout $(( $(left) - 60 )) "$PY" - "$RUN" >> "$LOG" 2>&1 <<'EOF'
import sys
from keras_snp.reproduce.report import write_report
write_report(sys.argv[1], command="see gpu_k100.sh")
EOF
  say "report rc=$?"
fi
say "package"
pack() {
  tar -C "$RUNS" -czf /tmp/run.tgz \
    --exclude="$NAME/pruned/snp/snp.npz" \
    --exclude="$NAME/pruned/snp_validation/snp.npz" "$@" "$NAME" >> "$LOG" 2>&1
}
pack
# at most 64 MiB come back: drop the checkpoints, then the SNP arrays
[ "$(stat -c %s /tmp/run.tgz)" -gt 60000000 ] && [ -f "$RUN/model.keras" ] \
  && pack --exclude="$NAME/checkpoints"
[ "$(stat -c %s /tmp/run.tgz)" -gt 60000000 ] \
  && pack --exclude="$NAME/checkpoints" --exclude="$NAME/snp/snp.npz"
ls -la /tmp/run.tgz >> "$LOG"
split -b 15M -d /tmp/run.tgz "$OUT/run.tgz.part"
du -a "$RUN" | sort -n | tail -25 >> "$LOG"
say "done"
