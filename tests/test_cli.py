"""The CLI entry points: version, `say` with its phoneme timeline, one-line user errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import soundfile as sf

from talkgen import __version__
from talkgen.cli import main


def test_version_and_module_entry_point(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"talkgen {__version__}"
    out = subprocess.run([sys.executable, "-m", "talkgen", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"talkgen {__version__}"


def test_say_writes_16k_wav_and_timeline(tmp_path):
    wav, timeline = tmp_path / "fox.wav", tmp_path / "fox.json"
    text = "The quick brown fox jumps over the lazy dog."
    assert main(["say", text, "-o", str(wav), "--phonemes", str(timeline)]) == 0
    info = sf.info(wav)
    assert info.samplerate == 16_000 and info.channels == 1
    data = json.loads(timeline.read_text())
    last_end = data["phonemes"][-1][2]
    assert abs(last_end - info.duration) < 0.05
    assert [w[0] for w in data["words"]][:3] == ["The", "quick", "brown"]


def test_user_errors_are_one_line_exit_2(tmp_path, capsys):
    assert main(["say", "   ", "-o", str(tmp_path / "x.wav")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "empty" in err
    assert main(["say", "hi", "--voice", "xx-none", "-o", str(tmp_path / "x.wav")]) == 2
    assert "unknown voice" in capsys.readouterr().err
    assert main(["say", "hi", "-o", str(tmp_path / "x.mp3")]) == 2
    assert not (tmp_path / "x.wav").exists() and not (tmp_path / "x.mp3").exists()
    assert main(["nonsense-command"]) == 2


def test_voices_lists_language_codes(capsys):
    assert main(["voices", "-l", "en"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("en-gb ") for line in lines) and all(" " in line for line in lines)
    assert main(["voices", "--variants"]) == 0
    assert "f3" in capsys.readouterr().out.split()


def test_synth_dataset_writes_edit_pairs_on_request(tmp_path):
    out = tmp_path / "data"
    args = ["synth", "dataset", "--n", "1", "--out", str(out), "--size", "16", "--frames", "9", "--edit-pairs"]
    assert main(args) == 0
    names = sorted(p.name for p in (out / "shard-00000").iterdir())
    assert names == [f"000000{s}" for s in sorted([".audio.npz", ".edit.audio.npz", ".edit.mp4", ".edit.truth.json",
                                                     ".mp4", ".truth.json"])]  # fmt: skip


def test_a_commands_exit_code_reaches_the_shell():
    """`talkgen jobs wait` exits 1 for a failed job through typer.Exit(1): main() must return that code."""
    import typer

    from talkgen.cli import app, main

    @app.command("exit-with-test-code")
    def _exit_with(code: int) -> None:
        raise typer.Exit(code)

    try:
        assert main(["exit-with-test-code", "1"]) == 1
        assert main(["exit-with-test-code", "3"]) == 3
        assert main(["exit-with-test-code", "0"]) == 0
    finally:
        app.registered_commands.pop()


def test_out_of_range_fps_is_one_line_and_exit_2(tmp_path, capsys):
    out = tmp_path / "x.mp4"
    scene = Path(__file__).resolve().parents[1] / "samples" / "scenes" / "monologue.yaml"
    assert main(["generate", str(scene), "-o", str(out), "--random-weights", "--fps", "500"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "fps 500.0 is outside 1-120" in err
    assert not out.exists()


def test_help_shows_no_type_beside_a_flag_and_arguments_in_capitals(capsys):
    """A flag takes no value: its help row names no type (``--random-weights``, ``--help``); valued options do.
    The usage line writes arguments as command lines do (``SCRIPT``, not ``{script}``)."""
    usage = {"generate": "[OPTIONS] SCRIPT", "dub": "[OPTIONS] VIDEO", "bench": "[OPTIONS]", "script": "FILE"}
    for command in (["generate"], ["dub"], ["bench"], ["script", "check"]):
        assert main([*command, "--help"]) == 0
        text = capsys.readouterr().out
        assert usage[command[0]] in text and "{" not in text.splitlines()[1], command
        assert "--help" in text and "<bool>" not in text, command
        assert "<int" in text or "<path>" in text or "<str>" in text, command  # valued options keep theirs
