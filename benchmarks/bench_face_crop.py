"""Dubbing each face in its own crop vs one whole-frame pass: sync, speaker attribution, silence, compute.

Run: ``python benchmarks/bench_face_crop.py [--model DIR] [--shares 0.5 0.7 0.9]``; writes
``benchmarks/results/face_crop.json``.

Both of the bench's dubbing cases (the single-face pair and the two-shot with one speech track per face) are dubbed
as ``talkgen bench`` dubs them (default steps and DS-CFG, ground-truth mouths, through the mp4 encode) once per
setting: the whole frame in one pass (``face_crop=None``, the baseline, same run) and each face in its own crop at
the model's ``face_size`` for each share. A third case asks what an editor asks of a two-shot dub: the right-hand
face gets a silent track while the left one speaks its new line; the share of that face's frames whose mouth reads
closed (within 0.05 of its own closed level) is reported beside the footage's own share (the face spoke there).
Times are seconds of compute per second of video, 2 threads, alone on the machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from common import machine_info


def silent_face_closed(lip, rc, face_crop) -> tuple[float, float]:
    """(share of frames where face 2 reads closed with a silent track, seconds) on a two-shot dub case."""
    from talkgen.eval.world import closed_in_silence, read_mouth_openings
    from talkgen.pipelines.mouth import TruthMouthLocator

    speech = rc.streams[:2].copy()
    speech[1] = 0.0
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(rc.case.seed)
    out = lip(rc.source_frames, speech, mouths=TruthMouthLocator(rc.source_truth), fps=rc.case.fps,
              length_policy="trim", generator=generator, face_crop=face_crop)  # fmt: skip
    seconds = time.perf_counter() - start
    openings = read_mouth_openings(out.frames, rc.truth)
    return closed_in_silence(openings[:, 1], np.zeros(len(openings), bool)), seconds


def main() -> None:
    from talkgen.eval.bench import SUITES, dub_case, psnr_outside_mouth, render_case
    from talkgen.eval.world import closed_in_silence, evaluate_world, read_mouth_openings
    from talkgen.fs import finite_json, write_json
    from talkgen.pipelines.loading import load_pipeline

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--shares", type=float, nargs="*", default=[0.5, 0.7, 0.9])
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "face_crop.json")
    args = parser.parse_args()

    torch.set_num_threads(2)
    lip, info = load_pipeline("lipsync", args.model)
    lip.set_progress_bar_config(disable=True)
    settings = {"whole frame, one pass (baseline)": None, **{f"face crops, share {s}": s for s in args.shares}}
    result = {"machine": machine_info(), "model": info["path"], "face_size": lip.config.face_size, "cases": {}}
    for case in (c for c in SUITES["full"] if c.dub):
        rc = render_case(case)
        video_seconds = len(rc.source_frames) / case.fps
        rows = {}
        for name, share in settings.items():
            start = time.perf_counter()
            frames = dub_case(lip, rc, seed=case.seed, face_crop=share)
            seconds = time.perf_counter() - start
            report = evaluate_world(frames, rc.truth, reference_frames=rc.frames)
            rows[name] = {
                "correlation": report.correlation, "abs_offset": abs(report.offset),
                "speaker_attribution": report.speaker_attribution, "closed_in_silence": report.closed_in_silence,
                "psnr_outside_mouth_db": psnr_outside_mouth(frames, rc),
                "compute_s_per_video_s": seconds / video_seconds,
            }  # fmt: skip
            print(case.name, name, {k: round(v, 3) for k, v in rows[name].items() if isinstance(v, float)})
        footage = evaluate_world(rc.source_frames, rc.truth, reference_frames=rc.frames)
        rows["footage as it was"] = {
            "correlation": footage.correlation, "closed_in_silence": footage.closed_in_silence,
            "speaker_attribution": footage.speaker_attribution,
        }  # fmt: skip
        result["cases"][case.name] = rows
        if len(rc.scene.characters) == 2:
            silent = {}
            for name, share in settings.items():
                closed, seconds = silent_face_closed(lip, rc, share)
                silent[name] = {"closed_share": closed, "compute_s_per_video_s": seconds / video_seconds}
                print("silent right face", name, round(closed, 3))
            openings = read_mouth_openings(rc.source_frames, rc.source_truth)
            closed = closed_in_silence(openings[:, 1], np.zeros(len(openings), bool))
            silent["footage as it was"] = {"closed_share": closed}
            result["cases"]["two-shot, right face given a silent track"] = silent
    write_json(args.output, finite_json(result))
    print(args.output)


if __name__ == "__main__":
    main()
