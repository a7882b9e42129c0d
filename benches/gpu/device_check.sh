#!/usr/bin/env bash
# One call on a GPU machine: every measurement of docs/performance.md's GPU section, into OUT/device_check.json.
#
#   benches/gpu/stage.sh                               # here: build with --features cuda, stage the inputs
#   benches/gpu/device_check.sh [STAGE] [OUT]          # there: STAGE = gpu-stage, OUT = $OUT or device-check
#   python3 benches/gpu/to_markdown.py OUT/device_check.json   # the GPU section of docs/performance.md
#
# In order, each step with a time limit so that the whole stays within about 8 minutes on an H100/H200:
#   1. the card, its driver, the tools' versions;
#   2. the README's main job (RTE, BERT's recipe, baseline then SesameBERT) in a first process on a fresh kernel
#      cache, then again in a second process, with wall times, report.json's start-up figures and the peak device
#      memory (nvidia-smi);
#   3. the same job in `transformers` (tests/peers/glue_peer.py, the baseline, one seed): its wall time;
#   4. `sesame encode` against `transformers` in float64 on 64 RTE dev pairs, in every precision the build has;
#   5. training and inference steps side by side with PyTorch (benches/peers/side_by_side.py): MiniLM and
#      BERT-base at 32 × 128, sesame in f32/tf32/bf16, PyTorch eager fp32/tf32/bf16-autocast and torch.compile.
# A step that fails or runs out of time is recorded as such; the others still run.
#
# PYTHON: a python with torch and transformers (default python3). QUICK=1: small workloads, for trying the
# script on a software Vulkan driver (a wgpu stage, Mesa's lavapipe) before a GPU is at hand.
set -uo pipefail
cd "$(dirname "$0")/../.."
stage="${1:-gpu-stage}"
out="${2:-${OUT:-device-check}}"
python="${PYTHON:-python3}"
quick="${QUICK:-0}"
script_start=$((${EPOCHREALTIME/./} / 1000000))
mkdir -p "$out/logs"
: >"$out/steps.jsonl"
work="$(mktemp -d)"
export SESAME_CACHE_DIR="$out/cache"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
rm -rf "$SESAME_CACHE_DIR"

unxz_to() { # unxz_to FILE.xz TARGET (xz, else Python's lzma)
  if command -v xz >/dev/null; then xz -dc "$1" >"$2"; else "$python" -c \
    "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$1" "$2"; fi
}
unxz_to "$stage/sesame.xz" "$work/sesame" && chmod +x "$work/sesame"
mkdir -p "$work/model"
cp "$stage/model/"* "$work/model/"
unxz_to "$work/model/model.safetensors.xz" "$work/model/model.safetensors" && rm "$work/model/model.safetensors.xz"
sesame="$work/sesame"
glue="$stage/glue"

# Peak nvidia-smi memory.used (MiB) while a step runs, into $out/logs/NAME.peak_mib.
sample_memory() {
  local file="$1" peak=0 used
  command -v nvidia-smi >/dev/null || return 0
  while :; do
    used="$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -n1 | tr -d ' ')"
    [[ "$used" =~ ^[0-9]+$ ]] && ((used > peak)) && peak=$used && echo "$peak" >"$file"
    sleep 0.1
  done
}

# step NAME LIMIT_S COMMAND…: runs it with stdout/stderr in logs/NAME.{out,err} and appends its record. No step
# runs past the call's budget (BUDGET_S, default 450 s after the start): one that would is cut short, one that
# would get under 10 s is skipped.
step() {
  local name="$1" limit="$2"
  shift 2
  local start end rc sampler left
  left=$((script_start + ${BUDGET_S:-450} - ${EPOCHREALTIME/./} / 1000000))
  ((left < limit)) && limit=$left
  if ((limit < 10)); then
    printf '{"step": "%s", "skipped": true}\n' "$name" >>"$out/steps.jsonl"
    echo "$name: skipped (budget spent)" >&2
    return
  fi
  start=${EPOCHREALTIME/./}
  sample_memory "$out/logs/$name.peak_mib" &
  sampler=$!
  timeout "$limit" "$@" >"$out/logs/$name.out" 2>"$out/logs/$name.err"
  rc=$?
  kill "$sampler" 2>/dev/null
  wait "$sampler" 2>/dev/null
  end=${EPOCHREALTIME/./}
  local seconds
  seconds="$(printf '%d.%06d' $(((end - start) / 1000000)) $(((end - start) % 1000000)))"
  printf '{"step": "%s", "rc": %d, "timed_out": %s, "seconds": %s, "peak_device_mib": %s}\n' "$name" "$rc" \
    "$([ "$rc" -eq 124 ] && echo true || echo false)" "$seconds" \
    "$(cat "$out/logs/$name.peak_mib" 2>/dev/null || echo null)" >>"$out/steps.jsonl"
  echo "$name: rc $rc, $seconds s" >&2
}

