"""Training batches: the synthetic world rendered on the fly, or written shards (``data_dir``).

Both sources address samples by a global index (step ``s`` on process ``p`` of ``P`` takes samples
``(s P + p) B + j``), so a resumed run sees exactly the batches an uninterrupted one would.

Shards are what ``talkgen synth dataset`` and ``talkgen prepare`` write: ``index.jsonl`` (one row per clip with
``id``, ``shard``, ``num_frames``, ``caption``) and ``shard-NNNNN/NNNNNN.mp4`` + ``.audio.npz`` (``streams``: (C, N)
float32 speech per character at 16 kHz). ``talkgen synth dataset --edit-pairs`` also writes the re-spoken clip as
``NNNNNN.edit.mp4`` + ``NNNNNN.edit.audio.npz``; ``talkgen prepare`` writes a ``NNNNNN.json`` sidecar whose face box
centres the square crop. Clips shorter than ``num_frames`` are skipped; longer ones give a window whose start is
drawn per sample index. Sample ``g`` of an epoch of ``n`` clips is clip ``perm_e[g mod n]`` with a fresh permutation
per epoch ``e = g div n``.

A sample is an **edit sample** (source video + new speech, for mask-free lip-sync) when ``edit_share`` draws it and
the source has pairs: its ``video``/``audio_streams`` are the re-spoken target and ``source_video`` the original.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from talkgen import SPEECH_RATE
from talkgen.errors import ConfigError, MediaError
from talkgen.training.config import TrainConfig

logger = logging.getLogger(__name__)

INDEX_FILE = "index.jsonl"
_EDIT_SALT = 0xED17
_WINDOW_SALT = 0x3D0
_EPOCH_SALT = 0xE90C


def is_edit_sample(config: TrainConfig, index: int) -> bool:
    """Whether global sample ``index`` is drawn as an edit sample (a pure function of ``data_seed`` and index)."""
    if config.edit_share <= 0:
        return False
    return bool(np.random.default_rng([config.data_seed, int(index), _EDIT_SALT]).random() < config.edit_share)


def audio_samples(num_frames: int, fps: float) -> int:
    """16 kHz samples covering ``num_frames`` video frames at ``fps``."""
    return math.ceil(num_frames / fps * SPEECH_RATE)


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack samples into a batch.

    Returns ``video`` (B, 3, T, H, W), ``audio_streams`` (B, S, N) zero-padded, ``caption`` list, ``edit`` (B,) bool
    and ``source_video`` (B, 3, T, H, W) (the original clip of edit samples; zeros elsewhere); ``mouth_box``
    (B, C, T, 4) pixel boxes (NaN: off-screen) when every sample has them (the synthetic world).
    """
    length = max(s["audio_streams"].shape[-1] for s in samples)
    streams = torch.zeros(len(samples), samples[0]["audio_streams"].shape[0], length)
    for i, s in enumerate(samples):
        streams[i, :, : s["audio_streams"].shape[-1]] = s["audio_streams"]
    video = torch.stack([s["video"] for s in samples])
    source = torch.zeros_like(video)
    edit = torch.zeros(len(samples), dtype=torch.bool)
    for i, s in enumerate(samples):
        if s.get("source_video") is not None:
            source[i], edit[i] = s["source_video"], True
    batch = {
        "video": video,
        "audio_streams": streams,
        "caption": [str(s["caption"]) for s in samples],
        "edit": edit,
        "source_video": source,
    }
    if all(s.get("mouth_box") is not None for s in samples):
        batch["mouth_box"] = torch.stack([torch.as_tensor(s["mouth_box"]) for s in samples])
    return batch


def _global_indices(config: TrainConfig, step: int, process_index: int, num_processes: int) -> range:
    first = (step * num_processes + process_index) * config.batch_size
    return range(first, first + config.batch_size)


# ----------------------------------------------------------------------------------------------- synthetic


def synthetic_sample(config: TrainConfig, index: int) -> dict[str, Any]:
    """Sample ``index`` of the on-the-fly world: scene seed ``data_seed + index``; an edit pair when drawn."""
    from talkgen.synth.dataset import SynthConfig, render_sample

    edit = is_edit_sample(config, index)
    synth = SynthConfig(
        size=config.size,
        fps=config.fps,
        num_frames=config.num_frames,
        max_characters=config.max_characters,
        edit_pairs=edit,
        head_motion=config.head_motion,
    )
    sample = render_sample(config.data_seed + index, synth)
    if edit:
        return {
            "video": sample["edit_video"],
            "audio_streams": sample["edit_audio_streams"],
            "caption": sample["caption"],
            "source_video": sample["video"],
            "mouth_box": sample["mouth_box"],  # the re-spoken clip keeps the performance's head motion
        }
    return sample


