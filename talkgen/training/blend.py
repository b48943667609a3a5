"""Blend two trained transformers of one shape: ``talkgen blend BASE OTHER --weight W -o MODEL_DIR``.

A fine-tuning stage can gain one skill and lose another (talkgen-tiny's mouth-crop stage: generated lip sync up,
dubbing down). Averaging the weights of the model it started from and the fine-tuned one, ``(1 - W) BASE + W OTHER``,
keeps much of both when the two share their start (the fine-tuned one came from BASE). The result is a copy of the
pipeline folder ``BASE`` whose ``transformer`` is the blend; every other component is BASE's, byte for byte.

``OTHER`` may hold layers that BASE lacks where these are zero-initialised switches
(:data:`~talkgen.models.transformer_talking.ZERO_INIT_SWITCHES`: BASE computes the same with them at zero), as a
stage that switched one on has; BASE counts as zero there, and the blend takes OTHER's config.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from talkgen.errors import ConfigError

logger = logging.getLogger(__name__)

TRANSFORMER = "transformer"


def _transformer_folder(folder: Path, role: str) -> Path:
    from talkgen.training.dit_init import transformer_folder

    found = transformer_folder(folder)
    if found is None:
        raise ConfigError(f"blend: {role} {folder} holds no transformer (in it or in its {TRANSFORMER}/)")
    return found


def _stored_dtype(folder: Path):
    """The dtype ``folder``'s weights are stored in (its first safetensors file's first tensor)."""
    from safetensors import safe_open

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ConfigError(f"blend: {folder} holds no safetensors weights")
    with safe_open(str(files[0]), framework="pt") as fh:
        return fh.get_tensor(next(iter(fh.keys()))).dtype


def blend_transformers(base: str | Path, other: str | Path, weight: float, model_dir: str | Path) -> Path:
    """Write ``model_dir``: a copy of the pipeline folder ``base`` with its transformer ``(1 - weight) base +
    weight other``, stored in base's dtype.

    Args:
        base: a pipeline folder (``model_index.json``, ``transformer/``, ...). other: a pipeline folder or a
            transformer folder of the same shape (plus, optionally, zero-initialised switches base lacks).
        weight: other's share, in [0, 1]. model_dir: a new folder (written beside, then renamed: never half there).

    Raises:
        ConfigError: a folder is missing or not a pipeline, the shapes differ, the weight is outside [0, 1], or
            ``model_dir`` exists.
    """
    import torch

    from talkgen.models.transformer_talking import TalkingCharacterTransformer3DModel
    from talkgen.training.checkpoint import save_stored
    from talkgen.training.dit_init import init_transformer

    base, other, model_dir = Path(base), Path(other), Path(model_dir)
    if not 0.0 <= weight <= 1.0:
        raise ConfigError(f"blend: --weight is OTHER's share, in [0, 1]; got {weight}")
    if not (base / "model_index.json").is_file():
        raise ConfigError(f"blend: BASE {base} is not a pipeline folder (no model_index.json); name one")
    if model_dir.exists():
        raise ConfigError(f"blend: {model_dir} exists; name a new folder with -o (nothing is overwritten)")
    base_folder = _transformer_folder(base, "BASE")
    theirs = TalkingCharacterTransformer3DModel.from_pretrained(
        str(_transformer_folder(other, "OTHER")), torch_dtype=torch.float32
    )
    ours = TalkingCharacterTransformer3DModel.from_config(theirs.config)
    try:  # base's weights in other's shape (its switched-on layers at zero); refuses any other difference
        init_transformer(ours, base)
    except ConfigError as error:
        raise ConfigError(f"blend: BASE and OTHER are not one transformer shape: {error}") from None
    stored = _stored_dtype(base_folder)
    mine, yours = ours.state_dict(), theirs.state_dict()
    with torch.no_grad():
        ours.load_state_dict({k: torch.lerp(mine[k].float(), yours[k].float(), weight) for k in mine})
    staged = model_dir.with_name(f".{model_dir.name}.new")
    shutil.rmtree(staged, ignore_errors=True)
    try:
        shutil.copytree(base, staged, ignore=lambda folder, names: [TRANSFORMER] if Path(folder) == base else [])
        save_stored(ours, staged / TRANSFORMER, stored)
        staged.rename(model_dir)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    logger.info("blended %s and %s (weight %s) into %s", base, other, weight, model_dir)
    return model_dir
