"""Long footage: peak memory and speed of a dub as the footage grows.

Run: ``python benchmarks/bench_dub_long.py [--seconds 120] [--model models/talkgen-tiny]``; writes
``benchmarks/results/dub_long.json``.

A one-character synthetic monologue of ``--seconds`` at 128 px and 25 fps is rendered as H.264 footage (its ground
truth beside it) with new speech of the same length from another scene. Each row dubs it in a fresh process with the
shipped model at the default settings (mouths from the ground truth) and reports that process's peak resident
memory (``VmHWM`` of the child's own address space, the model and libraries included; ``ru_maxrss`` would also
count the parent's memory at the fork, the rendered footage) and the wall time per video second:

- ``streamed`` is :func:`talkgen.pipelines.dub.dub_video`: frames decoded as a stream, dubbed in chunks of whole
  model windows, each chunk written to the encoder as it finishes;
- the baseline of the same run decodes the whole footage, dubs it in one pipeline call (all windows in one batch)
  and encodes the whole result, as ``dub_video`` did before it streamed; at the full length it may not fit at
  all, so it also runs on the first ``--baseline-seconds``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import machine_info

ROOT = Path(__file__).resolve().parents[1]
SIZE, FPS = 128, 25.0


def _footage(folder: Path, seconds: float, seed: int = 9301) -> tuple[Path, Path]:
    """A monologue of ``seconds`` (H.264 + its truth) and new speech of the same length (a wav)."""
    from talkgen.audio.io import save_wav
    from talkgen.media import write_video
    from talkgen.synth.truth import truth_path_for
    from talkgen.synth.world import make_scene, render_clip, speak_lines

    frames = int(round(seconds * FPS))
    lines = max(1, int(seconds / 2.5))
    clip = render_clip(make_scene(seed, num_characters=1, num_lines=lines, mode="continuous"), size=SIZE,
                       num_frames=frames)  # fmt: skip
    video = write_video(folder / "footage.mp4", clip.frames.numpy(), FPS, clip.audio, clip.sample_rate)
    clip.truth.save(truth_path_for(video))
    speech = np.concatenate([s.waveform for s in speak_lines(make_scene(seed + 1, num_characters=1, num_lines=lines))])
    n = int(round(seconds * clip.sample_rate))
    save_wav(folder / "speech.wav", np.resize(speech, n).astype(np.float32), clip.sample_rate)
    return video, folder / "speech.wav"


def _child(mode: str, model: str, video: str, speech: str, output: str) -> dict:
    """One dub in this process (run as a child, so that its peak memory is its own)."""
    import torch

    from talkgen.audio.io import load_audio
    from talkgen.pipelines.dub import DubConfig, dub_video
    from talkgen.pipelines.loading import load_pipeline
    from talkgen.pipelines.mouth import TruthMouthLocator
    from talkgen.synth.truth import GroundTruth, truth_path_for

    torch.set_num_threads(min(2, torch.get_num_threads()))
    pipe, _ = load_pipeline("lipsync", Path(model))
    pipe.set_progress_bar_config(disable=True)
    wave = load_audio(speech, sample_rate=16_000)
    config = DubConfig()
    mouths = TruthMouthLocator(GroundTruth.load(truth_path_for(video)))
    started = time.perf_counter()
    if mode == "streamed":
        report = dub_video(pipe, video, output, wave, config, mouths=mouths)
        frames, chunks = report.num_frames, report.chunks
    else:  # the whole footage in memory and in one pipeline call
        from talkgen.media import read_video, write_video

        source, fps = read_video(video)
        out = pipe(source, wave, mouths=mouths, strength=config.strength, extent=config.extent, fps=fps,
                   height=SIZE, width=SIZE, num_inference_steps=config.steps,
                   generator=torch.Generator().manual_seed(config.seed))  # fmt: skip
        write_video(output, out.frames, fps, out.audio, 16_000, crf=config.crf)
        frames, chunks = len(out.frames), 1
    return {"frames": frames, "chunks": chunks, "dub_s": time.perf_counter() - started, "peak_rss_mb": _peak_mb()}


def _peak_mb() -> int:
    """Peak resident memory of this process's address space (Linux ``VmHWM``), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def _run(mode: str, model: str, video: Path, speech: Path, folder: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--model", model, "--video", str(video),
           "--speech", str(speech), "--output", str(folder / f"{mode}.mp4")]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}"}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    seconds = result["frames"] / FPS
    return {
        "video_s": round(seconds, 1),
        "chunks": result["chunks"],
        "peak_rss_mb": result["peak_rss_mb"],
        "dub_s": round(result["dub_s"], 1),
        "dub_s_per_video_s": round(result["dub_s"] / seconds, 3),
        "process_s": round(wall, 1),
    }


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--baseline-seconds", type=float, default=30.0)
    parser.add_argument("--model", default=str(ROOT / "models" / "talkgen-tiny"))
    parser.add_argument("--child", choices=("streamed", "whole"))
    parser.add_argument("--video"), parser.add_argument("--speech"), parser.add_argument("--output")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.model, args.video, args.speech, args.output)))
        return {}
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in sorted({args.baseline_seconds, args.seconds}):
            folder = Path(tmp) / f"{seconds:g}s"
            folder.mkdir()
            video, speech = _footage(folder, seconds)
            rows[f"streamed, {seconds:g} s"] = _run("streamed", args.model, video, speech, folder)
            rows[f"baseline: whole clip in memory, {seconds:g} s"] = _run("whole", args.model, video, speech, folder)
            print(json.dumps(rows, indent=1), flush=True)
    result = {"machine": machine_info(), "size": SIZE, "fps": FPS, "model": args.model, "rows": rows}
    out = Path(__file__).parent / "results" / "dub_long.json"
    out.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
