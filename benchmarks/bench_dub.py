"""Synthetic-world exactness benchmark of dubbing; writes benchmarks/results/dub.json.

Run: ``python benchmarks/bench_dub.py [--model DIR] [--steps N] [--size PX] [--cases K]``. Without ``--model`` (and
without ``models/talkgen-tiny``) the pipeline has untrained random weights: the numbers then check the machinery
(exactness outside the mouth, lengths, timing), not lip-sync quality.

For each case ``render_edit_pair`` gives a clip and the exact re-render of the same performance with new speech
(identical motion; only the mouths differ). The clip is dubbed with the new speech (mouths from the ground truth,
extent "mouth") and compared with the re-render:

- PSNR outside the edit region (expected: the source there equals the re-render, so it measures leaks) and inside it;
- lip-sync from :func:`talkgen.eval.world.evaluate_world` against the new speech's ground truth (correlation of the
  measured opening with the jaw track, offset, confidence) and the mouth-closed-in-silence rate;
- rows: ceiling (the exact re-render), floor (the source clip untouched: lips of the old speech), model (the dub);
- time: seconds of compute per second of video, and the same pipeline's VAE round trip as a baseline in-process.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from common import machine_info

SEEDS = (9005, 9011, 9017, 9023)


def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    """PSNR in dB over the pixels selected by ``where`` (T, H, W); inf when identical, NaN when empty."""
    if not where.any():
        return float("nan")
    diff = a[where].astype(np.float64) - b[where].astype(np.float64)
    mse = float(np.mean(diff**2))
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _clean(value):
    if isinstance(value, float):
        return None if math.isnan(value) else ("inf" if math.isinf(value) else round(value, 4))
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _scores(frames: np.ndarray, target, mask: np.ndarray) -> dict:
    from talkgen.eval.world import evaluate_world

    report = evaluate_world(frames, target.truth, reference_frames=target.frames.numpy())
    exact = target.frames.numpy()
    return {
        "psnr_outside_mouth_db": psnr(frames, exact, mask == 0),
        "psnr_inside_mouth_db": psnr(frames, exact, mask > 0),
        "sync_correlation": report.correlation,
        "sync_offset": report.offset,
        "sync_confidence": report.confidence,
        "closed_in_silence": report.closed_in_silence,
    }


def _mean(rows: list[dict]) -> dict:
    out = {}
    for key in rows[0]:
        values = np.array([r[key] for r in rows], dtype=np.float64)
        finite = values[np.isfinite(values)]
        out[key] = float("inf") if np.isinf(values).all() else (float(finite.mean()) if len(finite) else float("nan"))
    return out


def main() -> None:
    from talkgen.pipelines.loading import load_pipeline
    from talkgen.pipelines.mouth import TruthMouthLocator, edit_mask, select_faces
    from talkgen.pipelines.pipeline_lipsync import build_tiny_lipsync_pipeline
    from talkgen.synth.world import make_scene, render_edit_pair

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="pipeline folder (default: random tiny weights)")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--cases", type=int, default=len(SEEDS))
    parser.add_argument("--strength", type=float, default=None)
    args = parser.parse_args()

    pipe = load_pipeline("lipsync", args.model)[0] if args.model else build_tiny_lipsync_pipeline(seed=0)
    pipe.set_progress_bar_config(disable=True)
    rows: dict[str, list[dict]] = {"ceiling": [], "floor": [], "model": []}
    cases, seconds, video_s, vae_s = [], 0.0, 0.0, 0.0
    for seed in SEEDS[: args.cases]:
        scene = make_scene(seed, num_characters=1, mode="cut", num_lines=1)
        source, target = render_edit_pair(scene, size=args.size)
        frames = source.frames.numpy()
        track = select_faces(TruthMouthLocator(source.truth).locate(frames), "all")
        mask = edit_mask(track, "mouth")
        start = time.perf_counter()
        out = pipe(
            frames,
            target.audio,
            mouths=track,
            strength=args.strength,
            fps=source.fps,
            num_inference_steps=args.steps,
            length_policy="trim",
            generator=torch.Generator().manual_seed(seed),
        )
        seconds += time.perf_counter() - start
        video_s += len(frames) / source.fps
        padded = -(-(len(frames) - 1) // 4) * 4 + 1
        start = time.perf_counter()
        with torch.no_grad():
            pipe.decode_latents(
                pipe.encode_video(
                    frames[np.minimum(np.arange(padded), len(frames) - 1)], args.size, args.size, torch.device("cpu")
                ),
                args.size,
                args.size,
            )
        vae_s += time.perf_counter() - start
        if out.frames.shape != frames.shape:
            raise RuntimeError(f"dub changed the clip's shape: {out.frames.shape} vs {frames.shape}")
        identical = bool(np.array_equal(out.frames[mask == 0], frames[mask == 0]))
        rows["ceiling"].append(_scores(target.frames.numpy(), target, mask))
        rows["floor"].append(_scores(frames, target, mask))
        rows["model"].append(_scores(out.frames, target, mask))
        cases.append({"seed": seed, "frames": len(frames), "outside_mouth_bit_identical_to_source": identical,
                      "colour_drift": out.colour_drift, "model": rows["model"][-1]})  # fmt: skip
        print(f"seed {seed}: {len(frames)} frames, outside identical={identical}, {rows['model'][-1]}")

    result = {
        "machine": machine_info(),
        "model": str(args.model) if args.model else "random tiny weights (machinery check, not quality)",
        "steps": args.steps,
        "size": args.size,
        "strength": args.strength if args.strength is not None else pipe.config.default_strength,
        "rows": {name: _mean(r) for name, r in rows.items()},
        "cases": cases,
        "dub_compute_s_per_video_s": seconds / video_s,
        "baseline_vae_roundtrip_s_per_video_s": vae_s / video_s,
        "dub_cost_vs_vae_roundtrip": seconds / vae_s,
    }
    out_path = Path(__file__).parent / "results" / "dub.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(_clean(result), indent=2))
    for name, row in result["rows"].items():
        print(name, {k: round(v, 3) if np.isfinite(v) else v for k, v in row.items()})
    print(f"dub: {result['dub_compute_s_per_video_s']:.2f} s per video second "
          f"({result['dub_cost_vs_vae_roundtrip']:.2f}x a VAE round trip)")  # fmt: skip


if __name__ == "__main__":
    main()
