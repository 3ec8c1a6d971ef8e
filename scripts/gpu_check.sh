#!/usr/bin/env bash
# One-shot GPU check: JAX backend, no TensorFlow, no network.
#
# Run from the repository root on a machine with one GPU, Python 3.12 and a
# CUDA JAX already installed. Keras and its pure-Python dependencies come
# from wheels/ (git-ignored; fill it on a machine with network access):
#
#   pip download keras==3.15.1 matplotlib pillow pytest --python-version 3.12 \
#     --only-binary=:all: --platform manylinux2014_x86_64 \
#     --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
#     -d wheels && rm -f wheels/numpy-*.whl
#
# Everything is written to $OUT/gpu_report.txt (JSON lines of the benchmark
# rows also to $OUT/bench.jsonl). Steps run by priority, each under its own
# timeout, all within BUDGET seconds (default 360): rows run by priority and
# whatever does not fit is reported as SKIPPED. SMOKE=1 runs a tiny CPU
# version of the same steps (local check); SKIP_INSTALL=1 uses $PYTHON as it
# is (it must already have keras + jax).
#
# With the project's device tool (one call, carrying the wheels):
#   run(command="OUT=$OUT bash scripts/gpu_check.sh", carry=["wheels"],
#       timeout_s=480)
# then record $OUT/gpu_report.txt in benchmarks/results/ with date and device.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_check_out}
mkdir -p "$OUT"
REPORT="$OUT/gpu_report.txt"
JSONL="$OUT/bench.jsonl"
: > "$REPORT"
: > "$JSONL"
PY=${PYTHON:-python3}
WHEELS=${WHEELS:-wheels}
export KERAS_BACKEND=jax
export TF_CPP_MIN_LOG_LEVEL=3
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # honest peak_device_mb
START=$(date +%s)
DEADLINE=$(( START + ${BUDGET:-360} ))  # whole script, seconds

say() { echo "== $* [t=$(( $(date +%s) - START ))s]" | tee -a "$REPORT"; }
step() {  # step SECONDS NAME COMMAND...: run with a timeout, log all output
  local limit=$1 name=$2
  shift 2
  local left=$(( DEADLINE - $(date +%s) ))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 15 ]; then say "SKIPPED (time budget): $name"; return; fi
  say "$name (timeout ${limit}s)"
  timeout "$limit" "$@" > "$OUT/step.log" 2>&1
  local rc=$?
  grep -v "^I0000\|^WARNING: All log\|oneDNN" "$OUT/step.log" | tail -n 60 \
    >> "$REPORT"
  grep '^{' "$OUT/step.log" >> "$JSONL"
  echo "-- $name: rc=$rc" | tee -a "$REPORT"
}

say "setup: $(date -u +%FT%TZ) host $(hostname)"
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv \
  2>&1 || true) >> "$REPORT"
"$PY" -c "import jax; print('jax', jax.__version__, jax.devices())" \
  >> "$REPORT" 2>&1 || { say "FATAL: $PY cannot import jax"; exit 1; }

# Keras into a venv that sees the system site-packages (the CUDA jax); pip
# only installs what is missing. Fallback: a --target folder on PYTHONPATH
# with the wheels whose module is not importable yet.
VENV="$OUT/venv"
if [ "${SKIP_INSTALL:-0}" = 1 ]; then
  say "SKIP_INSTALL=1: using $PY as it is"
elif "$PY" -m venv --system-site-packages "$VENV" >> "$REPORT" 2>&1 \
    && "$VENV/bin/python" -m pip install -q --no-index \
      --find-links "$WHEELS" keras==3.15.1 matplotlib pillow pytest \
      >> "$REPORT" 2>&1; then
  PY="$VENV/bin/python"
