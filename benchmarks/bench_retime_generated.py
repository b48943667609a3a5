"""Re-timing generated takes' mouths to their speech: off, with the model's mouth locator, with the world's own boxes.

Run: ``python benchmarks/bench_retime_generated.py [--model DIR] [--seed S ...] [--way W ...] [--case NAME ...]
[--results NAME]``; writes ``benchmarks/results/NAME.json`` (default ``retime-generated``). The full bench's model
row (``talkgen bench --suite full`` at the defaults; ``--case`` keeps named cases) once per seed and way of finding
the generated mouths (``--way``, default all):

- ``off``: the takes as the video transformer draws them (``retime=False``), the baseline of the same run;
- ``best``: the ``mouth_locator``'s best-scoring boxes of each frame, as many as the take has speech streams (the
  default until 2026-12-04);
- ``locator``: the pipeline's default, the mouths that persist through the take among the locator's candidates
  (:func:`talkgen.pipelines.retime.mouth_tracks`), painted by the model's ``mouth_painter`` where it has one and
  the face is tall enough (``retime.PAINT_MIN_HEIGHT``);
- ``unpainted``: ``locator`` without the mouth painter, every face re-timed (the default until 2026-12-04's
  recipe stage 13);
- ``box-painted``: ``locator``, but painting each face's located box itself rather than the box grown by
  ``retime.PAINT_GROW`` (as 2026-12-04's recipe stage 13 first shipped);
- ``any-track``: ``locator``, but keeping the highest-scoring tracks whether or not they sit on a face (no
  ``retime.TRACK_TOP_LIMIT`` check, as before 2026-12-04's night change);
- ``unsteadied``: ``locator``, but the boxes as found (outliers dropped, no centre or size steadying; as before
  2026-12-04's ``retime.steady_boxes`` change);
- ``silence-per-frame``: ``locator``, but each frame silent in the speech takes the mouth nearest the closed level
  near it, as before 2026-12-04, instead of the one most closed mouth (:func:`talkgen.pipelines.retime.closed_frame`;
  dubs re-time their footage the same way, so this way changes the dub cases too);
- ``unjittered``: ``locator``, but the one closed mouth is the least open read at its box alone, as before
  2026-12-04's ``retime.jittered_openings`` change (dubs too);
- ``ranked``: ``locator``, but the speech's jaw mapped onto the take's own openings by rank, with no stretch, as
  before 2026-12-04's ``retime.WIDEN`` change (as dubs still do);
- ``truth``: the mouths at the ground truth's boxes (what a perfect locator would find; the bench reads the video at
  those same boxes).

The re-timing chooses each frame's mouth by the pixel opening reader the bench's sync column also reads, so the
``truth`` row is an upper bound of what re-timing can show on this bench, not of what the eye sees. Dub cases are
the same in every row (dubbing does not generate). Seconds are compute for the whole pass, ground-truth rendering
included.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import numpy as np
import torch
from common import mean_of, suite, write_results

KEYS = ("correlation", "abs_offset", "speaker_attribution", "closed_in_silence", "drift_ratio", "flicker_ratio")
WAYS = (
    "off", "best", "locator", "unpainted", "box-painted", "any-track", "unsteadied", "silence-per-frame", "unjittered",
    "ranked", "truth",
)  # fmt: skip


def best_per_frame(boxes: np.ndarray, scores: np.ndarray, keep: int) -> np.ndarray:
    """The ``best`` way: each frame's ``keep`` best-scoring candidates, left to right, NaN rows after the last."""
    order = np.argsort(-np.nan_to_num(scores, nan=-np.inf), axis=1, kind="stable")[:, :keep]
    best = np.take_along_axis(boxes, order[..., None], axis=1)
    centre = np.where(np.isfinite(best).all(axis=-1), best[..., 0] + best[..., 2], np.inf)
    return np.take_along_axis(best, np.argsort(centre, axis=1, kind="stable")[..., None], axis=1)


def patches(retime) -> dict:
    """The re-timing functions and settings each way replaces for its runs (the other ways run the pipeline's own)."""
    return {
        "best": {"mouth_tracks": best_per_frame},
        "box-painted": {"PAINT_GROW": 1.0},
        "any-track": {"TRACK_TOP_LIMIT": float("inf")},
        "unsteadied": {"steady_boxes": functools.partial(retime.steady_boxes, centre_half=0, size_half=0)},
        "silence-per-frame": {"closed_frame": lambda source, jittered=None: None},
        "unjittered": {"closed_frame": lambda source, jittered=None, own=retime.closed_frame: own(source)},
        "ranked": {"retime_generated": functools.partial(retime.retime_generated, widen=None)},
    }


