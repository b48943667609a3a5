"""`talkgen serve` + `talkgen jobs submit|wait|status|fetch|cancel` end to end on loopback."""

from __future__ import annotations

import hashlib
import json

from talkgen.cli import main


def test_cli_client_round_trip(tmp_path, server_factory, capsys):
    token_file = tmp_path / "tokens"
    token_file.write_text("# studio tokens\ncli-token-0123456789abcdef\n")
    server = server_factory("--workers", "1", "--lease", "5", "--token-file", str(token_file)).start()
    common = ["--server", server.url, "--token-file", str(token_file)]
    assert main(["jobs", "submit", "c1", "--say", "from the command line", *common]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "c1"
    assert main(["jobs", "wait", "c1", "--timeout", "60", *common]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "succeeded"
    assert main(["jobs", "fetch", "c1", "--out", str(tmp_path / "out"), *common]) == 0
    capsys.readouterr()
    status = json.loads((main(["jobs", "status", "c1", *common]), capsys.readouterr().out)[1])
    wav = (tmp_path / "out" / "speech.wav").read_bytes()
    assert hashlib.sha256(wav).hexdigest() == status["outputs"]["speech.wav"]["sha256"]
    # user errors are one line with exit code 2
    assert main(["jobs", "status", "nope", *common]) == 2
    assert "HTTP 404" in capsys.readouterr().err
    assert main(["jobs", "status", "c1", "--server", server.url]) == 2
    assert "HTTP 401" in capsys.readouterr().err
    server.stop()
