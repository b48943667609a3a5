"""Blends of two transformers (``talkgen blend``), scored by the full bench over several seeds.

Run: ``python benchmarks/bench_blend.py --base DIR --other DIR [--weight W ...] [--seed S ...] [--case NAME ...]
[--results NAME]``;
writes ``benchmarks/results/NAME.json`` (default ``blend``). For each weight W (OTHER's share; default 0, 0.5, 0.7
and 1) a copy of the pipeline folder BASE with the transformer ``(1 - W) BASE + W OTHER`` is written to a temporary
folder (:func:`talkgen.training.blend.blend_transformers`; W = 0 is BASE's own computation) and run through
``talkgen bench --suite full`` at the defaults (generation and the dubbing path) once per seed (default 0, 1, 2: the
bench's model row draws its noise from ``seed + case seed``), plus the prompt read-back of 12 held-out characters
at seed 0. Reported per weight: each seed's model row (sync, offset, attribution, closed in silence, drift, face
match, dub PSNR outside the mouth) and per-case sync correlation, and their means over the seeds. One seed's
generated cases swing a lot (a close-up's closed-in-silence went 0 -> 1 between seeds), so the means decide.
``--case`` keeps only the named cases of the suite (e.g. the close-up over eight seeds): the row's means are then
those cases' own.
Seconds are compute on this machine, the ground-truth rendering of every pass included.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from common import mean_of, rounded, suite, write_results

WEIGHTS = (0.0, 0.5, 0.7, 1.0)
SEEDS = (0, 1, 2)
KEYS = (
    "correlation", "abs_offset", "speaker_attribution", "closed_in_silence", "drift_ratio", "face_match",
    "dub_psnr_outside_db",
)  # fmt: skip


def score(model_dir: Path, seeds: tuple[int, ...], cases: tuple) -> dict:
    """The bench's model row of ``model_dir`` on ``cases`` (:func:`suite`) per seed, their means, and the prompt
    read-back at seed 0."""
    from talkgen.eval.bench import attribute_rows, pipeline_model, run_bench
    from talkgen.pipelines.loading import load_pipeline

    pipe = load_pipeline("talking", model_dir)[0]
    lipsync = load_pipeline("lipsync", model_dir)[0]
    for p in (pipe, lipsync):
        p.set_progress_bar_config(disable=True)
    per_seed = []
    for seed in seeds:
        start = time.perf_counter()
        row = run_bench(cases, model=pipeline_model(pipe, seed=seed, lipsync=lipsync))[-1]
        per_seed.append({
            "seed": seed, **{k: rounded(getattr(row, k)) for k in KEYS},
            "cases": {name: rounded(case["correlation"]) for name, case in row.cases.items()},
            "seconds": round(time.perf_counter() - start, 1),
        })  # fmt: skip
        print(json.dumps(per_seed[-1]), flush=True)
    mean = {k: rounded(mean_of(s[k] for s in per_seed)) for k in KEYS}
    mean["cases"] = {n: rounded(mean_of(s["cases"][n] for s in per_seed)) for n in per_seed[0]["cases"]}
    attributes = next(r for r in attribute_rows(pipe, seed=0) if r.name == "model").agreement
    return {"per_seed": per_seed, "mean": mean, "attributes_seed0": rounded(attributes)}


def main(base: Path, other: Path, weights=WEIGHTS, seeds=SEEDS, results: str = "blend", names=()) -> dict:
    from talkgen.training.blend import blend_transformers

    cases = suite(names)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    rows = []
    with tempfile.TemporaryDirectory(prefix="talkgen-blend-") as tmp:
        for weight in weights:
            folder = blend_transformers(base, other, weight, Path(tmp) / f"w{weight}")
            rows.append({"weight": weight, **score(folder, seeds, cases)})
            print(json.dumps({"weight": weight, "mean": rows[-1]["mean"]}), flush=True)
    out = {
        "base": str(base), "other": str(other), "seeds": list(seeds),
        "cases": [c.name for c in cases], "rows": rows,
    }  # fmt: skip
    write_results(results, out)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="pipeline folder (e.g. the shipped model)")
    parser.add_argument("--other", type=Path, required=True, help="pipeline or transformer folder of the same shape")
    parser.add_argument("--weight", type=float, action="append", help="OTHER's share (repeatable; default 0 .5 .7 1)")
    parser.add_argument("--seed", type=int, action="append", help="bench seeds (repeatable; default 0 1 2)")
    parser.add_argument("--case", action="append", help="a case of the full suite to keep (repeatable; default all)")
    parser.add_argument("--results", default="blend", help="results file (benchmarks/results/NAME.json)")
    args = parser.parse_args()
    weights, seeds = tuple(args.weight or WEIGHTS), tuple(args.seed or SEEDS)
    main(args.base, args.other, weights, seeds, args.results, tuple(args.case or ()))
