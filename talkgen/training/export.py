"""Export a training run as a pipeline folder: ``talkgen export RUN_DIR -o MODEL_DIR``.

A DiT run leaves ``final/transformer`` and ``final/audio_encoder`` (EMA weights, written by
:meth:`~talkgen.training.loop.Trainer.export`) and ``frozen/vae``, ``frozen/text_encoder``, ``frozen/tokenizer``
(the exact frozen components it trained against, written at train start). :func:`export_pipeline` assembles them
with a flow-matching scheduler into a folder that :class:`~talkgen.pipelines.TalkingCharacterPipeline` loads.

A keyframe run (``num_frames: 1``, ``configs/tiny-keyframe.yaml``) is exported *into* the pipeline folder whose first
frames it draws: its transformer becomes that folder's ``keyframe_transformer`` (the folder must hold the same frozen
text encoder the run trained against).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from talkgen.errors import ConfigError
from talkgen.training.checkpoint import STATE_FILE, latest_checkpoint, save_stored
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
    run_dir: str | Path,
    model_dir: str | Path,
    max_shard_size: str | None = None,
    dtype: str = "float32",
    checkpoint: str | Path | None = None,
) -> Path:
    """Write a pipeline folder (``model_index.json`` + components, safetensors) from a DiT run's EMA weights.

    Args:
        run_dir: a ``talkgen train dit`` output folder. model_dir: where to write the pipeline.
        max_shard_size: passed to ``save_pretrained`` (e.g. ``"500MB"``); ``None`` keeps its default.
        dtype: storage dtype of the weights (``float16`` halves the folder; talkgen loads them as float32).
        checkpoint: export this ``checkpoint-<step>`` folder's EMA weights instead of the run's ``final/`` (a run
            still training, or an earlier step that measured better).

    Raises:
        ConfigError: ``run_dir`` lacks the trained or frozen components (names the missing folder).
    """
    if dtype not in STORAGE_DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(STORAGE_DTYPES)}, got {dtype!r}")
    write = _export_keyframe if _run_config(Path(run_dir)).get("num_frames") == 1 else _export
    if checkpoint is not None:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="talkgen-export-") as tmp:
            final = _checkpoint_weights(Path(run_dir), Path(checkpoint), Path(tmp) / FINAL_DIR)
            return write(Path(run_dir), Path(model_dir), max_shard_size, dtype, final)
    return write(Path(run_dir), Path(model_dir), max_shard_size, dtype, Path(run_dir) / FINAL_DIR)


KEYFRAME = "keyframe_transformer"


def _export_keyframe(run_dir: Path, model_dir: Path, max_shard_size: str | None, dtype: str, final: Path) -> Path:
    """Write a keyframe run's transformer into the pipeline folder ``model_dir`` as its ``keyframe_transformer``
    (replacing one there; the folder is whole before and after: the new one is written beside it, then swapped)."""
    import shutil

    import torch
    from transformers import T5EncoderModel

    from talkgen.fs import write_json
    from talkgen.models.transformer_talking import TalkingCharacterTransformer3DModel

    index_file = model_dir / "model_index.json"
    if not index_file.is_file():
        raise ConfigError(
            f"{run_dir} is a keyframe run (num_frames: 1): export it into the pipeline folder it draws first frames"
            f" for (-o MODEL_DIR holding model_index.json); {model_dir} holds no pipeline"
        )
    if not (final / "transformer").is_dir():
        raise ConfigError(f"{run_dir} is not a finished keyframe run: {final / 'transformer'} is missing")
    trained, ours = (
        T5EncoderModel.from_pretrained(folder, dtype=torch.float32).state_dict()
        for folder in (run_dir / FROZEN_DIR / "text_encoder", model_dir / "text_encoder")
    )
    if trained.keys() != ours.keys() or any(not torch.allclose(trained[k], ours[k], atol=1e-2) for k in ours):
        raise ConfigError(
            f"{run_dir} trained against another text encoder than {model_dir / 'text_encoder'}: set the run's"
            " text_encoder_path to that folder's text_encoder and train it again"
        )
    transformer = TalkingCharacterTransformer3DModel.from_pretrained(final / "transformer")
    staged = model_dir / f".{KEYFRAME}.new"
    shutil.rmtree(staged, ignore_errors=True)
    shards = {"max_shard_size": max_shard_size} if max_shard_size else {}
    save_stored(transformer, staged, getattr(torch, dtype), **shards)
    old = model_dir / f".{KEYFRAME}.old"
    shutil.rmtree(old, ignore_errors=True)
    if (model_dir / KEYFRAME).exists():
        (model_dir / KEYFRAME).rename(old)
    staged.rename(model_dir / KEYFRAME)
    shutil.rmtree(old, ignore_errors=True)
    index = json.loads(index_file.read_text(encoding="utf-8"))
    index[KEYFRAME] = ["talkgen.models.transformer_talking", TalkingCharacterTransformer3DModel.__name__]
    write_json(index_file, index)
    logger.info("exported keyframe run %s into %s", run_dir, model_dir)
    return model_dir


def _checkpoint_weights(run_dir: Path, checkpoint: Path, directory: Path) -> Path:
    """Write ``checkpoint``'s EMA weights as a ``final/``-style folder (the trainer rebuilt from its own config)."""
    from talkgen.training import TrainConfig, build_trainer

    state_file = checkpoint / STATE_FILE
    if not state_file.is_file():
        raise ConfigError(f"{checkpoint} is not a checkpoint of a training run (no {STATE_FILE})")
    saved = json.loads(state_file.read_text(encoding="utf-8")).get("extra", {}).get("config")
    if not saved or saved.get("task") != "dit":
        raise ConfigError(f"{checkpoint} is not a checkpoint of a DiT run")
    config = TrainConfig(**{**saved, "output_dir": str(run_dir), "resume_from": str(checkpoint), "cpu": True})
    return build_trainer(config).export(directory)


def _export(run_dir: Path, model_dir: Path, max_shard_size: str | None, dtype: str, final: Path) -> Path:
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler
    from transformers import ByT5Tokenizer, T5EncoderModel

    from talkgen.models.audio_encoder import BuiltinAudioEncoder
    from talkgen.models.patch_codec import load_autoencoder
    from talkgen.models.transformer_talking import TalkingCharacterTransformer3DModel
    from talkgen.pipelines.pipeline_talking import TalkingCharacterPipeline

    frozen = run_dir / FROZEN_DIR
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
        face_size=run_config.get("size"),  # dubs process each face in a crop of the trained size
        # trained with the source's mouths hidden: dubs hide them too (the same cells: boxes widened by the margin)
        hide_source_mouth=run_config.get("mouth_margin") if run_config.get("source_mouth_dropout") else None,
    )
    pipe.to(getattr(torch, dtype))
    kwargs = {"safe_serialization": True}
    if max_shard_size is not None:
        kwargs["max_shard_size"] = max_shard_size
    pipe.save_pretrained(model_dir, **kwargs)
    logger.info("exported %s to %s", run_dir, model_dir)
    return model_dir
