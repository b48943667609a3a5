"""CLI command ``talkgen dub VIDEO (--audio FILE | --text TEXT --voice V) -o out.mp4``: lip-sync existing footage."""

from __future__ import annotations

from pathlib import Path

import typer

from talkgen.errors import ConfigError


def _speech(audio: Path | None, text: str | None, voice: str) -> object:
    """The new speech, (N,) float32 at 16 kHz, from --audio or --text/--voice."""
    from talkgen.audio.io import load_audio
    from talkgen.audio.tts import synthesize

    if (audio is None) == (text is None):
        raise ConfigError("give exactly one of --audio FILE or --text TEXT")
    if audio is not None:
        return load_audio(audio, 16_000)
    return synthesize(text, voice, sample_rate=16_000).waveform


def dub(
    video: Path = typer.Argument(..., help="Footage to dub (mp4, mov, mkv, webm, avi)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output .mp4 with the new audio."),
    audio: Path | None = typer.Option(None, "--audio", help="New speech (wav, flac, mp3 or a media file)."),
    text: str | None = typer.Option(None, "--text", help="New speech as text, spoken offline with --voice."),
    voice: str = typer.Option("en-us", "--voice", help="Voice for --text (see `talkgen voices`)."),
    strength: float | None = typer.Option(None, "--strength", help="Edit strength tau in [0, 1] (default 0.92)."),
    extent: str = typer.Option("mouth", "--extent", help="Edit region: mouth, face, frame or a number in [0, 1]."),
    face: str = typer.Option("all", "--face", help="Who speaks: all, a face index, or a box x0,y0,x1,y1."),
    length_policy: str = typer.Option("pad", "--length-policy", help="pad (never drops speech), trim or loop."),
    model: Path | None = typer.Option(
        None, "--model", help="Pipeline folder (default: $TALKGEN_MODEL_DIR, then the checkout's models/talkgen-tiny)."
    ),
    random_weights: bool = typer.Option(False, "--random-weights", help="Untrained tiny weights (a smoke test)."),
    steps: int = typer.Option(20, "--steps", help="Sampling steps."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    max_side: int = typer.Option(256, "--max-side", help="Longest processing side in pixels."),
    mouth_box: str | None = typer.Option(
        None, "--mouth-box", help="x0,y0,x1,y1: a fixed mouth box in pixels when no face detector finds the face."
    ),
    truth: Path | None = typer.Option(
        None, "--truth", help="Synthetic-world ground truth (.truth.json): mouths from it instead of MediaPipe."
    ),
) -> None:
    """Re-time the lips in VIDEO to new speech; outside the mouth region the frames stay bit-identical."""
    from talkgen.pipelines.loading import load_lipsync
    from talkgen.pipelines.mouth import MediaPipeMouthLocator, StaticMouthLocator, TruthMouthLocator, parse_face
    from talkgen.pipelines.pipeline_lipsync import DubConfig, dub_video

    if output.suffix.lower() != ".mp4":
        raise ConfigError(f"output {output} must end in .mp4")
    config = DubConfig(
        strength=strength,
        extent=extent,
        face=face,
        length_policy=length_policy,
        steps=steps,
        seed=seed,
        max_side=max_side,
        max_faces=1 if face == "all" else 4,
    )
    if truth is not None and mouth_box is not None:
        raise ConfigError("give at most one of --truth and --mouth-box")
    if truth is not None:
        from talkgen.synth.truth import GroundTruth

        mouths = TruthMouthLocator(GroundTruth.load(truth))
    elif mouth_box is not None:
        try:
            box = parse_face(mouth_box)
        except ValueError:
            box = None
        if not isinstance(box, tuple):
            raise ConfigError(f"--mouth-box must be x0,y0,x1,y1 in pixels, got {mouth_box!r}")
        mouths = StaticMouthLocator(box)
    else:
        mouths = MediaPipeMouthLocator(max_faces=config.max_faces)
    speech = _speech(audio, text, voice)
    pipe = load_lipsync(model, random_weights, seed)
    try:
        report = dub_video(pipe, video, output, speech, config, mouths=mouths)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    typer.echo(
        f"wrote {report.output} ({report.num_frames} frames from {report.source_frames}, mouth edited on"
        f" {report.face_frames}, processed at {report.processing_size[1]}x{report.processing_size[0]},"
        f" colour drift {report.colour_drift:.1f}, {report.seconds:.1f} s)"
    )


def register(app: typer.Typer) -> None:
    """Add ``talkgen dub`` to ``app``."""
    app.command("dub")(dub)
