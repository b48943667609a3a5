"""Script file -> finished video: the one library entry point behind ``talkgen generate``, the web app and the
batch API. Writes ``out.mp4`` (video + dialogue track), ``out.srt`` and ``out.manifest.json``; each file appears
atomically."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from talkgen.errors import ConfigError
from talkgen.pipelines.defaults import GENERATE_STEPS, KEYFRAME_STEPS

DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class GenerateOptions:
    """Run-time options of a scene render (validated in ``__post_init__``)."""

    model: Path | None = None
    random_weights: bool = False
    seed: int = 0
    steps: int = GENERATE_STEPS
    size: int = 128
    fps: float | None = None
    device: str = "cpu"
    scene: int = 1
    dtype: str = "float32"
    cpu_offload: bool = False
    vae_tiling: bool = False
    keyframe: bool = True
    retime: bool = True
    reference_anchor: float | None = None  # None: the model's own (model_index.json)
    keyframe_steps: int = KEYFRAME_STEPS  # sampling steps of each take's first frame (with keyframe)
    keyframe_draws: int | None = None  # first frames a one-character take picks from; None: the model's

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ConfigError(f"steps must be >= 1, got {self.steps}")
        if self.size < 16 or self.size % 16:
            raise ConfigError(f"size must be a multiple of 16 and at least 16, got {self.size}")
        if self.fps is not None and self.fps <= 0:
            raise ConfigError(f"fps must be positive, got {self.fps}")
        if self.scene < 1:
            raise ConfigError(f"scene numbers start at 1, got {self.scene}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.cpu_offload and not self.device.startswith("cuda"):
            raise ConfigError("CPU offload moves idle components off a GPU: it needs --device cuda")
        from talkgen.pipelines.render_plan import check_take_settings

        # the render's own rules, before any loading
        check_take_settings(self.keyframe_steps, self.reference_anchor, self.keyframe_draws)


def publish_manifest(path: Path, **public: str) -> dict:
    """Replace server paths in a manifest by the names a remote user knows, in place (atomically); returns it.

    ``model``: the model's path is dropped and ``name`` added (its hashes stay); any other key present is set to
    its value (``script="script"``, ``output="scene.mp4"``...). The batch API and the web app publish manifests so.
    """
    from talkgen.fs import atomic_write_text

    manifest = json.loads(Path(path).read_text(encoding="utf-8"))
    for key, value in public.items():
        if key == "model" and isinstance(manifest.get("model"), dict):
            manifest["model"] = {k: v for k, v in manifest["model"].items() if k != "path"} | {"name": value}
        elif key in manifest:
            manifest[key] = value
    atomic_write_text(Path(path), json.dumps(manifest, indent=1))
    return manifest


def versions() -> dict[str, str]:
    import diffusers
    import torch
    import transformers

    from talkgen import __version__

    return {"talkgen": __version__, "torch": torch.__version__, "diffusers": diffusers.__version__,
            "transformers": transformers.__version__}  # fmt: skip


def prepare_pipeline(pipe, options: GenerateOptions) -> None:
    """Apply the memory/speed levers: dtype, model CPU offload (GPU only) or device placement, VAE tiling."""
    import torch

    try:
        if options.dtype != "float32":  # pipelines load in float32; casting to it again only warns
            pipe.to(dtype=getattr(torch, options.dtype))
        if options.cpu_offload:
            pipe.enable_model_cpu_offload(device=options.device)
        else:
            pipe.to(options.device)
    except (RuntimeError, AssertionError, ValueError) as exc:
        raise ConfigError(f"device {options.device}: {exc}") from None
    if options.vae_tiling:
        pipe.vae.enable_tiling()


def generate_scene_file(
    script: Path,
    output: Path,
    options: GenerateOptions,
    progress: Callable[[float, str], None] | None = None,
    *,
    file_roots: Sequence[Path] | None = None,
    roots_names: tuple[str, str] | None = None,
) -> dict:
    """Render the scene script ``script`` to ``output`` (.mp4) with ``.srt`` and ``.manifest.json`` beside it.

    ``progress(fraction, message)`` is called per stage and after every denoising step; it may raise to cancel.

    Returns:
        The manifest (seed, settings, model hashes, versions, per-stage timings).
    """
    from talkgen.fs import atomic_write_text
    from talkgen.media import write_video
    from talkgen.pipelines.loading import load_pipeline
    from talkgen.pipelines.render_plan import SceneRenderConfig, render_scene, subtitles_srt
    from talkgen.prompts import CachedTiming, known_voices, load_scenes, plan_scene, speech_timing

    output = Path(output)
    if output.suffix.lower() != ".mp4":
        raise ConfigError(f"output {output} must end in .mp4")
    config = SceneRenderConfig(
        seed=options.seed, num_inference_steps=options.steps, height=options.size, width=options.size,
        keyframe=options.keyframe, retime=options.retime, reference_anchor=options.reference_anchor,
        keyframe_steps=options.keyframe_steps, keyframe_draws=options.keyframe_draws,
    )  # fmt: skip
    started = time.perf_counter()
    scenes = load_scenes(script, voices=known_voices(), file_roots=file_roots, roots_names=roots_names)
    if options.scene > len(scenes):
        raise ConfigError(f"scene {options.scene}: {script} has {len(scenes)} scene(s) with dialogue")
    chosen = scenes[options.scene - 1]
    if options.fps is not None:
        chosen = replace(chosen, settings=replace(chosen.settings, fps=options.fps))
    plan = plan_scene(chosen, CachedTiming(speech_timing))
    pipe, model_info = load_pipeline("talking", options.model, options.random_weights)
    prepare_pipeline(pipe, options)
    pipe.set_progress_bar_config(disable=True)  # progress goes through ``progress`` (one bar in the CLI)
    report = progress or (lambda fraction, message: None)
    report(0.05, "planned; loading the model")

    def on_step(clip_index: int, done: int, total: int) -> None:
        report(0.1 + 0.8 * done / total, f"clip {clip_index + 1}/{len(plan.clips)}, step {done}/{total}")

    try:
        result = render_scene(pipe, plan, config, on_step=on_step)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    report(0.92, "encoding the video")
    start = time.perf_counter()
    write_video(output, result.frames, plan.fps, result.audio, result.sample_rate)
    result.timings["encode_s"] = time.perf_counter() - start
    result.timings["total_s"] = time.perf_counter() - started
    atomic_write_text(output.with_suffix(".srt"), subtitles_srt(plan))
    manifest = {
        "script": str(script),
        "output": str(output),
        "seed": options.seed,
        "steps": options.steps,
        "keyframe": result.keyframe,
        "keyframe_steps": options.keyframe_steps if result.keyframe else None,
        "keyframe_draws": pipe.resolved_keyframe_draws(options.keyframe_draws) if result.keyframe else None,
        "retimed": result.retimed,
        "reference_anchor": pipe.config.get("reference_anchor")
        if options.reference_anchor is None
        else options.reference_anchor,
        "size": [options.size, options.size],
        "fps": plan.fps,
        "frames": int(result.frames.shape[0]),
        "duration_s": plan.duration,
        "clips": len(plan.clips),
        "device": options.device,
        "dtype": options.dtype,
        "model": model_info,
        "guidance": vars(config.guidance),
        "versions": versions(),
        "timings": {k: round(v, 3) for k, v in result.timings.items()},
    }
    atomic_write_text(output.with_suffix(".manifest.json"), json.dumps(manifest, indent=1))
    report(1.0, "done")
    return manifest