if [ "$quick" = 1 ]; then
  # A slice of RTE: 32 training and 16 dev pairs.
  mkdir -p "$work/glue/RTE"
  head -n 33 "$glue/RTE/train.tsv" >"$work/glue/RTE/train.tsv"
  head -n 17 "$glue/RTE/dev.tsv" >"$work/glue/RTE/dev.tsv"
  glue="$work/glue"
  job=(--max-train-samples 32 --epochs 1 --batch-size 8 --max-seq-length 64 --length-buckets 2)
  peer_job=(--max-train-samples 32 --epochs 1 --batch-size 8 --max-seq-length 64)
  rows="0:4"
  bench=(--models minilm --variants baseline --batch 4 --seq-len 32 --warmup 1 --steps 1 --repeats 1
    --peer-modes fp32)
  inference_modes=()
  limits=(600 300 300 300 600)
  export BUDGET_S="${BUDGET_S:-7200}"
else
  job=()
  peer_job=()
  rows="100:164"
  bench=(--models minilm,bert-base --variants baseline --warmup 2 --steps 10 --repeats 3
    --peer-modes fp32,tf32,bf16-sdpa,compile)
  # Inference without torch.compile: its compilation alone would take most of the step's time.
  inference_modes=(--peer-modes fp32,tf32,bf16-sdpa)
  limits=(120 60 45 45 120)
fi

# 1. The machine.
step machine 30 bash -c "nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true; \
  '$sesame' --version; '$python' -c 'import torch, transformers; print(torch.__version__, transformers.__version__)'"

# 2. The main job, twice: the first process on a fresh kernel cache, then a second one.
for process in first second; do
  for variant in baseline sesamebert; do
    step "main-$process-$variant" "${limits[0]}" "$sesame" finetune --task RTE --model "$work/model" \
      --data-dir "$glue" --output-dir "$out/runs/$process/$variant" --variant "$variant" \
      --overwrite-output-dir "${job[@]}"
  done
done

# 3. The same job in transformers (the baseline; one seed).
step peer-rte "${limits[1]}" "$python" tests/peers/glue_peer.py --model "$work/model" --data-dir "$glue" \
  --task RTE --seeds 1 --out "$out/peer_rte.jsonl" "${peer_job[@]}"

# 4. Encode parity in every precision the build computes in.
for precision in f32 tf32 bf16 f16; do
  step "encode-$precision" "${limits[2]}" "$python" tests/peers/family_encode.py --sesame "$sesame" \
    --glue "$glue" --rows "$rows" --precision "$precision" --limit 1 --json "$out/encode_$precision.json" \
    "$work/model"
done

# 5. Training and inference steps side by side with PyTorch.
step bench-train "${limits[4]}" "$python" benches/peers/side_by_side.py --sesame "$sesame" --python "$python" \
  --mode train --sesame-precisions "f32,tf32,bf16,f16" --rounds 1 --out "$out/bench_train.jsonl" "${bench[@]}"
step bench-inference "${limits[4]}" "$python" benches/peers/side_by_side.py --sesame "$sesame" \
  --python "$python" --mode inference --sesame-precisions "f32,tf32,bf16,f16" --rounds 1 \
  --out "$out/bench_inference.jsonl" "${bench[@]}" "${inference_modes[@]}"

"$python" benches/gpu/collect.py "$stage" "$out" >"$out/device_check.json"
echo "wrote $out/device_check.json" >&2
rm -rf "$work"
