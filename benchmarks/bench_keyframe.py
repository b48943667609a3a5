"""The keyframe stage: how much of the prompt a take's first frame shows, with and without the keyframe transformer.

Run: ``python benchmarks/bench_keyframe.py [--model DIR] [--draws N] [--characters N] [--defaults-only]
[--take-steps K ...] [--take-draws N ...] [--results NAME]``; writes ``benchmarks/results/NAME.json`` (default
``keyframe``).

For the 12 held-out close-ups of ``talkgen bench``'s attribute check, each first frame is scored against the
ground-truth render: attributes read back as prompted (skin, shirt, hair, hat colours in the truth's part masks) and
frame match (normalised cross-correlation of the whole frame, each colour channel centred: the layout, not the
palette; the truth against itself 1, a flat frame 0). Rows: the ground-truth first frame through the VAE and back
(what the latent space can hold: the ceiling of every generated row), the video transformer's first frame without
the keyframe stage (the baseline, ``keyframe=False``), the keyframe transformer's frame alone at several step counts
and text guidance scales, and the video's first frame at the defaults (the keyframe drawn, then the take generated
from it: what users get). With ``--draws N`` each keyframe-alone row draws every character's frame N times (seeds
``case seed + k``) and reports the mean over the draws with each draw's agreement beside it: one hit of 42 moves a
single draw's agreement by 0.024. ``--characters N`` scores N held-out characters (the first 12 are the bench's; more
make two candidates' difference surer), ``--defaults-only`` keeps the ceiling and the rows at the pipeline's keyframe
defaults. ``--take-steps K`` (repeatable) adds a row of the video's first frame with its keyframe drawn in K steps
(the pipeline call's ``keyframe_steps``), over the same draws (seeds ``seed + k``): what a change of the keyframe's
step default gives users, not only the keyframe alone. ``--take-draws N`` (repeatable) adds a row of the video's
first frame with the best of N keyframe draws (the pipeline call's ``keyframe_draws``: the model's attribute reader
picks the draw whose colours read most like the prompt), over the same draws; ``--take-draws 1`` is the row without
picking, in the same run. Times are seconds per first frame on this machine (2 threads).
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from common import machine_info

GRID = ((2, 1.0), (4, 1.0), (8, 1.0), (4, 3.0), (8, 3.0), (4, 5.0), (8, 5.0), (4, 7.0))  # (steps, text scale)


def _uint8(frame: np.ndarray) -> np.ndarray:
    return (np.clip(frame, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _score(name: str, cases: list, frames: list[np.ndarray], seconds: float, quiet: bool = False) -> dict:
    from talkgen.eval.attributes import score_attributes
    from talkgen.eval.world import face_match

    lookup = {case.seed: frame for case, frame in zip(cases, frames, strict=True)}
    row = score_attributes(cases, lambda case: lookup[case.seed], name=name)[-1]
    match = [
        face_match(f[None].astype(np.float64), c.frame[None].astype(np.float64))
        for c, f in zip(cases, frames, strict=True)
    ]
    result = {
        "row": name,
        "attributes": round(row.agreement, 3),
        "per_part": {k: round(v, 2) for k, v in row.per_part.items()},
        "frame_match": round(float(np.mean(match)), 3),
        "s_per_frame": round(seconds / len(cases), 3),
    }
    if not quiet:
        print(json.dumps(result), flush=True)
    return result


def _mean_rows(name: str, rows: list[dict]) -> dict:
    """One row from several draws' rows: each number's mean, and each draw's agreement."""
    result = {
        "row": name,
        "attributes": round(float(np.mean([r["attributes"] for r in rows])), 3),
        "per_part": {k: round(float(np.mean([r["per_part"][k] for r in rows])), 2) for k in rows[0]["per_part"]},
        "frame_match": round(float(np.mean([r["frame_match"] for r in rows])), 3),
        "s_per_frame": round(float(np.mean([r["s_per_frame"] for r in rows])), 3),
    }
    if len(rows) > 1:
        result["attributes_per_draw"] = [r["attributes"] for r in rows]
    print(json.dumps(result), flush=True)
    return result


def _drawn_row(name: str, cases: list, draws: int, draw: Callable[[int], list[np.ndarray]]) -> dict:
    """One row scored over ``draws`` draws: ``draw(k)`` gives every case's first frame of draw k."""
    per_draw = []
    for k in range(draws):
        start = time.perf_counter()
        frames = draw(k)
        per_draw.append(_score(name, cases, frames, time.perf_counter() - start, quiet=True))
    return _mean_rows(name, per_draw)


