#!/usr/bin/env bash
# Download the wheels a bare GPU training machine (Python 3.12, torch + transformers + accelerate preinstalled,
# no network) lacks for talkgen's training and synthetic-world rendering, into .whl/ (git-ignored).
# Versions come from constraints.txt, so the GPU run uses the tested versions.
# On the GPU machine:  python3 -m pip install --no-index --no-deps --target /tmp/site .whl/*.whl
#                      export PYTHONPATH=/tmp/site:$PWD
set -euo pipefail
cd "$(dirname "$0")/.."
# talkgen's own needs there, and what each of them needs that the image lacks.
# (imageio-ffmpeg is left out: its 68 MB wheel exceeds the 64 MiB a call may carry; GPU runs write no mp4.)
# importlib_metadata, platformdirs, cffi and pycparser: missing on the H200 image of 2026-12-04 (diffusers, pooch
# and soundfile failed to import without them there).
names=(diffusers espeakng-loader librosa soundfile soxr audioread pooch decorator more-itertools importlib_metadata
  platformdirs cffi pycparser)
mkdir -p .whl
for name in "${names[@]}"; do
  pin=$(grep -i -E "^${name}==" constraints.txt || true)
  spec=${pin:-$name}
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d .whl "$spec" \
    || echo "warning: no wheel for $spec (check whether the GPU image needs it)" >&2
done
# openai-whisper ships only a source archive (pure Python): build its wheel here.
whisper=$(grep -i -E "^openai-whisper==" constraints.txt || echo openai-whisper)
python3 -m pip wheel -q --no-deps -w .whl "$whisper"
ls -la .whl
du -sh .whl