else
  say "venv failed; installing into a --target folder"
  SITE="$OUT/site"
  for whl in "$WHEELS"/*.whl; do
    mod=$(basename "$whl" | cut -d- -f1 | tr 'A-Z' 'a-z')
    case $mod in absl_py) mod=absl ;; python_dateutil) mod=dateutil ;;
      pillow) mod=PIL ;; markdown_it_py) mod=markdown_it ;;
      typing_extensions|tzdata|pyparsing|pygments) ;; esac
    "$PY" -c "import $mod" 2>/dev/null && continue
    "$PY" -m pip install -q --no-deps --no-index --target "$SITE" "$whl" \
      >> "$REPORT" 2>&1
  done
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$PY" - >> "$REPORT" 2>&1 <<'EOF' || { say "FATAL: import failed"; exit 1; }
import sys
sys.modules["tensorflow"] = None  # prove the core needs no TensorFlow
import keras, jax, keras_snp
print("import keras_snp OK: keras", keras.__version__, "backend",
      keras.backend.backend(), "jax", jax.__version__, jax.devices())
EOF

B="$PY scripts/bench_train.py --precision mixed_bfloat16 --warmup 10 --steps 50"
S="" S224=""
if [ "${SMOKE:-0}" = 1 ]; then  # CPU smoke: tiny shapes, few steps
  B="$PY scripts/bench_train.py --precision mixed_bfloat16 --warmup 2 --steps 2"
  S="--variant cct_2_3x2 --batch-size 16 --num-classes 10"
  S224="--variant cct_2_3x2 --image-size 64 --batch-size 8"
fi
# Priority order: the two target rows with their same-run baselines first;
# the rest is dropped (SKIPPED in the report) when the time budget runs out.
step 150 "CCT-7/3x1 32px b128 bf16, vs plain Keras CCT" \
  $B --variant cct_7_3x1 --image-size 32 --batch-size 128 --baseline plain $S
step 150 "CCT-7/7x2 224px b96 bf16, vs plain Keras CCT" \
  $B --variant cct_7_7x2 --image-size 224 --batch-size 96 \
  --num-classes 102 --baseline plain $S224
step 80 "CCT-7/3x1 32px b256 bf16" \
  $B --variant cct_7_3x1 --image-size 32 --batch-size 256 $S
step 80 "CCT-7/3x1 32px b512 bf16" \
  $B --variant cct_7_3x1 --image-size 32 --batch-size 512 $S
step 80 "CCT-7/3x1 32px b128 float32 baseline" \
  ${B/mixed_bfloat16/float32} --variant cct_7_3x1 --image-size 32 \
  --batch-size 128 $S
step 100 "tests without TensorFlow" \
  "$PY" -m pytest -q -p no:cacheprovider tests/test_no_tensorflow.py
step 120 "CCT-7/3x1 32px b128 bf16, softmax in bf16 vs float32 (default)" \
  $B --variant cct_7_3x1 --image-size 32 --batch-size 128 \
  --softmax-dtype compute --baseline default $S
step 120 "CCT-7/3x1 32px b128 bf16, attention dropout 0: fused vs explicit" \
  $B --variant cct_7_3x1 --image-size 32 --batch-size 128 \
  --attention-dropout 0 --baseline explicit $S
step 60 "input pipeline alone (numpy, official recipe vs none), 32 px" \
  "$PY" scripts/bench_pipeline.py --sizes 32 --batches 10 \
  --backend-format numpy
step 120 "train.py --dataset synthetic end to end (JAX)" \
  "$PY" scripts/train.py --dataset synthetic --variant cct_2_3x2 \
  --image-size 32 --num-classes 10 --examples-per-class 64 --epochs 2 \
  --snp-epochs 1 --null-samples 5 --fine-tune-epochs 1 \
  --output-dir "$OUT/runs" --run-name synthetic --quiet

say "summary (img/s)"
"$PY" - "$JSONL" >> "$REPORT" 2>&1 <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "img_per_s" in r:
        print(f"{r['model']:8s} {r['variant']} {r['image_size']}px "
              f"b{r['batch_size']} {r['precision']} att={r['attention']} "
              f"drop={r['attention_dropout']} "
              f"softmax={r['softmax_dtype']}: {r['img_per_s']} img/s, "
              f"{r['step_ms']} ms, MFU {r['mfu']}, host "
              f"{r['peak_host_mb']} MB, device {r['peak_device_mb']} MB")
    else:
        print(r)
EOF
say "done"
cat "$REPORT"