def main(
    model: Path | None = None,
    draws: int = 1,
    results: str = "keyframe",
    characters: int = 12,
    defaults_only: bool = False,
    take_steps: tuple[int, ...] = (),
    take_draws: tuple[int, ...] = (),
) -> dict:
    from talkgen.eval.attributes import ATTRIBUTE_SEEDS, attribute_cases
    from talkgen.eval.bench import generated_first_frames
    from talkgen.pipelines.defaults import KEYFRAME_STEPS, KEYFRAME_TEXT_SCALE
    from talkgen.pipelines.loading import load_pipeline

    torch.set_num_threads(min(2, torch.get_num_threads()))
    pipe, info = load_pipeline("talking", model)
    pipe.set_progress_bar_config(disable=True)
    if pipe.keyframe_transformer is None:
        raise SystemExit(f"{info['path']} has no keyframe_transformer: export a keyframe run into it first")
    cases = attribute_cases(tuple(range(ATTRIBUTE_SEEDS[0], ATTRIBUTE_SEEDS[0] + characters)), size=128)
    cpu = torch.device("cpu")
    rows = []
    start = time.perf_counter()
    frames = [_uint8(pipe.decode_latents(pipe.encode_image(c.frame, 1, 128, 128, cpu), "np")[0][0]) for c in cases]
    rows.append(_score("truth first frame through the VAE (ceiling)", cases, frames, time.perf_counter() - start))
    if not defaults_only:
        start = time.perf_counter()
        frames = generated_first_frames(pipe, cases, keyframe=False)  # the baseline: no keyframe stage
        rows.append(_score("video first frame, no keyframe (baseline)", cases, frames, time.perf_counter() - start))
    negative = pipe.encode_text([""], cpu)
    prompts = [pipe.encode_text([case.caption], cpu) for case in cases]  # once: every row draws from the same

    def alone(k: int, steps: int, scale: float) -> list[np.ndarray]:
        frames = []
        for case, prompt in zip(cases, prompts, strict=True):
            generator = torch.Generator().manual_seed(case.seed + k)
            latents = pipe.draw_keyframe(prompt, negative, 128, 128, steps, scale, generator)
            frames.append(_uint8(pipe.decode_latents(latents, "np")[0][0]))
        return frames

    for steps, scale in ((KEYFRAME_STEPS, KEYFRAME_TEXT_SCALE),) if defaults_only else GRID:
        name = f"keyframe alone, {steps} steps, text scale {scale:g}"
        rows.append(_drawn_row(name, cases, draws, lambda k, steps=steps, scale=scale: alone(k, steps, scale)))
    start = time.perf_counter()
    frames = generated_first_frames(pipe, cases)
    rows.append(_score("video first frame with the keyframe (defaults)", cases, frames, time.perf_counter() - start))
    for steps in take_steps:
        name = f"video first frame with the keyframe in {steps} steps"
        take = functools.partial(generated_first_frames, pipe, cases, keyframe_steps=steps)
        rows.append(_drawn_row(name, cases, draws, lambda k, take=take: take(seed=k)))
    for count in take_draws:
        name = f"video first frame, best of {count} keyframe draws"
        take = functools.partial(generated_first_frames, pipe, cases, keyframe_draws=count)
        rows.append(_drawn_row(name, cases, draws, lambda k, take=take: take(seed=k)))
    result = {"machine": machine_info(), "model": info["path"], "cases": len(cases), "draws": draws, "rows": rows}
    if defaults_only:
        result["defaults_only"] = True
    if take_steps:
        result["take_steps"] = list(take_steps)
    if take_draws:
        result["take_draws"] = list(take_draws)
    out = Path(__file__).resolve().parent / "results" / f"{results}.json"
    out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="pipeline folder (default: the shipped model)")
    parser.add_argument("--draws", type=int, default=1, help="draws per character of the keyframe-alone rows")
    parser.add_argument("--results", default="keyframe", help="results file (benchmarks/results/NAME.json)")
    parser.add_argument("--characters", type=int, default=12, help="held-out characters scored (the bench's 12)")
    parser.add_argument(
        "--defaults-only", action="store_true", help="only the ceiling and the rows at the keyframe defaults"
    )
    parser.add_argument(
        "--take-steps",
        type=int,
        action="append",
        default=[],
        metavar="K",
        help="also the video's first frame with the keyframe in K steps, over the draws (repeatable)",
    )
    parser.add_argument(
        "--take-draws",
        type=int,
        action="append",
        default=[],
        metavar="N",
        help="also the video's first frame with the best of N keyframe draws, over the draws (repeatable)",
    )
    args = parser.parse_args()
    if args.draws < 1:
        parser.error(f"--draws must be >= 1, got {args.draws}")
    if args.characters < 1:
        parser.error(f"--characters must be >= 1, got {args.characters}")
    if any(k < 1 for k in args.take_steps):
        parser.error(f"--take-steps must each be >= 1, got {args.take_steps}")
    if any(n < 1 for n in args.take_draws):
        parser.error(f"--take-draws must each be >= 1, got {args.take_draws}")
    main(
        args.model, args.draws, args.results, args.characters, args.defaults_only, tuple(args.take_steps),
        tuple(args.take_draws),
    )  # fmt: skip
