#!/usr/bin/env bash
# Train talkgen-tiny from scratch on the CPU, stage by stage (see docs/training.md and models/talkgen-tiny/README.md).
# Every stage resumes where it stopped when the script is run again; run folders live where the configs say
# (/work/runs by default; edit output_dir, vae_path, audio_encoder_path and latent_cache together to move them).
#   bash scripts/train_tiny.sh [MODEL_DIR]     # default MODEL_DIR: models/talkgen-tiny
set -euo pipefail
cd "$(dirname "$0")/.."
model_dir=${1:-models/talkgen-tiny}

setting() { python -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }
run_dir() { setting "$1" output_dir; }

stage() {  # stage TASK CONFIG: train unless final/ exists; resume from the newest checkpoint when there is one
  # (the codec is fitted in one pass of about a minute: it has no checkpoints)
  local task=$1 config=$2 dir
  dir=$(run_dir "$config")
  if [ -d "$dir/final" ]; then echo "stage $task: done ($dir/final)"; return; fi
  if compgen -G "$dir/checkpoint-*" >/dev/null; then
    talkgen train "$task" --config "$config" --resume latest
  else
    talkgen train "$task" --config "$config"
  fi
}

stage audio configs/tiny-audio.yaml   # 1. built-in audio encoder -> per-frame mouth parameters
stage text configs/tiny-text.yaml     # 1b. tiny T5 -> each character's attributes from the prompt
stage codec configs/tiny-codec.yaml   # 2. the latent codec: principal components of 8x8x4-frame patches
stage dit configs/tiny.yaml           # 3. encode the latent cache once, then 4. the DiT on its windows
stage dit configs/tiny-finetune.yaml  # 5. the DiT fine-tuned against the pretrained text encoder
talkgen export "$(run_dir configs/tiny-finetune.yaml)" -o "$model_dir" --dtype float16
python scripts/fit_mouth_head.py "$model_dir" --scenes 1200  # 7. speech -> jaw opening: dubs and takes re-time mouths with it
# 8. the keyframe transformer: each take's first frame from the prompt (configs/tiny-keyframe.yaml reads the
# frozen parts of models/talkgen-tiny; pass that folder as MODEL_DIR or edit its *_path lines), written into it
stage dit configs/tiny-keyframe.yaml
talkgen export "$(run_dir configs/tiny-keyframe.yaml)" -o "$model_dir" --dtype float16
# 8b. the keyframe transformer trained on from the folder on 16,384 first frames rendered alone (a stills cache);
# its step 3,000 is the shipped one (model card)
if [ ! -d "$(run_dir configs/tiny-keyframe-stills.yaml)/checkpoint-3000" ]; then stage dit configs/tiny-keyframe-stills.yaml; fi
talkgen export "$(run_dir configs/tiny-keyframe-stills.yaml)" -o "$model_dir" --dtype float16 \
  --checkpoint "$(run_dir configs/tiny-keyframe-stills.yaml)/checkpoint-3000"
# 8c, 8d. the keyframe transformer trained on the same stills: 1,500 steps from the folder's (a fresh cosine), then
# 1,500 more from that run's last weights at half the rate
stage dit configs/tiny-keyframe-stills-2.yaml
stage dit configs/tiny-keyframe-stills-3.yaml
# 8e. 3,000 more steps from that run's last weights on the same stills at 1e-4
stage dit configs/tiny-keyframe-stills-4.yaml
talkgen export "$(run_dir configs/tiny-keyframe-stills-4.yaml)" -o "$model_dir" --dtype float16
# 8f. deeper: that run's five blocks and two new ones that start as the identity, 2,500 steps; its last step is shipped
stage dit configs/tiny-keyframe-deeper.yaml
talkgen export "$(run_dir configs/tiny-keyframe-deeper.yaml)" -o "$model_dir" --dtype float16
# 8g. the folder's keyframe (8f) 2,000 more steps on 16,384 stills it has not seen (the run builds that cache)
stage dit configs/tiny-keyframe-deeper-3.yaml
talkgen export "$(run_dir configs/tiny-keyframe-deeper-3.yaml)" -o "$model_dir" --dtype float16
# 8h. the folder's keyframe (8g) 2,000 more steps on the same stills
stage dit configs/tiny-keyframe-deeper-4.yaml
talkgen export "$(run_dir configs/tiny-keyframe-deeper-4.yaml)" -o "$model_dir" --dtype float16
# 8i, 8j. the folder's keyframe 2,000 more steps on a third, then a fourth cache of 16,384 new stills (each run
# builds its cache)
stage dit configs/tiny-keyframe-deeper-7.yaml
talkgen export "$(run_dir configs/tiny-keyframe-deeper-7.yaml)" -o "$model_dir" --dtype float16
stage dit configs/tiny-keyframe-deeper-8.yaml
talkgen export "$(run_dir configs/tiny-keyframe-deeper-8.yaml)" -o "$model_dir" --dtype float16
# 8k. the folder's keyframe (8j) 2,000 more steps on a fifth cache of 16,384 new stills
stage dit configs/tiny-keyframe-deeper-9.yaml
talkgen export "$(run_dir configs/tiny-keyframe-deeper-9.yaml)" -o "$model_dir" --dtype float16
# 9. mouth crops: stage 5's transformer, speech 10x louder, trained on squares around the mouths of still heads
# (configs/tiny-mouth-crops-8.yaml reads a copy of the folder at /work/runs/base: edit its *_path lines to move it)
base=$(setting configs/tiny-mouth-crops-8.yaml init_from)
if [ ! -d "$base" ]; then cp -r "$model_dir" "$base"; fi
stage dit configs/tiny-mouth-crops-8.yaml
# 9b. the shipped video transformer: 0.3 of stage 5's weights and 0.7 of stage 9's (talkgen blend)
stage9=$(run_dir configs/tiny-mouth-crops-8.yaml)/pipeline
if [ ! -d "$stage9" ]; then talkgen export "$(run_dir configs/tiny-mouth-crops-8.yaml)" -o "$stage9" --dtype float16; fi
rm -rf "$model_dir.blend"
talkgen blend "$base" "$stage9" --weight 0.7 -o "$model_dir.blend"
mv "$model_dir/transformer" "$model_dir/transformer.old" && mv "$model_dir.blend/transformer" "$model_dir/transformer"
rm -rf "$model_dir/transformer.old" "$model_dir.blend"
# 10. the mouth locator: scenes re-time their generated mouths to the speech with it and the mouth head (stage 7);
# trained on rendered frames (some through the codec, blurred) and first frames the keyframe transformer draws
python scripts/fit_mouth_locator.py "$model_dir"
# 11. long takes: each later window's motion latents blended half and half with the take's first frame
# (benchmarks/bench_anchor.py chose 0.5); the pipeline reads reference_anchor from model_index.json
python - "$model_dir/model_index.json" <<'PY'
import json, sys
index = json.load(open(sys.argv[1], encoding="utf-8"))
index["reference_anchor"] = 0.5
open(sys.argv[1], "w", encoding="utf-8").write(json.dumps(index, indent=2) + "\n")
PY
# 12. the attribute reader: a one-character take whose prompt names colours draws 3 first frames and keeps the one it
# reads most like them (keyframe_draws: 3 in model_index.json); trained on world stills through the folder's codec
python scripts/fit_attribute_reader.py "$model_dir"
# 13. the mouth painter: scenes paint the mouths of their close-ups and medium shots afresh at the jaw opening the
# mouth head reads from the speech (smaller faces are still re-timed); trained on world crops through the codec
python scripts/fit_mouth_painter.py "$model_dir"
