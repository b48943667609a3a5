"""CLI command ``talkgen generate SCRIPT -o out.mp4``: script -> shot plan -> speech -> video + srt + manifest."""

from __future__ import annotations

from pathlib import Path

import typer

from talkgen.commands import progress_bar
from talkgen.pipelines.defaults import GENERATE_STEPS, KEYFRAME_STEPS, MAX_KEYFRAME_DRAWS


def generate(
    script: Path = typer.Argument(..., help="A .yaml scene script or a .fountain screenplay."),
    output: Path = typer.Option(..., "--output", "-o", help="Output .mp4 (out.srt and out.manifest.json beside)."),
    model: Path | None = typer.Option(
        None, "--model", help="Pipeline folder (default: $TALKGEN_MODEL_DIR, then the checkout's models/talkgen-tiny)."
    ),
    random_weights: bool = typer.Option(False, "--random-weights", help="Untrained tiny weights (a smoke test)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (one generator per clip)."),
    steps: int = typer.Option(GENERATE_STEPS, "--steps", min=1, help="Sampling steps per window."),
    size: int = typer.Option(128, "--size", min=16, help="Square frame size in pixels (multiple of 16)."),
    fps: float | None = typer.Option(None, "--fps", help="Frame rate (default: the script's)."),
    device: str = typer.Option("cpu", "--device", help="torch device, e.g. cpu or cuda."),
    scene: int = typer.Option(1, "--scene", min=1, help="Scene number (1-based) of a Fountain file."),
    dtype: str = typer.Option("float32", "--dtype", help="float32, bfloat16 or float16 (half precision on GPUs)."),
    cpu_offload: bool = typer.Option(False, "--cpu-offload", help="Keep idle components on the CPU (GPU only)."),
    vae_tiling: bool = typer.Option(False, "--vae-tiling", help="Decode in spatial tiles to save memory."),
    keyframe: bool = typer.Option(
        True,
        "--keyframe/--no-keyframe",
        help="Draw each take's first frame with the model's keyframe transformer (when it has one and the character"
        " has no image); --no-keyframe leaves it to the video transformer.",
    ),
    keyframe_steps: int = typer.Option(
        KEYFRAME_STEPS, "--keyframe-steps", min=1, help="Sampling steps of each take's keyframe (first frame)."
    ),
    keyframe_draws: int | None = typer.Option(
        None,
        "--keyframe-draws",
        min=1,
        max=MAX_KEYFRAME_DRAWS,
        help="Keyframes drawn for a one-character take whose prompt names colours; the one the model's attribute"
        " reader reads most like them is kept (1: one draw; default: the model's, 3 for the shipped one).",
    ),
    retime: bool = typer.Option(
        True,
        "--retime/--no-retime",
        help="Re-time each take's generated mouths to its speech (when the model has a mouth head and a mouth"
        " locator); --no-retime keeps the mouths the video transformer draws.",
    ),
    reference_anchor: float | None = typer.Option(
        None,
        "--reference-anchor",
        min=0.0,
        max=1.0,
        help="Share of each take's first frame blended into the motion latents of its later windows (0: none, 1: every"
        " window restarts from it; default: the model's, 0.5 for the shipped one).",
    ),
) -> None:
    """Render SCRIPT to a talking-character video with its dialogue track, subtitles and a manifest."""
    from talkgen.pipelines.generate import GenerateOptions, generate_scene_file

    options = GenerateOptions(
        model, random_weights, seed, steps, size, fps, device, scene, dtype, cpu_offload, vae_tiling, keyframe, retime,
        reference_anchor, keyframe_steps, keyframe_draws,
    )  # fmt: skip
    with progress_bar("generate") as progress:
        manifest = generate_scene_file(script, output, options, progress)
    typer.echo(
        f"wrote {output} ({manifest['frames']} frames, {manifest['duration_s']:.2f} s, {manifest['clips']} clip(s)),"
        f" {output.with_suffix('.srt').name}, {output.with_suffix('.manifest.json').name}"
    )


def register(app: typer.Typer) -> None:
    """Add ``talkgen generate`` to ``app``."""
    app.command("generate")(generate)
