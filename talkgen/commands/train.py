"""CLI commands for training (``talkgen train dit|vae --config FILE``)."""

from __future__ import annotations

from pathlib import Path

import typer

from talkgen.errors import ConfigError


def _run(
    task: str,
    config_path: Path,
    steps: int | None,
    output_dir: Path | None,
    resume: str | None,
    data_dir: Path | None,
) -> None:
    from talkgen.training import TrainConfig, build_trainer

    config = TrainConfig.from_yaml(config_path)
    if config.task != task:
        raise ConfigError(f"{config_path} is a {config.task!r} config; use `talkgen train {config.task}`")
    changes: dict[str, object] = {}
    if steps is not None:
        changes["steps"] = steps
    if output_dir is not None:
        changes["output_dir"] = str(output_dir)
    if resume is not None:
        changes["resume_from"] = resume
    if data_dir is not None:
        changes["data_dir"] = str(data_dir)
    config = config.replace(**changes) if changes else config
    if task == "codec":
        from talkgen.training.codec import fit_codec

        typer.echo(str(fit_codec(config, progress=True)))
        return
    trainer = build_trainer(config)
    records = trainer.train(progress=True)
    final = trainer.export()
    if records:
        typer.echo(f"step {records[-1]['step']} loss {records[-1]['loss']:.6f}")
    typer.echo(str(final))


def register(app: typer.Typer) -> None:
    """Add the ``train`` command group and the ``export`` and ``prepare`` commands to ``app``."""
    train = typer.Typer(help="Train the talking-character DiT or its VAE on the synthetic world or on shards.")
    app.add_typer(train, name="train")

    config_opt = typer.Option(..., "--config", "-c", help="Training config YAML (see configs/).")
    steps_opt = typer.Option(None, "--steps", help="Override the config's total steps.")
    out_opt = typer.Option(None, "--output-dir", help="Override the config's output_dir.")
    resume_opt = typer.Option(None, "--resume", help="Checkpoint folder or 'latest' to resume from.")
    data_opt = typer.Option(
        None, "--data-dir", help="Train on shards (talkgen synth dataset / talkgen prepare) instead of the live world."
    )

    def command(task: str, summary: str) -> None:
        def run(
            config: Path = config_opt,
            steps: int | None = steps_opt,
            output_dir: Path | None = out_opt,
            resume: str | None = resume_opt,
            data_dir: Path | None = data_opt,
        ) -> None:
            _run(task, config, steps, output_dir, resume, data_dir)

        run.__doc__ = summary
        train.command(task)(run)

    command("dit", "Flow-matching training of the transformer (and built-in audio encoder) on frozen-VAE latents.")
    command("vae", "Reconstruction + KL training of the video VAE.")
    command("audio", "Pretraining of the built-in audio encoder on the synthetic world's mouth parameters.")
    command("text", "Pretraining of the tiny T5 text encoder on the synthetic world's character attributes.")
    command("codec", "Fit the tiny preset's patch codec (principal components) on synthetic clips.")

    @app.command("export")
    def export(
        run_dir: Path = typer.Argument(..., help="A `talkgen train dit` output folder."),
        model_dir: Path = typer.Option(..., "--output", "-o", help="Pipeline folder to write."),
        max_shard_mb: int | None = typer.Option(None, "--max-shard-mb", help="Largest weight shard, in MB."),
        dtype: str = typer.Option("float32", "--dtype", help="Storage dtype: float32, float16 or bfloat16."),
        checkpoint: Path | None = typer.Option(
            None, "--checkpoint", help="A checkpoint-<step> folder of the run to export instead of its final/."
        ),
    ) -> None:
        """Write a pipeline folder (model_index.json + components) from a run's EMA weights."""
        from talkgen.training.export import export_pipeline

        shard = f"{max_shard_mb}MB" if max_shard_mb is not None else None
        typer.echo(str(export_pipeline(run_dir, model_dir, max_shard_size=shard, dtype=dtype, checkpoint=checkpoint)))

    @app.command("blend")
    def blend(
        base: Path = typer.Argument(..., help="Pipeline folder the result copies (e.g. the shipped one)."),
        other: Path = typer.Argument(..., help="Pipeline or transformer folder of the same shape (a later stage)."),
        weight: float = typer.Option(..., "--weight", "-w", help="OTHER's share of the blended transformer, 0..1."),
        model_dir: Path = typer.Option(..., "--output", "-o", help="New pipeline folder to write."),
    ) -> None:
        """Write a copy of BASE whose transformer is (1 - weight) BASE + weight OTHER."""
        from talkgen.training.blend import blend_transformers

        typer.echo(str(blend_transformers(base, other, weight, model_dir)))

    @app.command("prepare")
    def prepare(
        footage_dir: Path = typer.Argument(..., help="Folder of videos (+ sidecar <stem>.txt / <stem>.srt captions)."),
        out: Path = typer.Option(..., "--out", "-o", help="Shard folder to write."),
        scene_threshold: float = typer.Option(30.0, "--scene-threshold", help="Cut above this mean frame diff."),
        min_frames: int = typer.Option(9, "--min-frames", help="Drop scenes shorter than this."),
        max_faces: int = typer.Option(1, "--max-faces", help="Face slots tracked per clip."),
    ) -> None:
        """Cut users' footage into face clips with 16 kHz audio, captions and speech flags (training shards)."""
        from talkgen.training.prepare import PrepareConfig, prepare_footage

        config = PrepareConfig(scene_threshold=scene_threshold, min_frames=min_frames, max_faces=max_faces)
        report = prepare_footage(footage_dir, out, config, progress=True)
        for item in report["skipped"]:
            typer.echo(f"skipped {item['file']}: {item['reason']}", err=True)
        typer.echo(f"{report['clips']} clips from {len(report['files'])} files -> {out}")