def _truth_boxes_model(pipe, base):
    """A bench model that generates each case with ``retime=False`` and re-times it at the ground truth's boxes."""
    from talkgen.pipelines.retime import retime_generated

    def render(case, rc):
        video = base(case, rc)
        if case.dub:
            return video
        streams = rc.streams if rc.streams is not None else rc.audio[None]
        speech = list(streams[: len(rc.scene.characters)])
        boxes = np.stack([ch.mouth_box for ch in rc.truth.characters], axis=1)  # Person-tag order = left to right
        with torch.no_grad():
            features = pipe.encode_audio(np.stack(speech), 1, rc.case.fps, len(video), torch.device("cpu"))
            jaw = pipe.mouth_head(features)[0].float().numpy()
        return retime_generated(video, boxes, jaw, speech, rc.case.fps, painter=pipe.mouth_painter)

    return render


def main(model: Path | None, seeds=(0,), results: str = "retime-generated", ways=WAYS, names=()) -> dict:
    from talkgen.eval.bench import pipeline_model, run_bench
    from talkgen.pipelines import retime
    from talkgen.pipelines.loading import load_pipeline

    cases = suite(names)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    pipe = load_pipeline("talking", model)[0]
    lipsync = load_pipeline("lipsync", model)[0]
    for p in (pipe, lipsync):
        p.set_progress_bar_config(disable=True)
    if pipe.mouth_head is None:
        raise SystemExit(f"{model or 'the default model'} has no mouth_head: nothing re-times its takes")
    rows = []
    for way in ways:
        if way not in ("off", "truth") and pipe.mouth_locator is None:
            continue
        per_seed = []
        for seed in seeds:
            if way == "truth":
                pipe.mouth_locator, kept = None, pipe.mouth_locator  # generate without re-timing, then at the boxes
                render = _truth_boxes_model(pipe, pipeline_model(pipe, seed=seed, lipsync=lipsync))
            else:
                pipe.mouth_locator, kept = (None if way == "off" else pipe.mouth_locator), pipe.mouth_locator
                render = pipeline_model(pipe, seed=seed, lipsync=lipsync)
            painter = pipe.mouth_painter
            if way == "unpainted":
                pipe.mouth_painter = None
            start = time.perf_counter()
            patch = patches(retime).get(way, {})
            saved = {name: getattr(retime, name) for name in patch}
            for name, fn in patch.items():
                setattr(retime, name, fn)
            try:
                row = run_bench(cases, model=render)[-1]
            finally:
                pipe.mouth_locator, pipe.mouth_painter = kept, painter
                for name, fn in saved.items():
                    setattr(retime, name, fn)
            per_seed.append({
                "seed": seed, **{k: round(float(getattr(row, k)), 4) for k in KEYS},
                "cases": {n: round(float(c["correlation"]), 4) for n, c in row.cases.items()},
                "closed": {n: c["closed_in_silence"] for n, c in row.cases.items()},
                "seconds": round(time.perf_counter() - start, 1),
            })  # fmt: skip
            print(json.dumps({"way": way, **per_seed[-1]}), flush=True)
        mean = {k: mean_of(s[k] for s in per_seed) for k in KEYS}
        rows.append({"way": way, "per_seed": per_seed, "mean": mean})
    out = {
        "model": str(model or "models/talkgen-tiny"), "seeds": list(seeds),
        "cases": [c.name for c in cases], "rows": rows,
    }  # fmt: skip
    write_results(results, out)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="pipeline folder (default: the shipped model)")
    parser.add_argument("--seed", type=int, action="append", help="bench seeds (repeatable; default 0)")
    parser.add_argument(
        "--way", action="append", choices=WAYS, help="a way to find the mouths (repeatable; default all)"
    )
    parser.add_argument("--case", action="append", help="a case of the full suite to keep (repeatable; default all)")
    parser.add_argument("--results", default="retime-generated", help="results file (benchmarks/results/NAME.json)")
    args = parser.parse_args()
    main(args.model, tuple(args.seed or (0,)), args.results, tuple(args.way or WAYS), tuple(args.case or ()))
