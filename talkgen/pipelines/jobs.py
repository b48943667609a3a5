"""Batch-API job entry points for ``generate`` and ``dub`` (named in ``talkgen.serve.jobs.PIPELINE_ENTRY_POINTS``).

Each takes the validated request, its input files by name, an output folder and progress/cancel callbacks, and
returns the files it wrote. The server offers two models by name: ``talkgen-tiny`` (the embedded default folder)
and ``untrained-tiny`` (random tiny weights: a smoke test of the whole path, not a useful render).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from talkgen.errors import ConfigError

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]
MODELS = ("talkgen-tiny", "untrained-tiny")


def _model_choice(name: str) -> bool:
    """``random_weights`` for a model name the server offers."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; this server offers: {', '.join(MODELS)}")
    return name == "untrained-tiny"


def generate_job(spec, inputs: dict[str, Path], out_dir: Path, progress: ProgressFn, should_cancel: CancelFn):
    """Render ``spec.script`` (YAML) with its uploaded assets into ``scene.mp4``, ``.srt`` and ``.manifest.json``."""
    from talkgen.fs import atomic_write_text
    from talkgen.pipelines.generate import GenerateOptions, generate_scene_file
    from talkgen.serve.jobs import JobCancelled

    random_weights = _model_choice(spec.model)
    if spec.width is not None and spec.height is not None and spec.width != spec.height:
        raise ConfigError(f"frames are square: width {spec.width} and height {spec.height} differ")
    size = spec.width or spec.height or 128
    options = GenerateOptions(
        random_weights=random_weights, seed=spec.seed, steps=spec.num_inference_steps or 20, size=size, fps=spec.fps
    )
    folder = next(iter(inputs.values())).parent if inputs else out_dir.parent / "script"
    script = folder / "_scene.yaml"  # asset names start with a letter or digit, so this never overwrites one
    atomic_write_text(script, spec.script)  # beside the assets, so the script's relative audio paths resolve

    def report(fraction: float, message: str) -> None:  # called between denoising steps: the cancel point
        if should_cancel():
            raise JobCancelled()
        progress(fraction, message)

    output = out_dir / "scene.mp4"
    generate_scene_file(script, output, options, report)
    return {p.name: p for p in (output, output.with_suffix(".srt"), output.with_suffix(".manifest.json"))}


def dub_job(spec, inputs: dict[str, Path], out_dir: Path, progress: ProgressFn, should_cancel: CancelFn):
    """Dub the uploaded ``footage`` with the uploaded ``speech`` (or ``text`` spoken offline) into ``dub.mp4``."""
    from talkgen.pipelines.dub import DubConfig, dub_file, load_speech
    from talkgen.serve.jobs import JobCancelled

    random_weights = _model_choice(spec.model)
    config = DubConfig(strength=spec.strength, steps=spec.num_inference_steps or 20, seed=spec.seed)
    if "speech" not in inputs and not spec.text:
        raise ConfigError("a dub job needs 'speech' (an uploaded audio file) or 'text'")
    speech = load_speech(inputs.get("speech"), None if "speech" in inputs else spec.text, spec.voice)

    def report(fraction: float, message: str) -> None:
        if should_cancel():
            raise JobCancelled()
        progress(fraction, message)

    output = out_dir / "dub.mp4"
    dub_file(inputs["footage"], output, speech, config, random_weights=random_weights, progress=report)
    return {p.name: p for p in (output, output.with_suffix(".manifest.json"))}
