#!/usr/bin/env bash
# The checks that need a CUDA GPU, as one prepared call (about 6 minutes on one H200):
#   - text generation speed against transformers (issue 3's >= 1.5x target), fp32 and bf16;
#   - vision and audio forward speed on the GPU;
#   - a recipe with bf16 autocast on CUDA, and one under torchrun with NCCL (DDP and FSDP2).
# One log per step (seven) lands in $OUT (the device tool's folder, which returns at most
# eight files) or ./gpu-logs; run directories go to a temporary folder.
#
#   bash benchmarks/gpu_check.sh            # on a machine with torch, timm, transformers and a GPU
#   DEVICE=cpu ROUNDS=1 bash benchmarks/gpu_check.sh   # a dry run of the script itself
set -uo pipefail
out=${OUT:-gpu-logs}
device=${DEVICE:-cuda}
rounds=${ROUNDS:-6}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
runs=$(mktemp -d)
python3 -m pip install -q --no-deps --no-build-isolation -e . >"$runs/install.log" 2>&1 || { cat "$runs/install.log"; exit 1; }
status=0

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log to $out/NAME.log, keep going on failure
    local name=$1 limit=$2
    shift 2
    echo "== $name: $*"
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    local rc=$?
    tail -n 12 "$out/$name.log"
    [ $rc -eq 0 ] || { echo "!! $name exited with $rc"; status=1; }
}

[ "$device" = cpu ] || nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, transformers, timm; print('torch', torch.__version__, 'transformers', transformers.__version__, 'timm', timm.__version__)"

step text_fp32 240 python3 benchmarks/text.py --device "$device" --compile zoo --rounds "$rounds"
step text_bf16 150 python3 benchmarks/text.py --device "$device" --dtype bfloat16 --only gpt2 t5 --compile zoo --rounds "$rounds"
step vision_bf16 60 python3 benchmarks/vision.py --device "$device" --dtype bfloat16 --rounds "$rounds"
step audio_bf16 60 python3 benchmarks/audio.py --device "$device" --dtype bfloat16 --rounds "$rounds"

recipe=(train.steps=60 train.eval_every=60 train.checkpoint_every=60 train.progress=false train.device="$device")
step recipe_bf16 90 python3 -m recipes.image_classification "${recipe[@]}" output_dir="$runs/bf16" train.precision=auto
nproc=1
[ "$device" = cpu ] || nproc=$(python3 -c "import torch; print(min(torch.cuda.device_count(), 2))")
for wrap in ddp fsdp; do
    step "torchrun_$wrap" 120 torchrun --standalone --nproc_per_node "$nproc" -m recipes.causal_lm "${recipe[@]}" \
        train.distributed="$wrap" model.spec.depth=2 output_dir="$runs/$wrap"
done
rm -rf "$runs"
exit $status
