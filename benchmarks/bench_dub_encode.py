"""What an editor gets back from ``talkgen dub``: fidelity of the unedited pixels after the output encode.

Run: ``python benchmarks/bench_dub_encode.py``; writes ``benchmarks/results/dub_encode.json``.

Three synthetic two-character clips (256 px, 2 s at 25 fps) are written as H.264 "footage" (crf 18), then dubbed
with new speech by :func:`talkgen.pipelines.dub.dub_video` (mouths from the ground truth, extent ``mouth``, random
tiny weights and 1 step: the edit itself does not matter here). The output mp4 is decoded and compared with the
footage's own decode **outside the edit region** (pixels whose edit mask is 0, which the pipeline copies from the
source): PSNR and the share of bit-equal pixel values. Rows: each output ``crf`` with talkgen's colour conversion
(chroma repeated on decode and block-averaged on encode, exact rounding), the lossless ``.mkv`` output (FFV1), and
the baseline of the same run with swscale's default bicubic conversion at the previous default crf 18. Also the
output size and the encode time.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import torch
from common import machine_info

SEEDS = (9101, 9102, 9103)
CRFS = (18, 10, 6, 0)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * math.log10(255.0**2 / max(mse, 1e-12))


def _row(pipe, footage: list[Path], folder: Path, crf: int, suffix: str = ".mp4") -> dict:
    from talkgen.media import read_video
    from talkgen.pipelines.dub import DubConfig, dub_video
    from talkgen.pipelines.mouth import TruthMouthLocator
    from talkgen.synth.truth import GroundTruth, truth_path_for

    psnrs, equal, sizes, encode_s, edited = [], [], [], [], []
    for k, clip in enumerate(footage):
        source, _ = read_video(clip)
        speech = (np.random.default_rng(k).standard_normal(len(source) * 640) * 0.05).astype(np.float32)
        mouths = TruthMouthLocator(GroundTruth.load(truth_path_for(clip)))
        out = folder / f"dub-{crf}-{k}{suffix}"
        config = DubConfig(steps=1, seed=k, crf=crf, length_policy="trim", max_side=None)
        report = dub_video(pipe, clip, out, speech, config, mouths=mouths, keep_mask=True)
        encode_s.append(report.seconds)
        dubbed, _ = read_video(out)
        keep = (report.edit_mask == 0)[..., None].repeat(3, axis=-1)
        psnrs.append(min(_psnr(dubbed[keep], source[keep]), 120.0))  # 120 dB: bit-equal
        equal.append(float(np.mean(dubbed[keep] == source[keep])))
        edited.append(float(np.mean(report.edit_mask > 0)))
        sizes.append(out.stat().st_size / 1024)
    return {
        "psnr_outside_edit_db": round(float(np.mean(psnrs)), 2),
        "psnr_outside_edit_min_db": round(float(np.min(psnrs)), 2),
        "bit_equal_outside_edit": round(float(np.mean(equal)), 3),
        "edited_area": round(float(np.mean(edited)), 4),
        "kb_per_second": round(float(np.mean(sizes)) / 2.0, 1),
        "dub_s": round(float(np.mean(encode_s)), 2),
    }


def main() -> dict:
    from talkgen.media import video, write_video
    from talkgen.pipelines.pipeline_lipsync import build_tiny_lipsync_pipeline
    from talkgen.synth.truth import truth_path_for
    from talkgen.synth.world import make_scene, render_clip

    torch.set_num_threads(min(2, torch.get_num_threads()))
    pipe = build_tiny_lipsync_pipeline(seed=0)
    pipe.set_progress_bar_config(disable=True)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        footage = []
        for seed in SEEDS:
            clip = render_clip(make_scene(seed, num_characters=2, num_lines=2), size=256, num_frames=50)
            path = write_video(folder / f"footage-{seed}.mp4", clip.frames.numpy(), clip.fps, clip.audio,
                               clip.sample_rate)  # fmt: skip
            clip.truth.save(truth_path_for(path))
            footage.append(path)
        for crf in CRFS:
            rows[f"crf {crf}"] = _row(pipe, footage, folder, crf)
        rows["lossless .mkv (FFV1)"] = _row(pipe, footage, folder, 0, suffix=".mkv")
        flags = video.DECODE_SWS_FLAGS, video.ENCODE_SWS_FLAGS
        video.DECODE_SWS_FLAGS = video.ENCODE_SWS_FLAGS = "bicubic"  # swscale's defaults: the baseline
        try:
            rows["baseline: bicubic conversion, crf 18"] = _row(pipe, footage, folder, 18)
        finally:
            video.DECODE_SWS_FLAGS, video.ENCODE_SWS_FLAGS = flags
    result = {"machine": machine_info(), "clips": len(SEEDS), "size": 256, "seconds": 2.0, "rows": rows}
    out = Path(__file__).parent / "results" / "dub_encode.json"
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(rows, indent=1))
    return result


if __name__ == "__main__":
    main()
