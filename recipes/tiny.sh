#!/usr/bin/env bash
# The shipped `tiny` model (src/dinar/weights/tiny): synthetic data, the three training stages, then
# the model folder with its SHA-256 manifest. Every step is a `dinar` command; seeds are fixed.
#
#   bash recipes/tiny.sh [WORK_DIR]        # default runs/tiny; CPU is fine (2 cores: ~75 min)
#
# Stage 1 trains for a bounded time (--max-minutes) and records the iterations it reached in
# WORK_DIR/stage1/config.json ("step"); pass --steps N instead for a run that stops at the same
# iteration on any machine. Training times of the shipped weights are in its manifest.json.
set -euo pipefail
WORK=${1:-runs/tiny}
DEST=${DEST:-src/dinar/weights/tiny}
STAGE1_MINUTES=${STAGE1_MINUTES:-30}
mkdir -p "$WORK"
t() { local s=$SECONDS; "$@"; echo "$(( SECONDS - s ))"; }

# 1. Synthetic people: 80 adults x 2 poses x 8 views at 128² (train 62 / val 12 / test 6 people).
dinar data synth --people 80 --poses 2 --views 8 --size 128 --seed 0 --workers 2 -o "$WORK/synth"

# 2. Stage 1: encoder, generator and neural renderer, end to end on frame pairs.
s1=$(t dinar train avatar --data "$WORK/synth" --preset tiny --out "$WORK/stage1" --seed 0 --num-workers 0 \
       --max-minutes "$STAGE1_MINUTES" | tail -1)

# 3. Neural textures of every view from the trained stage 1, and their eq.-5 merges.
dinar data textures --data "$WORK/synth" --stage1 "$WORK/stage1" -o "$WORK/textures"

# 4. Stage 2: the texture VQGAN.
s2=$(t dinar train vq --textures "$WORK/textures" --preset tiny --out "$WORK/vq" --seed 0 --workers 0 | tail -1)

# 5. Stage 3: latent-diffusion inpainting (conditioned on single views of every direction).
s3=$(t dinar train diffusion --textures "$WORK/textures" --vq "$WORK/vq" --preset tiny --out "$WORK/diffusion" \
       --seed 0 --workers 0 | tail -1)

# 6. The model folder: exports only (no optimizer state), pinned by SHA-256.
rm -rf "$DEST" && mkdir -p "$DEST/stage1" "$DEST/vq" "$DEST/diffusion"
cp "$WORK/stage1/model.safetensors" "$WORK/stage1/config.json" "$WORK/stage1/discriminator.safetensors" "$DEST/stage1/"
cp "$WORK/vq/model.safetensors" "$DEST/vq/"
cp "$WORK/diffusion/model.safetensors" "$DEST/diffusion/"
python -m dinar.weights pin "$DEST" --info "{\"preset\": \"tiny\", \"recipe\": \"recipes/tiny.sh\", \"train_seconds\": {\"stage1\": $s1, \"vq\": $s2, \"diffusion\": $s3}}"
