"""Audio-encoder pretraining: the built-in encoder learns the synthetic world's exact per-frame mouth parameters.

Before the DiT sees speech tokens, the built-in audio encoder (:class:`~talkgen.models.audio_encoder.
BuiltinAudioEncoder`) is trained with a linear head to predict each frame's five mouth parameters (jaw, width,
round, teeth, tongue) from that character's speech stream, so its features carry mouth shape linearly. Only the
encoder is exported (``final/`` is a ``BuiltinAudioEncoder`` folder); the DiT run loads it with
``audio_encoder_path`` (and keeps it frozen with ``train_audio_encoder: false``).

Samples need no video: scene ``data_seed + i`` is spoken and performed (:func:`talkgen.synth.world.perform`), and a
window of ``num_frames`` frames at a start drawn from the sample index is cut from its audio and mouth tracks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from talkgen import SPEECH_RATE
from talkgen.training.config import TrainConfig
from talkgen.training.loop import TrainingTask

MOUTH_PARAMS = 5
_WINDOW_SALT = 0xA0D10


def speech_sample(config: TrainConfig, index: int) -> dict[str, torch.Tensor]:
    """Sample ``index``: ``audio_streams`` (C, N) 16 kHz and ``mouth_params`` (C, num_frames, 5), C = max_characters.

    Characters past the scene's count are silent streams with the rest mouth (all zeros), as in the DiT data.
    """
    from talkgen.synth.world import make_scene, perform, speak_lines

    seed = config.data_seed + int(index)
    rng = np.random.default_rng([seed, _WINDOW_SALT])
    scene = make_scene(seed, num_characters=int(rng.integers(1, config.max_characters + 1)))
    perf = perform(scene, speak_lines(scene, SPEECH_RATE), config.fps)
    t = config.num_frames
    start = int(rng.integers(0, max(perf.num_frames - t, 0) + 1))
    c = config.max_characters
    n = math.ceil(t / config.fps * SPEECH_RATE)
    audio = np.zeros((c, n), dtype=np.float32)
    mouth = np.zeros((c, t, MOUTH_PARAMS), dtype=np.float32)
    offset = round(start / config.fps * SPEECH_RATE)
    piece = perf.audio[:, offset : offset + n]
    audio[: piece.shape[0], : piece.shape[1]] = piece
    frames = perf.mouth[:, start : start + t]
    mouth[: frames.shape[0], : frames.shape[1]] = frames
    return {"audio_streams": torch.from_numpy(audio), "mouth_params": torch.from_numpy(mouth)}


def speech_batches(
    config: TrainConfig, start_step: int, process_index: int = 0, num_processes: int = 1
) -> Iterator[dict[str, Any]]:
    """Endless batches of :func:`speech_sample` from ``start_step`` on (same global indexing as the DiT data)."""
    step = start_step
    while True:
        first = (step * num_processes + process_index) * config.batch_size
        samples = [speech_sample(config, i) for i in range(first, first + config.batch_size)]
        yield {k: torch.stack([s[k] for s in samples]) for k in samples[0]}
        step += 1


class AudioPretrainModule(nn.Module):
    """The built-in encoder and a linear mouth-parameter head on its features."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.out_dim, MOUTH_PARAMS)

    def forward(self, audio_streams: torch.Tensor, fps: float, num_frames: int) -> torch.Tensor:
        """(B, S, N) speech -> (B, S, num_frames, 5) predicted mouth parameters."""
        return self.head(self.encoder(audio_streams, fps, num_frames))


class AudioTask(TrainingTask):
    """Mouth-parameter regression of the built-in audio encoder (``task: audio``)."""

    name = "audio"

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        from talkgen.models.audio_encoder import BuiltinAudioEncoder

        torch.manual_seed(config.seed)
        audio_cfg = config.component_config("audio_encoder")
        audio_cfg.pop("kind", None)
        self.module = AudioPretrainModule(BuiltinAudioEncoder(**audio_cfg))

    def batches(self, start_step: int, process_index: int, num_processes: int) -> Iterator[dict[str, Any]]:
        return speech_batches(self.config, start_step, process_index, num_processes)

    def loss(self, module, batch: dict[str, Any], generator: torch.Generator):
        device = next(module.parameters()).device
        target = batch["mouth_params"].to(device)
        prediction = module(batch["audio_streams"], self.config.fps, target.shape[2])
        loss = F.mse_loss(prediction.float(), target.float())
        jaw = _correlation(prediction[..., 0].detach(), target[..., 0])
        return loss, {"jaw_corr": jaw}

    def validation_data(self) -> dict[str, Any]:
        from talkgen.training.validation import HOLDOUT_OFFSET

        samples = [speech_sample(self.config, HOLDOUT_OFFSET + k) for k in range(self.config.validation_samples)]
        return {k: torch.stack([s[k] for s in samples]) for k in samples[0]}

    @torch.no_grad()
    def validate(self, module, batch: dict[str, Any], clip_path: Path | None) -> dict[str, float]:
        """Mouth-parameter MSE and jaw correlation on held-out scenes (no clip: there is no video)."""
        device = next(module.parameters()).device
        target = batch["mouth_params"].to(device)
        prediction = module(batch["audio_streams"], self.config.fps, target.shape[2])
        return {
            "val_mouth_mse": F.mse_loss(prediction.float(), target.float()).item(),
            "val_jaw_corr": _correlation(prediction[..., 0], target[..., 0]),
        }

    def export(self, module: nn.Module, directory: Path) -> None:
        module.encoder.save_pretrained(directory)


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of two tensors over all their elements (0 when either is constant)."""
    a, b = a.float().flatten(), b.float().flatten()
    a, b = a - a.mean(), b - b.mean()
    denom = (a.norm() * b.norm()).item()
    return float((a @ b).item() / denom) if denom > 0 else 0.0
