"""Checkpoints: safetensors for tensors, one small JSON for everything else.

Layout of ``checkpoint-<step>/``::

    model.safetensors       the trained module's state dict
    ema.safetensors         EMA shadow parameters ("0", "1", ... in parameter order), when EMA is on
    optimizer.safetensors   optimizer state tensors ("<param index>.<name>")
    rng.safetensors         "torch" (global CPU RNG state) and "loop" (the loop generator's state)
    state.json              step, optimizer param groups, LR scheduler state, EMA scalars, the run's config
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from talkgen.errors import ConfigError

STATE_FILE = "state.json"


def _save(tensors: dict[str, torch.Tensor], path: Path) -> None:
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(path))


def save_stored(model: torch.nn.Module, folder: Path, dtype: torch.dtype, **kwargs: Any) -> None:
    """``model.save_pretrained(folder)`` (safetensors) with its weights cast to ``dtype`` in place, as pipeline
    folders store them (talkgen loads them as float32). nn.Module's own cast: diffusers' ``.to`` warns about
    modules to keep in float32, which load as float32 anyway."""
    torch.nn.Module.to(model, dtype).save_pretrained(folder, safe_serialization=True, **kwargs)


def folder_codec(model_dir: str | Path) -> tuple[Path, torch.nn.Module]:
    """The pipeline folder ``model_dir`` and its codec (``vae/``, in eval mode), for the fits that train a component
    on the folder's own codec and add it (:func:`add_component`).

    Raises:
        WeightsError: ``model_dir`` has no ``model_index.json`` or no ``vae/``.
    """
    from talkgen.errors import WeightsError
    from talkgen.models.patch_codec import load_autoencoder

    folder = Path(model_dir)
    if not (folder / "model_index.json").is_file() or not (folder / "vae").is_dir():
        raise WeightsError(f"{folder} is not a pipeline folder with a vae/ and model_index.json")
    return folder, load_autoencoder(folder / "vae").eval()


def add_component(folder: Path, name: str, model: torch.nn.Module, class_path: list[str], **config: Any) -> None:
    """Store ``model`` as component ``name`` of the pipeline folder ``folder`` in float16 (``folder/name``, written
    beside it and moved into place whole, replacing one already there) and name it, and any ``config`` entries, in
    the folder's ``model_index.json``. The caller's ``model`` is left in its own dtype."""
    import copy
    import json
    import shutil

    from talkgen.fs import atomic_write_text

    folder = Path(folder)
    index_path = folder / "model_index.json"
    index = json.loads(index_path.read_text(encoding="utf-8"))
    partial, target = folder / f".{name}.partial", folder / name
    shutil.rmtree(partial, ignore_errors=True)
    save_stored(copy.deepcopy(model), partial, torch.float16)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    index[name] = list(class_path)
    index.update(config)
    atomic_write_text(index_path, json.dumps(dict(sorted(index.items())), indent=2) + "\n")


def save_checkpoint(
    directory: str | Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    generator: torch.Generator,
    ema: Any | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint folder (see the module docstring); returns it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_model(model, str(directory / "model.safetensors"))  # one copy of tied weights (T5's embeddings)
    opt_state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, state in opt_state["state"].items():
        for name, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = value
    _save(tensors, directory / "optimizer.safetensors")
    _save({"torch": torch.get_rng_state(), "loop": generator.get_state()}, directory / "rng.safetensors")
    state: dict[str, Any] = {
        "step": step,
        "optimizer": {"param_groups": opt_state["param_groups"], "scalars": scalars},
        "scheduler": scheduler.state_dict(),
        "extra": extra or {},
    }
    if ema is not None:
        ema_state = ema.state_dict()
        _save({str(i): p for i, p in enumerate(ema_state.pop("shadow_params"))}, directory / "ema.safetensors")
        state["ema"] = ema_state
    (directory / STATE_FILE).write_text(json.dumps(state, indent=1, default=str), encoding="utf-8")
    return directory


def load_checkpoint(
    directory: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    generator: torch.Generator,
    ema: Any | None = None,
) -> int:
    """Restore everything :func:`save_checkpoint` wrote, in place; returns the step."""
    directory = Path(directory)
    if not (directory / STATE_FILE).is_file():
        raise ConfigError(f"{directory} is not a checkpoint (no {STATE_FILE})")
    state = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
    device = next(model.parameters()).device
    load_model(model, str(directory / "model.safetensors"), device=str(device))
    opt_tensors = load_file(str(directory / "optimizer.safetensors"))
    opt_state: dict[int, dict[str, Any]] = {}
    for key, value in opt_tensors.items():
        index, name = key.split(".", 1)
        opt_state.setdefault(int(index), {})[name] = value
    for index, values in state["optimizer"]["scalars"].items():
        opt_state.setdefault(int(index), {}).update(values)
    optimizer.load_state_dict({"state": opt_state, "param_groups": state["optimizer"]["param_groups"]})
    scheduler.load_state_dict(state["scheduler"])
    rng = load_file(str(directory / "rng.safetensors"))
    torch.set_rng_state(rng["torch"])
    generator.set_state(rng["loop"])
    if ema is not None:
        if "ema" not in state:
            raise ConfigError(f"{directory} has no EMA weights but this run uses EMA (ema_decay > 0)")
        shadow = load_file(str(directory / "ema.safetensors"), device=str(device))
        ema_state = dict(state["ema"])
        ema_state["shadow_params"] = [shadow[str(i)] for i in range(len(shadow))]
        ema.load_state_dict(ema_state)
    return int(state["step"])


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The ``checkpoint-<step>`` folder with the highest step under ``output_dir``, or None."""
    found = []
    for path in Path(output_dir).glob("checkpoint-*"):
        suffix = path.name.removeprefix("checkpoint-")
        if suffix.isdigit() and (path / STATE_FILE).is_file():
            found.append((int(suffix), path))
    return max(found)[1] if found else None
