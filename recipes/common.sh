# Shared by the recipes (sourced): step running with logs and times, and pinning a model folder.
#   run STEP COMMAND...   runs COMMAND when STEP is FROM or later: log to WORK/STEP.log, seconds to WORK/times
#   pin_model INFO_JSON   copies the exports of WORK/{stage1,vq} and DIFFUSION_RUN (default WORK/diffusion) to DEST
#                         and writes its manifest
started=false
run() {
  local step=$1; shift
  [[ $step == "$FROM" ]] && started=true
  $started || return 0
  echo "== $step: $*"
  local s=$SECONDS
  "$@" >> "$WORK/$step.log" 2>&1
  echo "$step $(( SECONDS - s ))" >> "$WORK/times"
}
pin_model() {
  [[ pin == "$FROM" ]] && started=true
  $started || return 0
  rm -rf "$DEST" && mkdir -p "$DEST/stage1/discriminator" "$DEST/vq" "$DEST/diffusion"
  cp "$WORK"/stage1/{model.safetensors,config.json,atlas.safetensors} "$DEST/stage1/"
  cp "$WORK"/stage1/discriminator/{model.safetensors,config.json} "$DEST/stage1/discriminator/"
  cp "$WORK"/vq/{model.safetensors,config.json} "$DEST/vq/"
  cp "${DIFFUSION_RUN:-$WORK/diffusion}"/{model.safetensors,config.json} "$DEST/diffusion/"
  local times
  times=$(awk '{t[$1] += $2} END {n = 0; for (k in t) printf "%s\"%s\": %s", (n++ ? ", " : ""), k, t[k]}' "$WORK/times")
  python -m dinar.weights pin "$DEST" --info "{$1, \"train_seconds\": {$times}}"
}
