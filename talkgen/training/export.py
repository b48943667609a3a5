"""Export a training run as a pipeline folder: ``talkgen export RUN_DIR -o MODEL_DIR``.

A DiT run leaves ``final/transformer`` and ``final/audio_encoder`` (EMA weights, written by
:meth:`~talkgen.training.loop.Trainer.export`) and ``frozen/vae``, ``frozen/text_encoder``, ``frozen/tokenizer``
(the exact frozen components it trained against, written at train start). :func:`export_pipeline` assembles them
with a flow-matching scheduler into a folder that :class:`~talkgen.pipelines.TalkingCharacterPipeline` loads.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from talkgen.errors import ConfigError
from talkgen.training.checkpoint import STATE_FILE, latest_checkpoint
from talkgen.training.loop import FROZEN_DIR

logger = logging.getLogger(__name__)

FINAL_DIR = "final"
SCHEDULER_SHIFT = 3.0
DEFAULT_TEXT_LEN = 64


def _run_config(run_dir: Path) -> dict:
    """The run's training config from its newest checkpoint's state ({} without a checkpoint)."""
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        return {}
    state = json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8"))
    return dict(state.get("extra", {}).get("config", {}))


STORAGE_DTYPES = ("float32", "float16", "bfloat16")


def export_pipeline(
    run_dir: str | Path, model_dir: str | Path, max_shard_size: str | None = None, dtype: str = "float32"
) -> Path:
    """Write a pipeline folder (``model_index.json`` + components, safetensors) from a DiT run's EMA weights.

    Args:
        run_dir: a ``talkgen train dit`` output folder. model_dir: where to write the pipeline.
        max_shard_size: passed to ``save_pretrained`` (e.g. ``"500MB"``); ``None`` keeps its default.
        dtype: storage dtype of the weights (``float16`` halves the folder; talkgen loads them as float32).

    Raises:
        ConfigError: ``run_dir`` lacks the trained or frozen components (names the missing folder).
    """
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler
    from transformers import ByT5Tokenizer, T5EncoderModel

    from talkgen.models.audio_encoder import BuiltinAudioEncoder
    from talkgen.models.patch_codec import load_autoencoder
    from talkgen.models.transformer_talking import TalkingCharacterTransformer3DModel
    from talkgen.pipelines.pipeline_talking import TalkingCharacterPipeline

    if dtype not in STORAGE_DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(STORAGE_DTYPES)}, got {dtype!r}")
    run_dir, model_dir = Path(run_dir), Path(model_dir)
    final, frozen = run_dir / FINAL_DIR, run_dir / FROZEN_DIR
    if (frozen / "sources.json").is_file():
        raise ConfigError(
            f"{run_dir} trained from foundation weights (frozen/sources.json): its trained transformer is"
            f" {final / 'transformer'} (save_pretrained); pipeline export covers runs with built-in encoders only"
        )
    needed = [final / "transformer", final / "audio_encoder"] + [
        frozen / name for name in ("vae", "text_encoder", "tokenizer")
    ]
    for folder in needed:
        if not folder.is_dir():
            raise ConfigError(f"{run_dir} is not a finished DiT run: {folder} is missing")
    run_config = _run_config(run_dir)
    pipe = TalkingCharacterPipeline(
        vae=load_autoencoder(frozen / "vae"),
        text_encoder=T5EncoderModel.from_pretrained(frozen / "text_encoder"),
        tokenizer=ByT5Tokenizer.from_pretrained(frozen / "tokenizer"),
        audio_encoder=BuiltinAudioEncoder.from_pretrained(final / "audio_encoder"),
        transformer=TalkingCharacterTransformer3DModel.from_pretrained(final / "transformer"),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=SCHEDULER_SHIFT),
        max_text_length=int(run_config.get("text_len", DEFAULT_TEXT_LEN)),
        window_frames=run_config.get("num_frames"),  # long takes are generated in windows of the trained length
    )
    pipe.to(getattr(torch, dtype))
    kwargs = {"safe_serialization": True}
    if max_shard_size is not None:
        kwargs["max_shard_size"] = max_shard_size
    pipe.save_pretrained(model_dir, **kwargs)
    logger.info("exported %s to %s", run_dir, model_dir)
    return model_dir
