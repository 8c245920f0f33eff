#!/usr/bin/env bash
# The shipped `tiny` model (src/dinar/weights/tiny): synthetic data, the three training stages, then
# the model folder with its SHA-256 manifest. Every step is a `dinar` command; seeds are fixed.
#
#   bash recipes/tiny.sh [WORK_DIR]         # default runs/tiny; CPU is fine (2 cores: about 90 min)
#   FROM=textures bash recipes/tiny.sh DIR  # start at a later step (synth|stage1|textures|vq|diffusion|pin)
#
# Stage 1 trains for a bounded time (STAGE1_MINUTES, default 58) and records the iteration it reached
# in WORK_DIR/stage1/config.json ("step"); for a run that stops at the same iteration on any machine,
# pass --steps N instead of --max-minutes. Logs: WORK_DIR/<step>.log; seconds per step: WORK_DIR/times.
set -euo pipefail
WORK=${1:-runs/tiny}
DEST=${DEST:-src/dinar/weights/tiny}
STAGE1_MINUTES=${STAGE1_MINUTES:-58}
FROM=${FROM:-synth}
STEPS=(synth stage1 textures vq diffusion pin)
mkdir -p "$WORK"
source "$(dirname "$0")/common.sh"

# 1. Synthetic people: 80 adults x 2 poses x 8 views at 128² (train 62 / val 12 / test 6 people).
run synth dinar data synth --people 80 --poses 2 --views 8 --size 128 --seed 0 --workers 2 -o "$WORK/synth"
# 2. Stage 1: encoder, generator and neural renderer, end to end on frame pairs (batch 4, Adam 2e-3).
run stage1 dinar train avatar --data "$WORK/synth" --preset tiny --out "$WORK/stage1" --seed 0 --num-workers 0 \
    --max-minutes "$STAGE1_MINUTES"
# 3. Neural textures of every view from the trained stage 1, and their eq.-5 merges (stages 2-3's data).
run textures dinar data textures --data "$WORK/synth" --stage1 "$WORK/stage1" -o "$WORK/textures"
# 4. Stage 2: the texture VQGAN (1000 steps, batch 16).
run vq dinar train vq --textures "$WORK/textures" --preset tiny --out "$WORK/vq" --seed 0 --workers 0
# 5. Stage 3: latent-diffusion inpainting, conditioned on single views from every direction (3000 steps, batch 32).
run diffusion dinar train diffusion --textures "$WORK/textures" --vq "$WORK/vq" --preset tiny --out "$WORK/diffusion" \
    --steps 3000 --seed 0 --workers 0
# 6. The model folder: exports only (no optimizer state), pinned by SHA-256 with the training times.
pin_model "\"preset\": \"tiny\", \"recipe\": \"recipes/tiny.sh\""
