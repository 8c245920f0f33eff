#!/usr/bin/env bash
# The shipped `hd` model (src/dinar/weights/hd, the default): 512² renders from 256² T_rgb, trained on
# this CPU. Stage 1 starts from the shipped `tiny` model (recipes/tiny.sh, about 90 min on 2 cores),
# whose networks have the same shapes, and learns on 128² patches of 512² frames (dinar.nn.config);
# the VQ and the back's inpainter work at 64² and eq. 6 keeps the photo's texels at 256². Every step is a `dinar`
# command; seeds are fixed; a killed run resumes where it stopped (FROM=<step>, stage 1 with --resume).
#
#   bash recipes/hd.sh [WORK_DIR]           # default runs/hd; 2 CPU cores: about 2.5 h (+ tiny's 90 min)
#   FROM=textures bash recipes/hd.sh DIR    # start at a later step (synth|stage1|textures|vq|diffusion|pin)
#
# Stage 1 trains for a bounded time (STAGE1_MINUTES, default 60, counted over resumed sessions) and
# records the iteration it reached in WORK_DIR/stage1/config.json ("step"). Logs: WORK_DIR/<step>.log;
# seconds per step: WORK_DIR/times. On a GPU, DEVICE=cuda runs stages 1-3 there.
set -euo pipefail
WORK=${1:-runs/hd}
DEST=${DEST:-src/dinar/weights/hd}
INIT=${INIT:-src/dinar/weights/tiny}
STAGE1_MINUTES=${STAGE1_MINUTES:-60}
DEVICE=${DEVICE:-auto}
FROM=${FROM:-synth}
mkdir -p "$WORK"
source "$(dirname "$0")/common.sh"
resume=()
[[ -f "$WORK/stage1/checkpoints/last.safetensors" ]] && resume=(--resume)

# 1. Synthetic people at 512²: 80 adults x 2 poses x 8 views (train 62 / val 12 / test 6 people).
run synth dinar data synth --people 80 --poses 2 --views 8 --size 512 --seed 0 --workers 2 -o "$WORK/synth" --overwrite
# 2. Stage 1 on 128² patches of the 512² frames (a quarter on the face), from the tiny model's networks.
run stage1 dinar train avatar --data "$WORK/synth" --preset hd --init-from "$INIT" --out "$WORK/stage1" --seed 0 \
    --num-workers 0 --device "$DEVICE" --max-minutes "$STAGE1_MINUTES" "${resume[@]}"
# 3. Neural textures of every view (made at 256², kept at 64² for stages 2-3) and their eq.-5 merges.
run textures dinar data textures --data "$WORK/synth" --stage1 "$WORK/stage1" -o "$WORK/textures" --device "$DEVICE"
# 4. Stage 2: the texture VQGAN at 64² (1000 steps, batch 16).
run vq dinar train vq --textures "$WORK/textures" --preset tiny --out "$WORK/vq" --seed 0 --workers 0
# 5. Stage 3: the back's inpainter, in the texture's colours at 64² with the mirror map, on 480 more people from
#    this stage 1 (recipes/back_rgb.sh: 5000 steps, batch 16; docs/back.md). The latent inpainter in the VQ
#    of step 4 that this step trained before is kept in recipes/weights/hd_latent3000 (it was: dinar train diffusion
#    --textures WORK/textures --vq WORK/vq --preset tiny --steps 3000 --seed 0).
run diffusion env STAGE1="$WORK/stage1" STEPS=5000 OUT=diffusion DIFFUSION_FLAGS=--mirror-map FROM=synth \
    bash "$(dirname "$0")/back_rgb.sh" "$WORK/back_rgb"
# 6. The model folder: exports only (no optimizer state), pinned by SHA-256 with the training times.
DIFFUSION_RUN="$WORK/back_rgb/diffusion" \
    pin_model "\"preset\": \"hd\", \"recipe\": \"recipes/hd.sh\", \"init_from\": \"$INIT\""
