"""CLI command ``talkgen generate SCRIPT -o out.mp4``: script -> shot plan -> speech -> video + srt + manifest."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import typer

from talkgen.errors import ConfigError, WeightsError

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "talkgen-tiny"
LAYOUT = (
    "a pipeline folder with model_index.json and transformer/, vae/, text_encoder/, tokenizer/, audio_encoder/,"
    " scheduler/ subfolders (safetensors weights)"
)


def _model_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every weight file in a pipeline folder, by relative path."""
    hashes = {}
    for path in sorted(folder.rglob("*.safetensors")):
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        hashes[str(path.relative_to(folder))] = digest.hexdigest()
    return hashes


def _load_pipeline(model: Path | None, random_weights: bool, seed: int):
    """(pipeline, model description) from --model, the embedded default, or random tiny weights."""
    from talkgen.pipelines.pipeline_talking import TalkingCharacterPipeline, build_tiny_pipeline

    folder = model if model is not None else DEFAULT_MODEL_DIR
    if (folder / "model_index.json").is_file():
        try:
            pipe = TalkingCharacterPipeline.from_pretrained(folder, local_files_only=True, use_safetensors=True)
        except (OSError, ValueError) as exc:
            raise WeightsError(f"could not load the pipeline from {folder}: {exc}; expected {LAYOUT}") from None
        return pipe, {"path": str(folder), "hashes": _model_hashes(folder)}
    if model is None and random_weights:
        return build_tiny_pipeline(seed=seed), {"path": None, "random_weights": True, "init_seed": seed}
    hint = "" if model is not None else " (or pass --model DIR, or --random-weights for an untrained test model)"
    raise WeightsError(f"no model at {folder}: expected {LAYOUT}{hint}")


def _versions() -> dict[str, str]:
    import diffusers
    import torch
    import transformers

    from talkgen import __version__

    return {"talkgen": __version__, "torch": torch.__version__, "diffusers": diffusers.__version__,
            "transformers": transformers.__version__}  # fmt: skip


def generate(
    script: Path = typer.Argument(..., help="A .yaml scene script or a .fountain screenplay."),
    output: Path = typer.Option(..., "--output", "-o", help="Output .mp4 (out.srt and out.manifest.json beside)."),
    model: Path | None = typer.Option(None, "--model", help="Pipeline folder (default: models/talkgen-tiny)."),
    random_weights: bool = typer.Option(False, "--random-weights", help="Use untrained tiny weights if no model."),
    seed: int = typer.Option(0, "--seed", help="Random seed (one generator per clip)."),
    steps: int = typer.Option(20, "--steps", min=1, help="Sampling steps per window."),
    size: int = typer.Option(128, "--size", min=16, help="Square frame size in pixels (multiple of 16)."),
    fps: float | None = typer.Option(None, "--fps", help="Frame rate (default: the script's)."),
    device: str = typer.Option("cpu", "--device", help="torch device, e.g. cpu or cuda."),
    scene: int = typer.Option(1, "--scene", min=1, help="Scene number (1-based) of a Fountain file."),
) -> None:
    """Render SCRIPT to a talking-character video with its dialogue track, subtitles and a manifest."""
    from dataclasses import replace

    from talkgen.fs import atomic_write_text
    from talkgen.media import write_video
    from talkgen.pipelines.scene import SceneRenderConfig, render_scene, subtitles_srt
    from talkgen.prompts import CachedTiming, known_voices, load_scenes, plan_scene, speech_timing

    if output.suffix.lower() != ".mp4":
        raise ConfigError(f"output {output} must end in .mp4")
    try:
        config = SceneRenderConfig(seed=seed, num_inference_steps=steps, height=size, width=size)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    started = time.perf_counter()
    scenes = load_scenes(script, voices=known_voices())
    if scene > len(scenes):
        raise ConfigError(f"--scene {scene}: {script} has {len(scenes)} scene(s) with dialogue")
    chosen = scenes[scene - 1]
    if fps is not None:
        if fps <= 0:
            raise ConfigError(f"--fps must be positive, got {fps}")
        chosen = replace(chosen, settings=replace(chosen.settings, fps=fps))
    plan = plan_scene(chosen, CachedTiming(speech_timing))
    pipe, model_info = _load_pipeline(model, random_weights, seed)
    try:
        pipe.to(device)
    except (RuntimeError, AssertionError) as exc:
        raise ConfigError(f"--device {device}: {exc}") from None
    try:
        result = render_scene(pipe, plan, config)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    start = time.perf_counter()
    write_video(output, result.frames, plan.fps, result.audio, result.sample_rate)
    result.timings["encode_s"] = time.perf_counter() - start
    result.timings["total_s"] = time.perf_counter() - started
    srt = output.with_suffix(".srt")
    atomic_write_text(srt, subtitles_srt(plan))
    manifest = {
        "script": str(script),
        "output": str(output),
        "seed": seed,
        "steps": steps,
        "size": [size, size],
        "fps": plan.fps,
        "frames": int(result.frames.shape[0]),
        "clips": len(plan.clips),
        "device": device,
        "model": model_info,
        "guidance": vars(config.guidance),
        "versions": _versions(),
        "timings": {k: round(v, 3) for k, v in result.timings.items()},
    }
    manifest_path = output.with_suffix(".manifest.json")
    atomic_write_text(manifest_path, json.dumps(manifest, indent=1))
    typer.echo(
        f"wrote {output} ({result.frames.shape[0]} frames, {plan.duration:.2f} s, {len(plan.clips)} clip(s)),"
        f" {srt.name}, {manifest_path.name}"
    )


def register(app: typer.Typer) -> None:
    """Add ``talkgen generate`` to ``app``."""
    app.command("generate")(generate)
