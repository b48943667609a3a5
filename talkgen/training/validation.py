"""Periodic validation of a training run: a fixed-noise loss on held-out clips and a clip to watch.

Held-out clips: with ``data_dir``, the last ``validation_samples`` clips of the index (never trained on); on the
synthetic world, scene seeds ``data_seed + HOLDOUT_OFFSET + k`` (training reaches them only after 10^9 samples).
The loss uses fixed sigmas and noise, no condition dropout and no text-only samples, so the numbers of two steps
(or two runs) are comparable. Clips go to ``output_dir/validation/step-<N>.mp4``: generated (DiT, sampled from the
clip's caption and speech) or reconstructed (VAE) on the left, the real clip on the right, with the clip's speech.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from talkgen import SPEECH_RATE
from talkgen.training.config import TrainConfig
from talkgen.training.data import collate

logger = logging.getLogger(__name__)

HOLDOUT_OFFSET = 1_000_000_000
VALIDATION_DIR = "validation"
VALIDATION_SEED = 1234


def validation_batch(config: TrainConfig) -> dict[str, Any]:
    """The run's held-out clips as one batch (plain samples: no edit pairs)."""
    if config.data_dir:
        from talkgen.training.data import ShardDataset

        dataset = ShardDataset(config, holdout=True)
        samples = [dataset.sample(i, edits=False) for i in range(len(dataset))]
    else:
        from talkgen.synth.dataset import SynthConfig, render_sample

        synth = SynthConfig(
            size=config.size, fps=config.fps, num_frames=config.num_frames, max_characters=config.max_characters
        )
        seeds = range(config.data_seed + HOLDOUT_OFFSET, config.data_seed + HOLDOUT_OFFSET + config.validation_samples)
        samples = [render_sample(seed, synth) for seed in seeds]
    return collate(samples)


def fixed_sigmas(batch_size: int) -> torch.Tensor:
    """(B,) sigmas spread evenly over (0, 1): the validation loss averages the whole noise range."""
    return (torch.arange(batch_size, dtype=torch.float32) + 0.5) / batch_size


def side_by_side(generated: np.ndarray, real: torch.Tensor) -> np.ndarray:
    """uint8 (T, H, 2 W, 3): ``generated`` (T, H, W, 3) in [0, 1] next to ``real`` (3, T, H, W) in [-1, 1]."""
    left = np.clip(np.round(generated * 255.0), 0, 255).astype(np.uint8)
    right = ((real.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).numpy()
    frames = min(len(left), len(right))
    return np.concatenate([left[:frames], right[:frames]], axis=2)


def write_validation_clip(path: Path, frames: np.ndarray, fps: float, streams: torch.Tensor) -> Path:
    """Write ``frames`` with the clip's speech (streams (S, N) at 16 kHz, mixed) to ``path`` atomically."""
    from talkgen.fs import atomic_path
    from talkgen.media import write_video

    audio = streams.sum(dim=0).clamp(-1, 1).numpy().astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        write_video(tmp, frames, fps, audio if np.any(audio) else None, SPEECH_RATE)
    return path
