"""CLI commands for evaluation: ``talkgen eval sync|world`` and ``talkgen bench``."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from talkgen.errors import ConfigError
from talkgen.fs import finite_json, write_json


def register(app: typer.Typer) -> None:
    """Add the ``eval`` command group and the ``bench`` command to ``app``."""
    ev = typer.Typer(help="Weight-free lip-sync and stability metrics.", no_args_is_help=True)
    app.add_typer(ev, name="eval")

    @ev.command("sync")
    def sync(
        video: Path = typer.Argument(..., help="Video with a visible face."),
        audio: Path | None = typer.Option(None, "--audio", help="Speech to compare with (default: the video's)."),
        plot: Path | None = typer.Option(None, "--plot", help="Write a PNG of the tracks and correlations."),
        json_out: Path | None = typer.Option(None, "--json", help="Write the full report as JSON."),
        max_lag: int = typer.Option(15, "--max-lag", help="Lags searched each side, in frames."),
        max_faces: int = typer.Option(1, "--max-faces", help="Faces tracked; the longest-present one is measured."),
        truth: Path | None = typer.Option(
            None,
            "--truth",
            help="A synthetic-world clip's ground truth: mouths read in its boxes (default: <video>.truth.json if"
            " it exists, else MediaPipe).",
        ),
    ) -> None:
        """Real-face lip sync: offset (frames; positive = audio lags video), confidence, correlation at 0."""
        from talkgen.eval.sync import evaluate_sync

        if not 1 <= max_lag <= 100:
            raise ConfigError(f"--max-lag must be 1..100, got {max_lag}")
        if plot is not None and plot.suffix.lower() != ".png":
            raise ConfigError(f"--plot {plot} must end in .png")
        report = evaluate_sync(video, audio, max_lag=max_lag, max_faces=max_faces, truth_path=truth)
        r = report.result
        typer.echo(
            f"offset {r.offset:+d} frames ({r.offset_seconds:+.3f} s; positive = audio lags video)  "
            f"confidence {r.confidence:.3f}  corr@0 {r.correlation_at_zero:.3f}  corr@offset {r.correlation:.3f}  "
            f"face in {report.face_fraction:.0%} of {report.num_frames} frames"
            + ("  (mouths read in the ground truth's boxes)" if report.reader == "world" else "")
        )
        if plot is not None:
            from talkgen.eval.plot import plot_sync

            plot_sync(r, plot, title=f"{video.name}: offset {r.offset:+d}, confidence {r.confidence:.3f}")
            typer.echo(str(plot))
        if json_out is not None:
            write_json(json_out, finite_json(report.to_dict(include_tracks=True)))
            typer.echo(str(json_out))

    @ev.command("world")
    def world(
        video: Path = typer.Argument(..., help="Video of a synthetic scene (a render or a model's output)."),
        truth: Path | None = typer.Option(None, "--truth", help="Ground truth (default: <video>.truth.json)."),
        reference: Path | None = typer.Option(
            None, "--reference", help="The ground-truth render, to compare drift and flicker with."
        ),
        json_out: Path | None = typer.Option(None, "--json", help="Write the report as JSON."),
        frames_policy: str = typer.Option(
            "exact",
            "--frames",
            help="exact: the video must have the truth's frame count; overlap: score the frames both have (a dub"
            " padded or trimmed to its new speech).",
        ),
        plot: Path | None = typer.Option(None, "--plot", help="Write a PNG of each character's mouth vs truth."),
    ) -> None:
        """Synthetic-world scores: mouth from pixels vs ground truth, attribution, silence, drift, flicker."""
        if frames_policy not in ("exact", "overlap"):
            raise ConfigError(f"--frames must be exact or overlap, got {frames_policy!r}")
        if plot is not None and plot.suffix.lower() != ".png":
            raise ConfigError(f"--plot {plot} must end in .png")
        from talkgen.eval.world import evaluate_world
        from talkgen.media import read_video
        from talkgen.synth.truth import GroundTruth, truth_path_for

        gt = GroundTruth.load(truth if truth is not None else truth_path_for(video))
        frames, _ = read_video(video)
        if len(frames) != gt.num_frames:
            if frames_policy == "exact":
                raise ConfigError(
                    f"{video} has {len(frames)} frames but its ground truth {gt.num_frames}: a dub padded or trimmed"
                    " to new speech is scored with --frames overlap; otherwise check --truth"
                )
            n = min(len(frames), gt.num_frames)
            typer.echo(f"scoring the {n} frames video and truth share (video {len(frames)}, truth {gt.num_frames})")
            frames, gt = frames[:n], gt.head(n)
        ref = read_video(reference)[0][: gt.num_frames] if reference is not None else None
        rep = evaluate_world(frames, gt, reference_frames=ref)
        for c in rep.characters:
            typer.echo(
                f"{c.tag}: corr {c.correlation:.3f}  offset {c.offset:+d}  confidence {c.confidence:.3f}  "
                f"closed-in-silence {c.closed_in_silence:.3f}  drift {c.identity_drift:.4f}"
            )
        ref_txt = "" if rep.reference_flicker is None else f" (ground truth {rep.reference_flicker:.4f})"
        if rep.face_match is not None:
            ref_txt += f"  face match {rep.face_match:.3f} (ground truth 1)"
        typer.echo(
            f"all: corr {rep.correlation:.3f}  offset {rep.offset:+d} (positive = audio lags video)  "
            f"speaker attribution {rep.speaker_attribution:.3f}  flicker {rep.flicker:.4f}{ref_txt}"
        )
        if plot is not None:
            from talkgen.eval.plot import plot_world
            from talkgen.eval.world import read_mouth_openings

            title = f"{video.name}: corr {rep.correlation:.3f}"
            if math.isfinite(rep.speaker_attribution):  # one character: nothing to attribute
                title += f", attribution {rep.speaker_attribution:.3f}"
            typer.echo(str(plot_world(rep, gt, read_mouth_openings(frames, gt), plot, title=title)))
        if json_out is not None:
            write_json(json_out, rep.to_dict())
            typer.echo(str(json_out))

    @app.command("bench")
    def bench(
        model: Path | None = typer.Option(None, "--model", help="Pipeline folder to benchmark (model row)."),
        output: Path | None = typer.Option(None, "-o", "--output", help="Write rows and per-case reports as JSON."),
        suite: str = typer.Option("full", "--suite", help="'full' or 'ci' (reduced size)."),
        device: str = typer.Option("cpu", "--device", help="Torch device for rendering and the model."),
        random_weights: bool = typer.Option(
            False, "--random-weights", help="Add a model row with untrained tiny weights (a pipeline smoke test)."
        ),
        steps: int | None = typer.Option(
            None, "--steps", min=1, help="Sampling steps of the model row (default: what generate and dub use)."
        ),
        seed: int = typer.Option(0, "--seed", help="Seed of the model row (plus each case's seed)."),
        sheet: Path | None = typer.Option(
            None, "--sheet", help="With a model: write the prompt-vs-first-frame contact sheet (PNG) here."
        ),
        attributes: bool = typer.Option(
            True,
            "--attributes/--no-attributes",
            help="With a model: score prompt attributes of 12 held-out characters.",
        ),
    ) -> None:
        """Held-out synthetic scenes: a markdown table with ceiling, floor and model rows."""
        from talkgen.eval.bench import SUITES, markdown_table, pipeline_model, run_bench

        if suite not in SUITES:
            raise ConfigError(f"--suite must be one of {sorted(SUITES)}, got {suite!r}")
        render, name, pipe = None, "model", None
        if model is not None or random_weights:
            from talkgen.pipelines.loading import load_pipeline

            pipe, info = load_pipeline("talking", model, random_weights, seed)
            pipe.to(device)
            lipsync = load_pipeline("lipsync", model, random_weights, seed)[0].to(device)
            render = pipeline_model(pipe, steps=steps, seed=seed, lipsync=lipsync)
            shown = "default steps" if steps is None else f"{steps} steps"
            name = f"model ({info['path'] or 'untrained tiny weights'}, {shown})"
        rows = run_bench(SUITES[suite], model=render, model_name=name, device=device)
        typer.echo(markdown_table(rows))
        result = {"suite": suite, "rows": [finite_json(r.to_dict()) for r in rows]}
        if sheet is not None and sheet.suffix.lower() != ".png":
            raise ConfigError(f"--sheet {sheet} must end in .png")
        if pipe is not None and (attributes or sheet is not None):
            from talkgen.eval.bench import attribute_rows, attribute_table

            rows_attr = attribute_rows(pipe, steps=steps, seed=seed, size=128, sheet=sheet)
            typer.echo("\n" + attribute_table(rows_attr))
            result["attributes"] = [finite_json(vars(r)) for r in rows_attr]
        if output is not None:
            write_json(output, result)
            typer.echo(str(output))
