"""CLI commands for the synthetic talking-character world (``talkgen synth preview|clip|dataset``)."""

from __future__ import annotations

from pathlib import Path

import typer

from talkgen.errors import ConfigError


def register(app: typer.Typer) -> None:
    """Add the ``synth`` command group to ``app``."""
    synth = typer.Typer(help="The synthetic talking-character world: previews, clips with ground truth, datasets.")
    app.add_typer(synth, name="synth")

    @synth.command("preview")
    def preview(
        seed: int = typer.Option(0, "--seed", help="First character seed."),
        output: Path = typer.Option(..., "-o", "--output", help="PNG contact sheet to write."),
        size: int = typer.Option(128, help="Tile size in pixels."),
    ) -> None:
        """Write a contact sheet of characters and viseme mouth shapes."""
        from talkgen.media.images import save_png
        from talkgen.synth.preview import contact_sheet

        if size < 32:
            raise ConfigError(f"--size must be >= 32, got {size}")
        if output.suffix.lower() != ".png":
            raise ConfigError(f"output {output} must end in .png")
        save_png(output, contact_sheet(seed, size))
        typer.echo(str(output))

    @synth.command("clip")
    def clip(
        seed: int = typer.Option(0, "--seed", help="Scene seed."),
        output: Path = typer.Option(..., "-o", "--output", help="mp4 to write; ground truth goes beside it."),
        size: int = typer.Option(128, help="Frame size in pixels (square)."),
        fps: float = typer.Option(25.0, help="Frames per second."),
        characters: int | None = typer.Option(None, "--characters", help="1-3 characters (default: from seed)."),
        mode: str | None = typer.Option(None, help="'cut' (a shot per turn) or 'continuous' (default: from seed)."),
        device: str = typer.Option("cpu", help="Torch device to render on."),
    ) -> None:
        """Render a talking clip with audio, and its ground truth as <name>.truth.json."""
        from talkgen.media import write_video
        from talkgen.synth.truth import truth_path_for
        from talkgen.synth.world import make_scene, render_clip

        if characters is not None and not 1 <= characters <= 3:
            raise ConfigError(f"--characters must be 1-3, got {characters}")
        if mode is not None and mode not in ("cut", "continuous"):
            raise ConfigError(f"--mode must be 'cut' or 'continuous', got {mode!r}")
        if size < 16 or fps <= 0:
            raise ConfigError("--size must be >= 16 and --fps positive")
        result = render_clip(make_scene(seed, characters, mode), size=size, fps=fps, device=device)
        write_video(output, result.frames.cpu().numpy(), result.fps, result.audio, result.sample_rate)
        truth = result.truth.save(truth_path_for(output))
        typer.echo(f"{output}\n{truth}")

    @synth.command("dataset")
    def dataset(
        n: int = typer.Option(..., "--n", help="Number of clips."),
        out: Path = typer.Option(..., "--out", help="Output folder (shards of mp4 + truth.json + audio.npz)."),
        workers: int = typer.Option(1, "--workers", help="Parallel processes."),
        seed: int = typer.Option(0, "--seed", help="Seed of the first clip (clip i uses seed + i)."),
        size: int = typer.Option(128, help="Frame size in pixels."),
        fps: float = typer.Option(25.0, help="Frames per second."),
        num_frames: int = typer.Option(49, "--frames", help="Frames per clip."),
        shard_size: int = typer.Option(256, help="Clips per shard folder."),
        edit_pairs: bool = typer.Option(
            False, "--edit-pairs", help="Also write each clip re-spoken (NNNNNN.edit.*), for lip-sync training."
        ),
        head_motion: float = typer.Option(
            1.0, "--head-motion", help="How much heads sway and nod, 0-1 (0: still heads; the lips alone move)."
        ),
    ) -> None:
        """Write a sharded dataset of clips with ground truth."""
        from talkgen.synth.dataset import SynthConfig, write_dataset

        config = SynthConfig(size=size, fps=fps, num_frames=num_frames, edit_pairs=edit_pairs, head_motion=head_motion)
        index = write_dataset(out, n, config, seed=seed, workers=workers, shard_size=shard_size, progress=True)
        typer.echo(str(index))