def synthetic_batches(
    config: TrainConfig, start_step: int, process_index: int = 0, num_processes: int = 1
) -> Iterator[dict[str, Any]]:
    """Endless batches of the synthetic world from ``start_step`` on."""
    step = start_step
    while True:
        indices = _global_indices(config, step, process_index, num_processes)
        yield collate([synthetic_sample(config, i) for i in indices])
        step += 1


# ----------------------------------------------------------------------------------------------- shards


class ShardDataset:
    """Clips of a shard folder that are long enough for ``config.num_frames``, addressed by global index.

    With ``validate_every`` > 0 the last ``validation_samples`` usable clips are held out of training; ``holdout``
    selects them instead (the validation set).

    Raises:
        ConfigError: no folder, no or unreadable ``index.jsonl``, no clip long enough, or ``edit_share`` > 0 on
            shards without edit pairs.
    """

    def __init__(self, config: TrainConfig, holdout: bool = False) -> None:
        if not config.data_dir:
            raise ConfigError("ShardDataset needs data_dir (a folder written by talkgen synth dataset / prepare)")
        self.config = config
        self.root = Path(config.data_dir)
        index = self.root / INDEX_FILE
        if not index.is_file():
            raise ConfigError(
                f"data_dir {self.root} has no {INDEX_FILE}; write shards with `talkgen synth dataset --out DIR` or "
                "`talkgen prepare FOOTAGE --out DIR`, or set data_dir: null for the on-the-fly synthetic world"
            )
        rows = []
        for number, line in enumerate(index.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                row = {
                    "id": int(row["id"]),
                    "shard": int(row["shard"]),
                    "num_frames": int(row["num_frames"]),
                    "caption": str(row.get("caption", "")),
                }
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigError(
                    f"{index}:{number}: not an index row ({exc}); expected a JSON object with id, shard, num_frames"
                ) from None
            rows.append(row)
        need = config.num_frames  # index counts are at the clip's own rate; decoding checks the resampled count
        usable = [r for r in rows if r["num_frames"] >= need]
        self.skipped_short = len(rows) - len(usable)
        held = config.validation_samples if config.validate_every > 0 else 0
        if len(usable) <= held:
            raise ConfigError(
                f"{len(usable)} of the {len(rows)} clips in {self.root} have the {need} frames a sample needs, not"
                f" enough to train{f' and hold out {held} for validation' if held else ''}; lower num_frames"
                " (or validation_samples) or write more/longer clips"
            )
        self.rows = usable[len(usable) - held :] if holdout else usable[: len(usable) - held]
        if self.skipped_short:
            logger.info("%s: %d clips shorter than %d frames are not used", self.root, self.skipped_short, need)
        self.has_edit_pairs = self._stem(self.rows[0]).with_suffix(".edit.mp4").is_file()
        if config.edit_share > 0 and not self.has_edit_pairs:
            raise ConfigError(
                f"edit_share is {config.edit_share} but {self.root} has no edit pairs (NNNNNN.edit.mp4); set "
                "edit_share: 0 for footage shards, or write pairs with `talkgen synth dataset --edit-pairs`"
            )

    def __len__(self) -> int:
        return len(self.rows)

    def _stem(self, row: dict[str, Any]) -> Path:
        return self.root / f"shard-{row['shard']:05d}" / f"{row['id']:06d}"

    def row_for(self, index: int) -> dict[str, Any]:
        """The clip of global sample ``index``: epoch ``index // n`` permutes the clips afresh."""
        n = len(self.rows)
        epoch, position = divmod(int(index), n)
        perm = _permutation(self.config.data_seed, epoch, n)
        return self.rows[int(perm[position])]

    def sample(self, index: int, attempts: int = 3, edits: bool = True) -> dict[str, Any]:
        """Decode global sample ``index`` (video in [-1, 1] at ``size`` x ``size``, speech streams, caption).

        A clip that fails to decode is logged and replaced by the clip at the same position of the next epochs
        (deterministic, so resume still holds); after ``attempts`` failures the last error is raised.
        """
        for attempt in range(attempts):
            try:
                return self._sample(index + attempt * len(self.rows) * 1_000_003, edits)
            except MediaError as exc:
                if attempt == attempts - 1:
                    raise
                logger.warning("%s; using another clip", exc)
        raise AssertionError("unreachable")

    def _sample(self, index: int, edits: bool) -> dict[str, Any]:
        cfg = self.config
        row = self.row_for(index)
        stem = self._stem(row)
        try:
            video, streams, fps = _read_clip(stem, "", cfg.fps)
            rng = np.random.default_rng([cfg.data_seed, int(index), _WINDOW_SALT])
            available = video.shape[0] - cfg.num_frames
            if available < 0:
                raise MediaError(f"{stem}.mp4 decodes to {video.shape[0]} frames, fewer than {cfg.num_frames}")
            start = int(rng.integers(0, available + 1))
            centre = _face_centre(stem)
            out = {
                "video": _window(video, start, cfg, centre),
                "audio_streams": _audio_window(streams, start, cfg),
                "caption": row["caption"],
            }
            if edits and self.has_edit_pairs and is_edit_sample(cfg, index):
                edit_video, edit_streams, _ = _read_clip(stem, ".edit", cfg.fps)
                out["source_video"] = out["video"]
                out["video"] = _window(edit_video, start, cfg, centre)
                out["audio_streams"] = _audio_window(edit_streams, start, cfg)
        except (MediaError, OSError, ValueError, KeyError) as exc:
            raise MediaError(
                f"training sample {index} ({stem}): {exc}; remove the clip from {self.root / INDEX_FILE} or "
                "re-write the shard"
            ) from None
        return out


@lru_cache(maxsize=8)
def _permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch, _EPOCH_SALT]).permutation(n)


