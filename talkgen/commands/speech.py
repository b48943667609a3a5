"""CLI commands for offline speech: ``talkgen voices`` and ``talkgen say``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from talkgen import SPEECH_RATE


def voices(
    variants: bool = typer.Option(False, "--variants", help="List voice variants (e.g. f3, m2) instead of voices."),
    language: str = typer.Option("", "--language", "-l", help="Only voices whose language starts with this."),
    presets: bool = typer.Option(False, "--presets", help="List the named voice presets (ben, narrator...)."),
) -> None:
    """List the offline voices (espeak-ng) usable in scripts and `talkgen say`."""
    from talkgen.audio.tts import list_variants, list_voices

    if presets:
        from talkgen.audio.presets import voice_presets

        for p in voice_presets().values():
            variant = f"+{p.variant}" if p.variant else ""
            typer.echo(f"{p.name:<10} {p.voice + variant:<12} rate {p.rate:<4} pitch {p.pitch:<3} {p.about}")
        return
    if variants:
        for name in list_variants():
            typer.echo(name)
        return
    for v in list_voices():
        if language and not any(lang.lower().startswith(language.lower()) for lang in v.languages):
            continue
        code = v.languages[0] if v.languages else v.identifier
        typer.echo(f"{code:<22} {v.name:<40} {v.gender}")


def say(
    text: str = typer.Argument(..., help="What to say."),
    output: Path = typer.Option(..., "--output", "-o", help="Output .wav file."),
    voice: str = typer.Option(
        "en-us", "--voice", help="Voice name, language code or named preset (`talkgen voices [--presets]`)."
    ),
    variant: str = typer.Option(None, "--variant", help="Voice variant, e.g. f3 or m2 (`talkgen voices --variants`)."),
    rate: int | None = typer.Option(None, "--rate", help="Words per minute (80-450; default: the preset's, or 175)."),
    pitch: int | None = typer.Option(None, "--pitch", help="Base pitch 0-99 (default: the preset's, or 50)."),
    sample_rate: int = typer.Option(SPEECH_RATE, "--sample-rate", help="Output sample rate in Hz."),
    phonemes: Path = typer.Option(None, "--phonemes", help="Also write the phoneme and word timeline as JSON."),
) -> None:
    """Speak TEXT offline into a wav file, optionally with its phoneme timeline."""
    from talkgen.audio.io import save_wav
    from talkgen.audio.tts import synthesize
    from talkgen.errors import TalkgenError
    from talkgen.fs import atomic_write_text

    if output.suffix.lower() != ".wav":
        raise TalkgenError(f"output {output} must end in .wav")
    speech = synthesize(text, voice, variant=variant, rate=rate, pitch=pitch, sample_rate=sample_rate)
    save_wav(output, speech.waveform, speech.sample_rate)
    if phonemes is not None:
        timeline = {
            "sample_rate": speech.sample_rate,
            "duration": speech.duration,
            "phonemes": [[p.symbol, round(p.start, 4), round(p.end, 4)] for p in speech.phonemes],
            "words": [[w.text, round(w.start, 4), round(w.end, 4)] for w in speech.words],
        }
        atomic_write_text(phonemes, json.dumps(timeline, ensure_ascii=False, indent=1))
    typer.echo(f"wrote {output} ({speech.duration:.2f} s at {speech.sample_rate} Hz, {len(speech.phonemes)} phonemes)")


def register(app: typer.Typer) -> None:
    app.command()(voices)
    app.command()(say)
