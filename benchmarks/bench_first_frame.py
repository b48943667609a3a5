"""What a take's first frame is worth: the bench's generated cases from three first frames.

Run: ``python benchmarks/bench_first_frame.py [--model DIR] [--first-frame NAME ...] [--still-heads] [--results
NAME]``; writes ``benchmarks/results/NAME.json`` (default ``first_frame``). ``--still-heads`` renders the same cases
with still heads (``head_motion`` 0: the mouths move with the lips alone), as the still-heads training stages see
them; ``--first-frame`` (repeatable) limits the rows, e.g. to ``truth`` when only the video transformer is compared.

The four generated cases of ``talkgen bench --suite full`` (close-up, two-shot with cuts, three in one shot, 30 s
monologue), generated at the defaults from the same caption, speech and seed, starting from:

- ``none``: text and speech alone (``keyframe=False``), the model before the keyframe stage;
- ``keyframe``: the first frame the keyframe transformer draws from the caption (the default users run);
- ``truth``: the ground-truth render's first frame as the reference image, what a perfect keyframe would give:
  the upper bound of the keyframe route with this video transformer.

Each is scored as the bench scores its model row (sync, offset, attribution, closed in silence, drift, face match).
Seconds are compute on this machine, rendering included.

Two checks say where lip sync is lost: ``speech_effect``, for the close-up and the three-character shot generated
from their true first frames, the mean absolute pixel difference (0-255) between the take made with the speech and
the one made with silent streams, inside the characters' mouth boxes and outside them (a model whose mouths follow
the speech differs most inside); ``codec``, each face's mouth opening read from the ground-truth render after the
pipeline's VAE encodes and decodes it, correlated with the true jaw track (can the latent space hold the lips?).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from common import machine_info, rounded

FIRST_FRAMES = ("none", "keyframe", "truth")
KEYS = ("correlation", "abs_offset", "speaker_attribution", "closed_in_silence", "drift_ratio", "face_match")
EFFECT_CASES = ("close-up", "three characters in one shot")
CASE_KEYS = ("correlation", "offset", "speaker_attribution", "closed_in_silence", "identity_drift", "face_match")


def speech_effect(pipe, rc) -> dict:
    """Mean |speech take - silent take| (0-255) inside the mouth boxes and outside, both from the true first frame."""
    from talkgen.eval.bench import pipeline_model
    from talkgen.models.latents import mouth_mask

    spoken, silent = (
        pipeline_model(pipe, first_frame="truth", silent=quiet)(rc.case, rc).astype(np.float64)
        for quiet in (False, True)
    )
    diff = np.abs(spoken - silent).mean(axis=-1)
    boxes = torch.from_numpy(np.stack([ch.mouth_box for ch in rc.truth.characters]))[None]  # (1, C, T, 4)
    inside = mouth_mask(boxes, diff.shape[1], diff.shape[2], margin=0.0)[0, 0, : len(diff)].bool().numpy()
    return {"mouths": round(float(diff[inside].mean()), 2), "elsewhere": round(float(diff[~inside].mean()), 2)}


def codec_round_trip(pipe, rc) -> list[dict]:
    """Per face: the reader's mouth opening against the true jaw, on the render and on its VAE round trip."""
    from talkgen.eval.signals import pearson
    from talkgen.eval.world import read_mouth_openings

    frames = 4 * ((len(rc.frames) - 1) // 4) + 1  # the causal codec's 4 k + 1
    video = torch.from_numpy(rc.frames[:frames]).float().div(127.5).sub(1.0).permute(3, 0, 1, 2)[None]
    with torch.no_grad():
        decoded = pipe.vae.decode(pipe.vae.encode(video).latent_dist.mode()).sample
    pixels = ((decoded[0].permute(1, 2, 3, 0).clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8).numpy()
    rest = rc.frames[frames:]  # at most 3 frames the codec's grouping leaves out: kept as rendered, not scored
    after = read_mouth_openings(np.concatenate([pixels, rest]), rc.truth)[:frames]
    before = read_mouth_openings(rc.frames, rc.truth)[:frames]
    faces = []
    for c, character in enumerate(rc.truth.characters):
        jaw = character.mouth_params[:frames, 0]
        seen = np.isfinite(after[:, c]) & np.isfinite(before[:, c])
        faces.append({
            "render": rounded(pearson(before[seen, c], jaw[seen]), 3),
            "codec": rounded(pearson(after[seen, c], jaw[seen]), 3),
        })  # fmt: skip
    return faces


def main(
    model: Path | None = None,
    first_frames: tuple[str, ...] = FIRST_FRAMES,
    still_heads: bool = False,
    results: str = "first_frame",
) -> dict:
    from talkgen.eval.bench import SUITES, pipeline_model, render_case, run_bench
    from talkgen.pipelines.loading import load_pipeline

    torch.set_num_threads(min(2, torch.get_num_threads()))
    pipe, info = load_pipeline("talking", model)
    pipe.set_progress_bar_config(disable=True)
    cases = tuple(replace(case, head_motion=0.0 if still_heads else 1.0) for case in SUITES["full"] if not case.dub)
    rows = []
    for first_frame in first_frames:
        start = time.perf_counter()
        row = run_bench(cases, model=pipeline_model(pipe, first_frame=first_frame), model_name=first_frame)[-1]
        result = {
            "first_frame": first_frame,
            **{key: rounded(getattr(row, key), 3) for key in KEYS},
            "cases": {name: {k: rounded(c[k], 3) for k in CASE_KEYS} for name, c in row.cases.items()},
            "seconds": round(time.perf_counter() - start, 1),
        }
        print(json.dumps(result), flush=True)
        rows.append(result)
    rendered = {case.name: render_case(case) for case in cases}  # the checks' ground truth, rendered once
    effects = {name: speech_effect(pipe, rendered[name]) for name in EFFECT_CASES}
    print(json.dumps({"speech_effect": effects}), flush=True)
    codec = {name: codec_round_trip(pipe, rc) for name, rc in rendered.items()}
    print(json.dumps({"codec": codec}), flush=True)
    out = {
        "machine": machine_info(), "model": info["path"], "still_heads": still_heads,
        "rows": rows, "speech_effect": effects, "codec": codec,
    }  # fmt: skip
    path = Path(__file__).resolve().parent / "results" / f"{results}.json"
    path.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="pipeline folder (default: the shipped model)")
    parser.add_argument("--first-frame", action="append", choices=FIRST_FRAMES, help="rows to run (default: all)")
    parser.add_argument("--still-heads", action="store_true", help="the cases with still heads (head_motion 0)")
    parser.add_argument("--results", default="first_frame", help="results file (benchmarks/results/NAME.json)")
    args = parser.parse_args()
    main(args.model, tuple(args.first_frame or FIRST_FRAMES), args.still_heads, args.results)
