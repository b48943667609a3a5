"""Finding and loading pipeline folders: local directories only, with errors that name the expected layout."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from talkgen.errors import WeightsError

MODEL_DIR_ENV = "TALKGEN_MODEL_DIR"
SHIPPED_MODEL = "talkgen-tiny"
LAYOUT = (
    "a pipeline folder with model_index.json and transformer/, vae/, text_encoder/, tokenizer/, audio_encoder/,"
    " scheduler/ subfolders (safetensors weights)"
)


def model_search_path() -> list[Path]:
    """Where the default model is looked for, in order: ``$TALKGEN_MODEL_DIR`` (a pipeline folder, or a folder
    holding ``talkgen-tiny/``), then ``models/talkgen-tiny`` of the source checkout this package runs from (an
    editable install; a wheel has none)."""
    places = []
    if os.environ.get(MODEL_DIR_ENV):
        root = Path(os.environ[MODEL_DIR_ENV]).expanduser()
        places += [root, root / SHIPPED_MODEL]
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file():
        places.append(checkout / "models" / SHIPPED_MODEL)
    return places


def default_model_dir() -> Path | None:
    """The first pipeline folder on :func:`model_search_path`, or None."""
    return next((p for p in model_search_path() if (p / "model_index.json").is_file()), None)


def resolve_model(model: Path | None) -> Path:
    """``model`` (it must hold a pipeline) or the default model; WeightsError naming every place looked at."""
    if model is not None:
        folder = Path(model)
        if not (folder / "model_index.json").is_file():
            raise WeightsError(f"no model at {folder}: expected {LAYOUT}")
        return folder
    folder = default_model_dir()
    if folder is None:
        looked = ", ".join(str(p) for p in model_search_path()) or "nowhere"
        raise WeightsError(
            f"no model found (looked in: {looked}): pass --model DIR ({LAYOUT}), set {MODEL_DIR_ENV}=DIR, "
            "or pass --random-weights for an untrained test model"
        )
    return folder


def model_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every weight file in a pipeline folder, by relative path."""
    hashes = {}
    for path in sorted(folder.rglob("*.safetensors")):
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        hashes[str(path.relative_to(folder))] = digest.hexdigest()
    return hashes


KINDS = ("talking", "lipsync")
COMPONENT_PACKAGE = "talkgen.models."  # the only non-diffusers/transformers libraries a talkgen folder may name


def _import_components(folder: Path) -> None:
    """Import the talkgen component modules ``model_index.json`` names: diffusers loads a component class only from
    a library that is already imported (it never imports one itself), and a fresh process has not imported them.
    Only modules of :mod:`talkgen.models` are imported; any other library is diffusers' to accept or refuse."""
    import importlib
    import json

    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{folder / 'model_index.json'} is not readable JSON ({exc}); expected {LAYOUT}") from None
    if not isinstance(index, dict):
        raise WeightsError(f"{folder / 'model_index.json'} is not a JSON object; expected {LAYOUT}")
    for value in index.values():
        library = value[0] if isinstance(value, list) and value and isinstance(value[0], str) else ""
        if library.startswith(COMPONENT_PACKAGE) and library.replace(".", "").replace("_", "").isalnum():
            try:
                importlib.import_module(library)
            except ImportError:
                raise WeightsError(f"{folder}: component library {library} does not exist in this talkgen") from None


def load_pipeline(kind: str, model: Path | None = None, random_weights: bool = False, seed: int = 0):
    """(pipeline, model description) of ``kind`` (``talking``: scenes; ``lipsync``: dubbing) from ``model``, the
    default model (:func:`model_search_path`) or, opt-in, random tiny weights.

    ``random_weights`` always gives untrained tiny weights (a fast smoke test of the whole path), even where a default
    model is installed; ``seed`` seeds those weights only (noise seeds belong to the run settings). Weights may be
    stored in float16 (the shipped model); compute starts in float32.

    Raises:
        WeightsError: no pipeline folder where one was expected, or it failed to load; names the layout.
    """
    if kind not in KINDS:
        raise ValueError(f"pipeline kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if random_weights:
        if model is not None:
            raise WeightsError(f"--random-weights builds untrained weights: drop it to use the model at {model}")
        if kind == "talking":
            from talkgen.pipelines.pipeline_talking import build_tiny_pipeline as build
        else:
            from talkgen.pipelines.pipeline_lipsync import build_tiny_lipsync_pipeline as build
        return build(seed=seed), {"path": None, "random_weights": True, "init_seed": seed}
    folder = resolve_model(model)
    _import_components(folder)
    import torch

    if kind == "talking":
        from talkgen.pipelines.pipeline_talking import TalkingCharacterPipeline as cls
    else:
        from talkgen.pipelines.pipeline_lipsync import LipSyncPipeline as cls
    try:
        # dubbing draws no first frames and finds mouths with its own locators (MediaPipe, --truth, a box)
        skip = (
            {}
            if kind == "talking"
            else {"keyframe_transformer": None, "mouth_locator": None, "attribute_reader": None, "mouth_painter": None}
        )
        pipe = cls.from_pretrained(folder, local_files_only=True, use_safetensors=True, dtype=torch.float32, **skip)
    except (OSError, ValueError, KeyError, TypeError) as exc:  # a malformed model_index.json or component
        raise WeightsError(f"could not load the pipeline from {folder}: {exc}; expected {LAYOUT}") from None
    return pipe, {"path": str(folder), "hashes": model_hashes(folder)}
