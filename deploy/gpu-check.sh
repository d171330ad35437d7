#!/usr/bin/env bash
# The trainer image's GPU check (issue 6, item 5): one `paper-gpt50m` trial for 60 s of
# training in the CUDA trainer image, hardened as in compose.yaml, with one GPU reserved.
# Prints the GPU's name, tokens/s, MFU, peak memory and val_bpb, and keeps the full
# TrialResult JSON in $OUT_DIR/gpu-check.json.
#
# usage: deploy/gpu-check.sh          (after `make images` on a host with the NVIDIA runtime)
#   GPU_CHECK_IMAGE   image (default bilevel/trainer:cuda)
#   GPU_CHECK_PRESET  preset (default paper-gpt50m)
#   GPU_CHECK_SECONDS training seconds (default 60)
#   GPU_CHECK_DEVICE  cuda|cpu (default cuda; cpu with GPU_CHECK_GPUS= rehearses it on a CPU host)
#   GPU_CHECK_GPUS    docker --gpus value (default device=0; empty: no GPU)
#   OUT_DIR           where the JSON goes (default .)
set -euo pipefail

IMAGE=${GPU_CHECK_IMAGE:-bilevel/trainer:cuda}
PRESET=${GPU_CHECK_PRESET:-paper-gpt50m}
SECONDS_BUDGET=${GPU_CHECK_SECONDS:-60}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
GPUS=${GPU_CHECK_GPUS-device=0}
OUT_DIR=${OUT_DIR:-.}

gpu_args=()
[ -z "$GPUS" ] || gpu_args=(--gpus "$GPUS")
mkdir -p "$OUT_DIR"
docker run --rm "${gpu_args[@]}" --network none --read-only --cap-drop ALL \
  --security-opt no-new-privileges:true --tmpfs /tmp:size=1g,uid=10001,gid=10001 \
  --tmpfs /cache:size=4g,uid=10001,gid=10001 -e XDG_CACHE_HOME=/cache/xdg \
  -e CUDA_CACHE_PATH=/cache/cuda -e TRITON_CACHE_DIR=/cache/triton \
  -e TORCHINDUCTOR_CACHE_DIR=/cache/inductor \
  "$IMAGE" bilevel trial --preset "$PRESET" --budget-seconds "$SECONDS_BUDGET" \
  --device "$DEVICE" --json >"$OUT_DIR/gpu-check.json"

python3 - "$OUT_DIR/gpu-check.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
mfu = r.get("mfu")
print(f"status={r['status']} hardware={r.get('hardware')!r} tokens_per_s={r.get('tokens_per_s')} "
      f"mfu={'%.3f' % mfu if mfu is not None else '-'} peak_mem_mb={r.get('peak_mem_mb')} "
      f"steps={r.get('steps')} val_bpb={r.get('val_bpb')} error={r.get('error') or '-'}")
PY
