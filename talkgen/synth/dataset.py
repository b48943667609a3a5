"""Training data from the synthetic world: an on-the-fly ``IterableDataset`` and a sharded writer.

On-disk format written by :func:`write_dataset` (``talkgen synth dataset --n N --out DIR``)::

    DIR/index.jsonl                      one line per sample: {"id", "seed", "shard", "num_frames", "caption"}
    DIR/shard-00000/000000.mp4           H.264 + AAC (mixed speech), ``size`` x ``size`` at ``fps``
    DIR/shard-00000/000000.truth.json    GroundTruth (talkgen.synth.truth)
    DIR/shard-00000/000000.audio.npz     "streams": float32 (C, N) speech per character at 16 kHz
    DIR/shard-00000/000000.edit.*        with ``edit_pairs``: the same clip re-spoken (mp4, truth.json, audio.npz)

Sample ``i`` is scene seed ``seed + i``; shards hold ``shard_size`` samples.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from talkgen import SPEECH_RATE
from talkgen.errors import ConfigError
from talkgen.synth import check_head_motion

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SynthConfig:
    """Run-time options of synthetic clips: frame size, rate, fixed length, characters per scene, edit pairs, and
    how much the heads sway and nod (``head_motion``, 0: still heads)."""

    size: int = 128
    fps: float = 25.0
    num_frames: int = 33
    max_characters: int = 3
    sample_rate: int = SPEECH_RATE
    edit_pairs: bool = False
    head_motion: float = 1.0

    def __post_init__(self) -> None:
        if self.size < 16:
            raise ConfigError(f"size must be >= 16 pixels, got {self.size}")
        if self.fps <= 0:
            raise ConfigError(f"fps must be positive, got {self.fps}")
        if self.num_frames < 1:
            raise ConfigError(f"num_frames must be >= 1, got {self.num_frames}")
        if not 1 <= self.max_characters <= 3:
            raise ConfigError(f"max_characters must be 1-3, got {self.max_characters}")
        check_head_motion(self.head_motion)


def render_sample(seed: int, config: SynthConfig, device: str | torch.device = "cpu") -> dict[str, object]:
    """One training sample for scene ``seed`` (C = ``max_characters``, characters beyond the scene are padding).

    Returns a dict: ``video`` float32 (3, T, H, W) in [-1, 1]; ``audio`` (N,) mixed; ``audio_streams`` (C, N);
    ``caption`` str; ``num_characters`` int; ``mouth_params`` (C, T, 5); ``viseme`` (C, T) int64; ``speaking``
    (C, T) bool; ``face_box``/``mouth_box`` (C, T, 4) pixels (NaN off-screen or padding); ``seed`` int; and with
    ``edit_pairs`` also ``edit_video`` / ``edit_audio`` / ``edit_audio_streams`` (the same clip re-spoken).
    """
    from talkgen.synth.world import make_scene, perform, redub, render_performance, speak_lines

    rng = np.random.default_rng([int(seed), 0xDA7A])
    scene = make_scene(seed, num_characters=int(rng.integers(1, config.max_characters + 1)))
    speeches = speak_lines(scene, config.sample_rate)
    perf = perform(scene, speeches, config.fps, config.num_frames, config.head_motion)
    clip = render_performance(scene, perf, config.size, device)
    out = _tensors(clip, config)
    out["seed"] = int(seed)
    if config.edit_pairs:
        texts = [s for s in _other_texts(scene, rng)]
        other = render_performance(
            scene, redub(scene, perf, speak_lines(scene, config.sample_rate, texts)), config.size, device
        )
        edit = _tensors(other, config)
        out["edit_video"], out["edit_audio"], out["edit_audio_streams"] = (
            edit["video"],
            edit["audio"],
            edit["audio_streams"],
        )
    return out


def _other_texts(scene, rng: np.random.Generator) -> list[str]:
    from talkgen.synth.world import _sentence

    return [_sentence(rng) for _ in scene.lines]


def _tensors(clip, config: SynthConfig) -> dict[str, object]:
    c, t = config.max_characters, clip.truth.num_frames
    n = clip.audio.shape[0]
    streams = np.zeros((c, n), dtype=np.float32)
    streams[: clip.audio_per_character.shape[0]] = clip.audio_per_character
    mouth = np.zeros((c, t, 5), dtype=np.float32)
    viseme = np.zeros((c, t), dtype=np.int64)
    speaking = np.zeros((c, t), dtype=bool)
    face = np.full((c, t, 4), np.nan, dtype=np.float32)
    mbox = np.full((c, t, 4), np.nan, dtype=np.float32)
    for i, ch in enumerate(clip.truth.characters):
        mouth[i], viseme[i], speaking[i], face[i], mbox[i] = (
            ch.mouth_params,
            ch.viseme,
            ch.speaking,
            ch.face_box,
            ch.mouth_box,
        )
    video = clip.frames.permute(3, 0, 1, 2).float().div_(127.5).sub_(1.0)
    return {
        "video": video,
        "audio": torch.from_numpy(clip.audio),
        "audio_streams": torch.from_numpy(streams),
        "caption": clip.truth.caption,
        "num_characters": len(clip.truth.characters),
        "mouth_params": torch.from_numpy(mouth),
        "viseme": torch.from_numpy(viseme),
        "speaking": torch.from_numpy(speaking),
        "face_box": torch.from_numpy(face),
        "mouth_box": torch.from_numpy(mbox),
    }


class SyntheticTalkingDataset(IterableDataset):
    """Renders samples on the fly: sample ``i`` is scene seed ``seed + i`` (``length`` None = endless).

    DataLoader workers split the indices (worker ``k`` of ``K`` takes ``i % K == k``), so every sample appears
    once per pass whatever the number of workers; each sample is deterministic in its seed.
    """

    def __init__(
        self, config: SynthConfig | None = None, length: int | None = 1000, seed: int = 0, device: str = "cpu"
    ) -> None:
        super().__init__()
        self.config = config or SynthConfig()
        self.length = length
        self.seed = int(seed)
        self.device = device

    def __iter__(self) -> Iterator[dict[str, object]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        i = worker
        while self.length is None or i < self.length:
            yield render_sample(self.seed + i, self.config, self.device)
            i += workers

    def __len__(self) -> int:
        if self.length is None:
            raise TypeError("an endless SyntheticTalkingDataset has no length")
        return self.length


def _save_clip(stem: Path, clip) -> None:
    """``stem``.mp4 + .truth.json + .audio.npz of one rendered clip (the npz written atomically)."""
    from talkgen.media import write_video

    def named(suffix: str) -> Path:
        return stem.with_name(stem.name + suffix)

    write_video(named(".mp4"), clip.frames.numpy(), clip.fps, clip.audio, clip.sample_rate)
    clip.truth.save(named(".truth.json"))
    tmp = named(".audio.tmp.npz").with_name(f".{stem.name}.audio.tmp.npz")
    np.savez_compressed(tmp, streams=clip.audio_per_character.astype(np.float32))
    os.replace(tmp, named(".audio.npz"))


def _write_one(args: tuple[int, int, str, SynthConfig, int]) -> dict[str, object]:
    from talkgen.synth.world import make_scene, perform, redub, render_performance, speak_lines

    index, seed, out, config, shard_size = args
    torch.set_num_threads(1)
    shard = index // shard_size
    folder = Path(out) / f"shard-{shard:05d}"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([int(seed), 0xDA7A])
    scene = make_scene(seed, num_characters=int(rng.integers(1, config.max_characters + 1)))
    perf = perform(scene, speak_lines(scene, config.sample_rate), config.fps, config.num_frames, config.head_motion)
    clip = render_performance(scene, perf, config.size)
    stem = folder / f"{index:06d}"
    if config.edit_pairs:  # written first: a clip whose .mp4 exists always has its pair
        texts = _other_texts(scene, rng)
        respoken = redub(scene, perf, speak_lines(scene, config.sample_rate, texts))
        other = render_performance(scene, respoken, config.size)
        _save_clip(folder / f"{index:06d}.edit", other)
    _save_clip(stem, clip)
    return {
        "id": index,
        "seed": seed,
        "shard": shard,
        "num_frames": clip.truth.num_frames,
        "caption": clip.truth.caption,
    }


def write_dataset(
    out: str | os.PathLike,
    n: int,
    config: SynthConfig | None = None,
    *,
    seed: int = 0,
    workers: int = 1,
    shard_size: int = 256,
    progress: bool = False,
) -> Path:
    """Render ``n`` clips into ``out`` (format: module docstring) with ``workers`` processes; returns the index."""
    config = config or SynthConfig()
    if n < 1:
        raise ConfigError(f"--n must be >= 1, got {n}")
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    if shard_size < 1:
        raise ConfigError(f"shard size must be >= 1, got {shard_size}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(i, seed + i, str(out), config, shard_size) for i in range(n)]
    from tqdm import tqdm

    bar = tqdm(total=n, desc="synth", unit="clip", disable=not progress)
    rows: list[dict[str, object]] = []
    if workers == 1:
        for job in jobs:
            rows.append(_write_one(job))
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for row in pool.map(_write_one, jobs, chunksize=max(1, min(16, n // (4 * workers)))):
                rows.append(row)
                bar.update()
    bar.close()
    index = out / "index.jsonl"
    tmp = out / ".index.jsonl.tmp"
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    os.replace(tmp, index)
    logger.info("wrote %d clips to %s", n, out)
    return index
