"""A silent track in a dub: does the face's mouth stay closed where the footage's moved?

Run: ``python benchmarks/bench_silent_dub.py [--model DIR] [--strength TAU] [--no-retime]``; writes
``benchmarks/results/silent_dub.json`` (``--strength`` dubs from another noise level than the model's default;
``--no-retime`` dubs the footage as it is, without re-timing its mouths to the new speech first).

Eight held-out dubbing scenes (seeds 9005-9305; single faces cut, and two-shots of two lines in one shot) are dubbed
as ``talkgen dub`` dubs them (default settings, ground-truth mouths): once with their new speech (sync, speaker
attribution, closed in silence, PSNR outside the mouths after the mp4 encode, as ``talkgen bench``), and once with a
silent track for the face that spoke in the footage (the single face; the right-hand face of a two-shot, while the
left one speaks its new line). For the silent track the share of frames whose mouth reads closed (within 0.05 of
its own closed level) is reported beside the same share in the footage as it was (the baseline, same run): a dub
that obeys the silent track reads near 1, one that copies the footage's mouth reads as the footage does.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from common import machine_info

SEEDS = (9005, 9105, 9205, 9305)


def main() -> dict:
    from talkgen.eval.bench import BenchCase, dub_case, psnr_outside_mouth, render_case
    from talkgen.eval.world import closed_in_silence, evaluate_world, read_mouth_openings
    from talkgen.fs import finite_json, write_json
    from talkgen.pipelines.defaults import FACE_CROP
    from talkgen.pipelines.loading import load_pipeline
    from talkgen.pipelines.mouth import TruthMouthLocator

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--strength", type=float, default=None, help="dub strength (default: the model's)")
    parser.add_argument("--no-retime", action="store_true", help="dub the footage as it is (no mouth re-timing)")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "silent_dub.json")
    args = parser.parse_args()

    torch.set_num_threads(2)
    lip, info = load_pipeline("lipsync", args.model)
    lip.set_progress_bar_config(disable=True)
    if args.strength is not None:
        lip.register_to_config(default_strength=args.strength)
    rows = []
    for seed in SEEDS:
        for faces in (1, 2):
            name = f"{faces} face{'s' * (faces > 1)}, seed {seed + faces - 1}"
            mode, lines = ("cut", None) if faces == 1 else ("continuous", 2)
            case = BenchCase(name, seed + faces - 1, faces, mode, num_lines=lines, dub=True)
            rc = render_case(case)
            start = time.perf_counter()
            frames = dub_case(lip, rc, seed=case.seed, retime=not args.no_retime)
            seconds = time.perf_counter() - start
            report = evaluate_world(frames, rc.truth, reference_frames=rc.frames)
            silent = faces - 1  # the single face, or the right-hand one
            speech = np.zeros_like(rc.audio) if faces == 1 else rc.streams[:2].copy()
            speech[silent] = 0.0  # one face: every sample; two: the right-hand face's track
            generator = torch.Generator().manual_seed(case.seed)
            mouths = TruthMouthLocator(rc.source_truth)
            out = lip(rc.source_frames, speech, mouths=mouths, fps=case.fps, length_policy="trim", generator=generator,
                      face_crop=FACE_CROP, retime=False if args.no_retime else None)  # fmt: skip
            still = np.zeros(len(out.frames), bool)
            dubbed = read_mouth_openings(out.frames, rc.truth)[:, silent]
            footage = read_mouth_openings(rc.source_frames, rc.source_truth)[:, silent]
            row = {
                "case": case.name,
                "sync_corr": report.correlation,
                "speaker_attribution": report.speaker_attribution,
                "closed_in_silence": report.closed_in_silence,
                "psnr_outside_mouth_db": psnr_outside_mouth(frames, rc),
                "silent_track_closed": closed_in_silence(dubbed, still),
                "footage_closed (baseline)": closed_in_silence(footage, still[: len(footage)]),
                "compute_s_per_video_s": seconds / (len(rc.source_frames) / case.fps),
            }
            rows.append(row)
            print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)

    def mean(key: str, faces: int | None = None) -> float:
        values = [r[key] for r in rows if faces is None or r["case"].startswith(f"{faces} face")]
        return float(np.nanmean(values))

    summary = {
        "sync_corr": mean("sync_corr"),
        "speaker_attribution (two faces)": mean("speaker_attribution", 2),
        "psnr_outside_mouth_db": mean("psnr_outside_mouth_db"),
        "silent_track_closed, one face": mean("silent_track_closed", 1),
        "footage_closed, one face (baseline)": mean("footage_closed (baseline)", 1),
        "silent_track_closed, two faces": mean("silent_track_closed", 2),
        "footage_closed, two faces (baseline)": mean("footage_closed (baseline)", 2),
    }
    result = {"machine": machine_info(), "model": info["path"], "strength": lip.config.default_strength}
    result["retime"] = not args.no_retime and lip.mouth_head is not None
    result |= {"rows": rows, "summary": summary}
    write_json(args.output, finite_json(result))
    print({k: round(v, 3) for k, v in summary.items()})
    return result


if __name__ == "__main__":
    main()