def _read_clip(stem: Path, suffix: str, fps: float) -> tuple[np.ndarray, np.ndarray, float]:
    from talkgen.media import read_video

    frames, got_fps = read_video(stem.with_name(stem.name + suffix + ".mp4"), fps=fps)
    with np.load(stem.with_name(stem.name + suffix + ".audio.npz"), allow_pickle=False) as data:
        streams = np.asarray(data["streams"], dtype=np.float32)
    if streams.ndim == 1:
        streams = streams[None]
    if streams.ndim != 2:
        raise ValueError(f"audio streams must be (C, N), got shape {streams.shape}")
    return frames, streams, got_fps


def _face_centre(stem: Path) -> tuple[float, float] | None:
    """Centre (x, y) of the primary face box of a ``talkgen prepare`` sidecar, or None."""
    sidecar = stem.with_suffix(".json")
    if not sidecar.is_file():
        return None
    try:
        box = json.loads(sidecar.read_text(encoding="utf-8")).get("faces", {}).get("primary_box_median")
        if box and len(box) == 4:
            return (float(box[0]) + float(box[2])) / 2, (float(box[1]) + float(box[3])) / 2
    except (ValueError, TypeError, AttributeError):
        pass
    return None


def _window(frames: np.ndarray, start: int, config: TrainConfig, centre: tuple[float, float] | None) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float32 (3, num_frames, size, size) in [-1, 1]: square crop (around ``centre``)."""
    clip = frames[start : start + config.num_frames]
    height, width = clip.shape[1:3]
    side = min(height, width)
    cx, cy = centre if centre is not None else (width / 2, height / 2)
    x0 = int(round(min(max(cx - side / 2, 0), width - side)))
    y0 = int(round(min(max(cy - side / 2, 0), height - side)))
    video = torch.from_numpy(np.ascontiguousarray(clip[:, y0 : y0 + side, x0 : x0 + side])).permute(0, 3, 1, 2)
    video = video.float()
    if side != config.size:
        video = F.interpolate(video, size=(config.size, config.size), mode="bilinear", antialias=True)
    return video.permute(1, 0, 2, 3).div_(127.5).sub_(1.0).clamp_(-1.0, 1.0).contiguous()


def _audio_window(streams: np.ndarray, start: int, config: TrainConfig) -> torch.Tensor:
    """(C, N) -> (max_characters, n) float32: the window's speech, extra streams dropped, missing ones silent."""
    offset = round(start / config.fps * SPEECH_RATE)
    length = audio_samples(config.num_frames, config.fps)
    out = np.zeros((config.max_characters, length), dtype=np.float32)
    piece = streams[: config.max_characters, offset : offset + length]
    out[: piece.shape[0], : piece.shape[1]] = piece
    return torch.from_numpy(out)


def shard_batches(
    config: TrainConfig,
    start_step: int,
    process_index: int = 0,
    num_processes: int = 1,
    dataset: ShardDataset | None = None,
) -> Iterator[dict[str, Any]]:
    """Endless batches from ``config.data_dir`` from ``start_step`` on."""
    dataset = dataset or ShardDataset(config)
    step = start_step
    while True:
        indices = _global_indices(config, step, process_index, num_processes)
        yield collate([dataset.sample(i) for i in indices])
        step += 1


def batches_for(
    config: TrainConfig, start_step: int, process_index: int = 0, num_processes: int = 1
) -> Iterator[dict[str, Any]]:
    """The run's batches: shards when ``data_dir`` is set, else the synthetic world."""
    if config.data_dir:
        return shard_batches(config, start_step, process_index, num_processes)
    return synthetic_batches(config, start_step, process_index, num_processes)
