"""Media I/O benchmark: probe latency, decode and encode throughput, video audio-track loading.

Run ``python benchmarks/bench_media.py``; writes ``benchmarks/results/media.json``. Baselines measured in the same
run: a bare ``ffmpeg -i`` subprocess (probe) and imageio-ffmpeg's own ``read_frames`` / ``write_frames``
(decode / encode), so the cost of talkgen's checks is visible as a ratio.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from common import best_time, machine_info

from talkgen.audio.io import load_audio
from talkgen.media import probe, read_video, write_video

SIZES = {"128x128": (128, 128, 250), "480p": (854, 480, 100)}
FPS = 25


def _machine() -> dict:
    return {**machine_info(), "ffmpeg": imageio_ffmpeg.get_ffmpeg_version()}


def _frames(t: int, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.empty((t, h, w, 3), np.uint8)
    for i in range(t):
        for c in range(3):
            out[i, :, :, c] = (127.5 + 100 * np.sin((xx + 3 * i) / w * 6.28 * (c + 1) + yy / h * 3.14)).astype(
                np.uint8
            )
    return out


def main() -> None:
    results: dict = {"machine": _machine(), "fps": FPS, "cases": {}}
    sr = 16000
    with tempfile.TemporaryDirectory() as tmp:
        for name, (w, h, t) in SIZES.items():
            frames = _frames(t, h, w)
            audio = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(t / FPS * sr)) / sr)).astype(np.float32)
            path = Path(tmp) / f"{name}.mp4"
            enc = best_time(lambda p=path, f=frames: write_video(p, f, FPS))
            enc_audio = best_time(lambda p=path, f=frames, a=audio: write_video(p, f, FPS, a, sr))

            def base_encode(f=frames, w=w, h=h, name=name) -> None:
                gen = imageio_ffmpeg.write_frames(
                    str(Path(tmp) / f"base_{name}.mp4"),
                    (w, h),
                    fps=FPS,
                    codec="libx264",
                    pix_fmt_out="yuv420p",
                    output_params=["-preset", "veryfast", "-crf", "18"],
                    macro_block_size=1,
                )
                gen.send(None)
                for fr in f:
                    gen.send(fr)
                gen.close()

            enc_base = best_time(base_encode)
            dec = best_time(lambda p=path: read_video(p))

            def base_decode(p=path) -> None:
                for _ in imageio_ffmpeg.read_frames(str(p)):
                    pass

            dec_base = best_time(base_decode)
            probes = []
            for _ in range(15):
                t0 = time.perf_counter()
                probe(path)
                probes.append(time.perf_counter() - t0)
            bare = []
            for _ in range(15):
                t0 = time.perf_counter()
                subprocess.run(
                    [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                    capture_output=True,
                    check=False,
                )
                bare.append(time.perf_counter() - t0)
            aud = best_time(lambda p=path: load_audio(p, sr))
            results["cases"][name] = {
                "frames": t,
                "size": f"{w}x{h}",
                "encode_fps": t / enc,
                "encode_fps_baseline_imageio": t / enc_base,
                "encode_fps_with_aac_audio": t / enc_audio,
                "decode_fps": t / dec,
                "decode_fps_baseline_imageio": t / dec_base,
                "probe_ms_median": 1000 * statistics.median(probes),
                "probe_ms_baseline_bare_ffmpeg": 1000 * statistics.median(bare),
                "load_audio_from_mp4_x_realtime": (t / FPS) / aud,
            }
    out = Path(__file__).parent / "results" / "media.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))
    print(
        "| case | encode f/s (imageio) | encode+AAC f/s | decode f/s (imageio) | probe ms (bare ffmpeg -i) "
        "| load_audio x realtime |"
    )
    print("|---|---|---|---|---|---|")
    for name, c in results["cases"].items():
        print(
            f"| {name} | {c['encode_fps']:.0f} ({c['encode_fps_baseline_imageio']:.0f}) | "
            f"{c['encode_fps_with_aac_audio']:.0f} | {c['decode_fps']:.0f} "
            f"({c['decode_fps_baseline_imageio']:.0f}) | {c['probe_ms_median']:.1f} "
            f"({c['probe_ms_baseline_bare_ffmpeg']:.1f}) | {c['load_audio_from_mp4_x_realtime']:.0f} |"
        )


if __name__ == "__main__":
    main()
