"""CLI command ``talkgen dub VIDEO (--audio FILE | --text TEXT --voice V) -o out.mp4``: lip-sync existing footage."""

from __future__ import annotations

from pathlib import Path

import typer

from talkgen.commands import progress_bar
from talkgen.errors import ConfigError
from talkgen.pipelines.defaults import DUB_STEPS, FACE_CROP


def dub(
    video: Path = typer.Argument(..., help="Footage to dub (mp4, mov, mkv, webm, avi)."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Output with the new audio: .mp4 (H.264) or .mkv (lossless FFV1, for finishing)."
    ),
    audio: Path | None = typer.Option(None, "--audio", help="New speech (wav, flac, mp3 or a media file)."),
    text: str | None = typer.Option(None, "--text", help="New speech as text, spoken offline with --voice."),
    voice: str = typer.Option("en-us", "--voice", help="Voice for --text (see `talkgen voices`)."),
    audio_for: list[str] | None = typer.Option(
        None,
        "--audio-for",
        help="FACE=FILE, repeatable: one speech track per face, faces numbered from 1 left to right; faces without"
        " one are left as they are (give a silent track to keep a mouth closed).",
    ),
    strength: float | None = typer.Option(
        None, "--strength", help="Edit strength tau in [0, 1] (default: the model's; 0.4 for the shipped one)."
    ),
    extent: str = typer.Option(
        "mouth",
        "--extent",
        help="Edit region: mouth (feathered mouth box), face (the face box), frame, or a number in [0, 1].",
    ),  # fmt: skip
    face: str = typer.Option("all", "--face", help="Who speaks: all, a face index, or a box x0,y0,x1,y1."),
    length_policy: str = typer.Option("pad", "--length-policy", help="pad (never drops speech), trim or loop."),
    model: Path | None = typer.Option(
        None, "--model", help="Pipeline folder (default: $TALKGEN_MODEL_DIR, then the checkout's models/talkgen-tiny)."
    ),
    random_weights: bool = typer.Option(False, "--random-weights", help="Untrained tiny weights (a smoke test)."),
    steps: int = typer.Option(DUB_STEPS, "--steps", help="Sampling steps."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    max_side: int = typer.Option(
        256, "--max-side", help="Longest processing side in pixels of a whole-frame pass (--face-crop 0)."
    ),
    face_crop: float = typer.Option(
        FACE_CROP,
        "--face-crop",
        help="Dub each face in its own crop where it fills this share of the side, at the model's trained size"
        " (needs face boxes: MediaPipe or --truth); 0: one pass over the whole frame.",
    ),
    keep_background: float | None = typer.Option(
        None,
        "--keep-background",
        help="DB: mix the footage's own audio this many dB (e.g. -12) under the new speech; the track is used as it"
        " is, so give footage whose audio is the music-and-effects bed.",
    ),
    retime: bool = typer.Option(
        True,
        "--retime/--no-retime",
        help="Re-time the footage's own mouths to the new speech before the diffusion pass (models with a mouth"
        " head, such as the shipped one).",
    ),
    crf: int = typer.Option(10, "--crf", help="H.264 quality of an .mp4: 0 lossless, 10 default, 18 smaller."),
    mouth_box: str | None = typer.Option(
        None, "--mouth-box", help="x0,y0,x1,y1: a fixed mouth box in pixels when no face detector finds the face."
    ),
    truth: Path | None = typer.Option(
        None, "--truth", help="Synthetic-world ground truth (.truth.json): mouths from it instead of MediaPipe."
    ),
) -> None:
    """Re-time the lips in VIDEO to new speech; outside the mouth region the source pixels are kept (bit for bit in
    an .mkv, within ~48 dB after the default H.264 .mp4).

    Every input is checked (settings, footage, speech, mouth source, model folder) before the model loads.
    """
    from talkgen.pipelines.dub import (
        MAX_FACES,
        DubConfig,
        check_footage,
        dub_file,
        load_face_tracks,
        load_speech,
        mouth_locator,
        output_encoding,
    )
    from talkgen.pipelines.loading import resolve_model

    output_encoding(output, None)
    if audio_for and (audio is not None or text is not None or face != "all" or mouth_box is not None):
        raise ConfigError("--audio-for gives every face its own track: leave out --audio, --text, --face, --mouth-box")
    if not audio_for and (audio is None) == (text is None):
        raise ConfigError("give exactly one of --audio FILE, --text TEXT or --audio-for FACE=FILE")
    config = DubConfig(
        strength=strength, extent=extent, face=face, length_policy=length_policy, steps=steps, seed=seed,
        max_side=max_side, crf=crf, max_faces=MAX_FACES if audio_for else None, keep_background_db=keep_background,
        face_crop=face_crop or None, retime=retime,
    )  # fmt: skip
    mouths = mouth_locator(config, truth=truth, mouth_box=mouth_box)
    source_info = check_footage(video)  # footage and model are refused before any speech is made
    if not random_weights:
        resolve_model(model)
    edit_faces = None
    if audio_for:
        speech, edit_faces = load_face_tracks(audio_for)
    else:
        speech = load_speech(audio, text, voice)
    with progress_bar("dub") as progress:
        manifest = dub_file(
            video, output, speech, config, model=model, random_weights=random_weights, mouths=mouths,
            edit_faces=edit_faces, progress=progress, source_info=source_info,
        )  # fmt: skip
    h, w = manifest["processing_size"]
    typer.echo(
        f"wrote {manifest['output']} ({manifest['frames']} frames from {manifest['source_frames']}, mouth edited on"
        f" {manifest['mouth_frames']}, processed at {w}x{h}, colour drift {manifest['colour_drift']:.1f},"
        f" {manifest['timings']['total_s']:.1f} s)"
    )


def register(app: typer.Typer) -> None:
    """Add ``talkgen dub`` to ``app``."""
    app.command("dub")(dub)
