"""Choosing the default sampling settings of the shipped model: lip sync against compute, setting by setting.

Run: ``python benchmarks/bench_defaults.py [--model DIR] [--seed S ...] [--case NAME ...] [--only NAME ...]``;
writes ``benchmarks/results/defaults.json`` (``--output`` elsewhere).

For each candidate (sampling steps x guidance), the bench's cases (default: the close-up and the two-shot) are
generated from caption and speech with the model (default ``models/talkgen-tiny``) and scored against the ground
truth (sync correlation, |offset|, speaker attribution, closed in silence); the time is seconds of compute per second
of video (2 threads). With several ``--seed`` values (the model row draws its noise from ``seed + case seed``) each
seed's numbers are kept and their means decide: one seed's generated cases swing a lot. The ceiling and floor of the
same cases come from the same run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from common import machine_info, mean_of

CASES = ("close-up", "two-shot dialogue with cuts")


def candidates():
    from talkgen.pipelines.guidance import GuidanceConfig

    return {
        "4 steps, joint CFG 3 (2 passes)": (4, GuidanceConfig.constant(3.0, 3.0)),
        "6 steps, joint CFG 3 (2 passes)": (6, GuidanceConfig.constant(3.0, 3.0)),
        "8 steps, joint CFG 3 (2 passes)": (8, GuidanceConfig.constant(3.0, 3.0)),
        "8 steps, text 3 / audio 5 (3 passes)": (8, GuidanceConfig.constant(3.0, 5.0)),
        "8 steps, HuMo schedule (3 passes)": (8, GuidanceConfig()),
        "8 steps, no guidance (1 pass)": (8, GuidanceConfig.constant(1.0, 1.0)),
        "4 steps, no guidance (1 pass)": (4, GuidanceConfig.constant(1.0, 1.0)),
        "8 steps, joint CFG 1.5 (2 passes)": (8, GuidanceConfig.constant(1.5, 1.5)),
        "8 steps, audio CFG 2 only (2 passes)": (8, GuidanceConfig.constant(1.0, 2.0)),
        "4 steps, audio CFG 1.5 only (2 passes)": (4, GuidanceConfig.constant(1.0, 1.5)),
        "4 steps, audio CFG 2 only (2 passes)": (4, GuidanceConfig.constant(1.0, 2.0)),
        "4 steps, audio CFG 3 only (2 passes)": (4, GuidanceConfig.constant(1.0, 3.0)),
    }


def dub_candidates():
    from talkgen.pipelines.dsc_guidance import DSCFGConfig

    return {
        "dub, 8 steps, DS-CFG peak 1 (no extra audio weight)": (8, DSCFGConfig(w_peak=1.0, w_base=1.0)),
        "dub, 8 steps, DS-CFG peak 2": (8, DSCFGConfig(w_peak=2.0, w_base=1.0)),
        "dub, 8 steps, DS-CFG peak 4 (OmniSync)": (8, DSCFGConfig()),
        "dub, 8 steps, unguided (1 pass)": (8, DSCFGConfig(w_peak=1.0, w_base=1.0, gamma=0.0)),
        "dub, 4 steps, DS-CFG peak 2": (4, DSCFGConfig(w_peak=2.0, w_base=1.0)),
        "dub, 4 steps, DS-CFG peak 1": (4, DSCFGConfig(w_peak=1.0, w_base=1.0)),
    }


def dub_rows(model: Path | None, only) -> dict:
    """Dubbing candidates on the bench's single-face dubbing pair, scored as ``talkgen bench`` scores them."""
    import torch

    from talkgen.eval.bench import SUITES, psnr_outside_mouth, render_case
    from talkgen.eval.world import evaluate_world
    from talkgen.media import read_video, write_video
    from talkgen.pipelines.loading import load_pipeline
    from talkgen.pipelines.mouth import TruthMouthLocator

    lip = load_pipeline("lipsync", model)[0]
    lip.set_progress_bar_config(disable=True)
    case = next(c for c in SUITES["full"] if c.name == "dubbing pair")
    rc = render_case(case)
    rows = {}
    for name, (steps, guidance) in dub_candidates().items():
        if only and name not in only:
            continue
        start = time.perf_counter()
        out = lip(rc.source_frames, rc.audio, mouths=TruthMouthLocator(rc.source_truth), fps=case.fps,
                  length_policy="trim", num_inference_steps=steps, guidance=guidance,
                  generator=torch.Generator().manual_seed(case.seed))  # fmt: skip
        seconds = time.perf_counter() - start
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            frames, _ = read_video(write_video(Path(tmp) / "d.mp4", out.frames, case.fps, rc.audio, rc.sample_rate))
        report = evaluate_world(frames, rc.truth, reference_frames=rc.frames)
        rows[name] = {
            "steps": steps, "w_peak": guidance.w_peak, "correlation": report.correlation,
            "abs_offset": abs(report.offset), "closed_in_silence": report.closed_in_silence,
            "psnr_outside_mouth_db": psnr_outside_mouth(frames, rc),
            "compute_s_per_video_s": seconds / (len(frames) / case.fps),
        }  # fmt: skip
        print(name, {k: round(v, 3) for k, v in rows[name].items() if isinstance(v, float)})
    footage = evaluate_world(rc.source_frames, rc.truth, reference_frames=rc.frames)
    rows["footage as it was (floor)"] = {"correlation": footage.correlation, "abs_offset": abs(footage.offset),
                                         "closed_in_silence": footage.closed_in_silence}  # fmt: skip
    return rows


