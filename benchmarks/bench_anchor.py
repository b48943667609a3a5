"""Anchoring long takes on their reference: the share of the first frame blended into each window's motion latents.

Run: ``python benchmarks/bench_anchor.py [--model DIR] [--anchor A ...] [--seed S ...] [--case NAME ...]
[--results NAME]``; writes ``benchmarks/results/NAME.json`` (default ``anchor``).

A take longer than the model's window is generated window by window, each later window conditioned on the last
latent of the one before (motion latents). Seen by eye, long takes wash out after a few windows: faces fade into the
background, and the mouths the re-timing reads fade with them. ``reference_anchor`` A blends the take's reference
(the drawn keyframe) into those motion latents: ``(1 - A) * last + A * reference``. For each A (default 0, 0.3, 0.5,
0.7 and 1) the bench's generated cases (default: the four of the full suite) run at the defaults otherwise, once per
seed (default 0-5; the model row draws its noise from ``seed + case seed``), all in one run; reported per A and
case: sync correlation, speaker attribution, closed in silence, identity drift and flicker against the ground
truth's, face match, and their means over the seeds. Seconds are compute for each pass (ground-truth rendering
included) on this machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from common import mean_of, rounded, suite, write_results

ANCHORS = (0.0, 0.3, 0.5, 0.7, 1.0)
SEEDS = (0, 1, 2, 3, 4, 5)
GENERATED = ("close-up", "two-shot dialogue with cuts", "three characters in one shot", "30 s monologue")
KEYS = ("correlation", "speaker_attribution", "closed_in_silence", "drift_ratio", "flicker_ratio", "face_match")


def _case(report: dict) -> dict:
    """One case's :data:`KEYS` from its world report (``WorldReport.to_dict``)."""

    def ratio(key: str) -> float | None:
        value, ref = report.get(key), report.get(f"reference_{key}")
        return None if value is None or not ref else value / ref

    return {
        **{k: rounded(report.get(k)) for k in KEYS if not k.endswith("_ratio")},
        "drift_ratio": rounded(ratio("identity_drift")), "flicker_ratio": rounded(ratio("flicker")),
    }  # fmt: skip


def main(model: Path | None, anchors=ANCHORS, seeds=SEEDS, names=GENERATED, results: str = "anchor") -> dict:
    from talkgen.eval.bench import pipeline_model, run_bench
    from talkgen.pipelines.loading import load_pipeline

    cases = suite(names)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    pipe = load_pipeline("talking", model)[0]
    pipe.set_progress_bar_config(disable=True)
    shipped = pipe.config.get("reference_anchor")
    rows = []
    for anchor in anchors:
        pipe.register_to_config(reference_anchor=anchor)
        per_seed = []
        for seed in seeds:
            start = time.perf_counter()
            row = run_bench(cases, model=pipeline_model(pipe, seed=seed))[-1]
            per_seed.append({
                "seed": seed, **{k: rounded(getattr(row, k)) for k in KEYS},
                "cases": {n: _case(c) for n, c in row.cases.items()},
                "seconds": round(time.perf_counter() - start, 1),
            })  # fmt: skip
            print(json.dumps({"anchor": anchor, **per_seed[-1]}), flush=True)
        mean = {k: rounded(mean_of(s[k] for s in per_seed)) for k in (*KEYS, "seconds")}
        mean["cases"] = {
            n: {k: rounded(mean_of(s["cases"][n][k] for s in per_seed)) for k in KEYS} for n in per_seed[0]["cases"]
        }
        rows.append({"reference_anchor": anchor, "per_seed": per_seed, "mean": mean})
        print(json.dumps({"anchor": anchor, "mean": mean}), flush=True)
    out = {
        "model": str(model or "models/talkgen-tiny"), "shipped_anchor": shipped,
        "seeds": list(seeds), "cases": [c.name for c in cases], "rows": rows,
    }  # fmt: skip
    write_results(results, out)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="pipeline folder (default: the shipped model)")
    parser.add_argument("--anchor", type=float, action="append", help="reference_anchor values (repeatable)")
    parser.add_argument("--seed", type=int, action="append", help="bench seeds (repeatable; default 0-5)")
    parser.add_argument("--case", action="append", help="a case of the full suite (repeatable; default the generated)")
    parser.add_argument("--results", default="anchor", help="results file (benchmarks/results/NAME.json)")
    args = parser.parse_args()
    main(args.model, tuple(args.anchor or ANCHORS), tuple(args.seed or SEEDS), tuple(args.case or GENERATED),
         args.results)  # fmt: skip
