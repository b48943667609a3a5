"""``talkgen probe FILE``: the report, JSON output, and one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from talkgen.cli import main


def test_probe_prints_report(clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", str(clip)]) == 0
    out = capsys.readouterr().out
    assert "container:  mp4 (mov,mp4,m4a,3gp,3g2,mj2)" in out
    assert "duration:   2.000 s" in out
    assert "resolution: 128x96" in out
    assert "fps:        25.000" in out
    assert "video h264" in out and "audio aac (44100 Hz, 1 ch)" in out


def test_probe_json(clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", str(clip), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["width"] == 128 and report["height"] == 96 and report["fps"] == 25.0
    assert [s["codec"] for s in report["streams"]] == ["h264", "aac"]


@pytest.mark.parametrize("content", [b"#EXTM3U\n#EXTINF:1,\nhttp://x/a.ts\n", b"not media at all"])
def test_probe_refusal_is_one_line_exit_2(tmp_path: Path, content: bytes, capsys) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    assert main(["probe", str(bad)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(bad) in lines[0]
    assert "Traceback" not in captured.err + captured.out
