"""talkgen.training: DiT (flow matching) and VAE trainers over the synthetic world, on accelerate.

``build_trainer(TrainConfig.from_yaml("configs/tiny.yaml")).train()``; see :mod:`talkgen.training.loop`.
"""

from __future__ import annotations

from talkgen.training.config import TrainConfig


def build_task(config: TrainConfig):
    """The :class:`~talkgen.training.loop.TrainingTask` of ``config.task`` ("dit", "vae", "audio" or "text")."""
    if config.task == "dit":
        from talkgen.training.dit import DiTTask

        return DiTTask(config)
    if config.task == "codec":
        from talkgen.errors import ConfigError

        raise ConfigError("the codec is fitted, not trained in a loop: use talkgen.training.codec.fit_codec")
    if config.task == "audio":
        from talkgen.training.audio import AudioTask

        return AudioTask(config)
    if config.task == "text":
        from talkgen.training.text import TextTask

        return TextTask(config)
    from talkgen.training.vae import VAETask

    return VAETask(config)


def build_trainer(config: TrainConfig, batches=None):
    """A ready :class:`~talkgen.training.loop.Trainer` (resumed when ``config.resume_from`` is set)."""
    from talkgen.training.loop import Trainer

    return Trainer(config, build_task(config), batches)


__all__ = ["TrainConfig", "build_task", "build_trainer"]
