#!/usr/bin/env bash
# Regenerate samples/generated/ with the shipped model (models/talkgen-tiny) on the CPU: the two-person scene,
# the three-character Fountain scene, a dub of a synthetic clip, and the prompt-vs-first-frame contact sheet of
# 12 held-out characters.   bash scripts/make_samples.sh [MODEL_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/talkgen-tiny}
out=samples/generated
mkdir -p "$out"
talkgen generate samples/scenes/dialogue.yaml --model "$model" -o "$out/dialogue.mp4"
talkgen generate samples/scenes/market.fountain --model "$model" -o "$out/market.mp4"
talkgen dub samples/synth/clip_seed7.mp4 --truth samples/synth/clip_seed7.truth.json --model "$model" \
    --text "Nobody told me the market opens at dawn." --voice en-us -o "$out/dub_seed7.mp4"
talkgen bench --suite ci --model "$model" --sheet "$out/characters.png" -o "$out/bench_ci.json"