ROW_KEYS = ("correlation", "abs_offset", "speaker_attribution", "closed_in_silence", "drift_ratio", "face_match")


def main() -> None:
    from talkgen.eval.bench import SUITES, pipeline_model, render_case, run_bench
    from talkgen.fs import finite_json, write_json
    from talkgen.pipelines.loading import load_pipeline

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--only", nargs="*", default=None, help="candidate names to run (default: all)")
    parser.add_argument("--seed", type=int, action="append", help="model row seeds (repeatable; default 0)")
    parser.add_argument("--case", action="append", help=f"bench case names (repeatable; default {', '.join(CASES)})")
    parser.add_argument("--dub", action="store_true", help="also the dubbing candidates (DS-CFG peak x steps)")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "defaults.json")
    args = parser.parse_args()

    seeds = tuple(args.seed or (0,))
    names = tuple(args.case or CASES)
    known = {c.name: c for c in SUITES["full"]}
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; the full suite has: {', '.join(known)}")
    torch.set_num_threads(2)
    pipe, info = load_pipeline("talking", args.model)
    pipe.set_progress_bar_config(disable=True)
    cases = tuple(known[n] for n in names)
    video_seconds = sum(render_case(c).frames.shape[0] / c.fps for c in cases)
    result = {"machine": machine_info(), "model": info["path"], "cases": list(names), "seeds": list(seeds), "rows": {}}
    for name, (steps, guidance) in candidates().items():
        if args.only and name not in args.only:
            continue
        per_seed = []
        for seed in seeds:
            start = time.perf_counter()
            rows = run_bench(cases, model=pipeline_model(pipe, steps=steps, seed=seed, guidance=guidance),
                             model_name=name)  # fmt: skip
            ceiling, floor, model = rows
            per_seed.append({
                "seed": seed,
                **{k: getattr(model, k) for k in ROW_KEYS},
                "cases": {n: c["correlation"] for n, c in model.cases.items()},
                "compute_s_per_video_s": model.seconds / video_seconds,  # the model row's time includes scoring
                "wall_s": time.perf_counter() - start,
            })  # fmt: skip
        result["rows"][name] = {
            "steps": steps,
            "guidance": vars(guidance),
            **{k: mean_of(s[k] for s in per_seed) for k in (*ROW_KEYS, "compute_s_per_video_s", "wall_s")},
            "cases": {n: mean_of(s["cases"][n] for s in per_seed) for n in per_seed[0]["cases"]},
            "per_seed": per_seed,
        }
        result["ceiling"] = {k: v for k, v in ceiling.to_dict().items() if k != "cases"}
        result["floor"] = {k: v for k, v in floor.to_dict().items() if k != "cases"}
        print(name, {k: round(v, 3) for k, v in result["rows"][name].items() if isinstance(v, float)}, flush=True)
    if args.dub:
        result["dub_rows"] = dub_rows(args.model, args.only)
    write_json(args.output, finite_json(result))
    print(args.output)


if __name__ == "__main__":
    main()
