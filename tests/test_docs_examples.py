"""The examples of README.md and docs/ run as written (from the repository root, as a reader would run them).

Not run here: the set-up commands (CI runs them on a fresh machine), the gradio_client examples (run against a live
app in tests/app/test_app_docs.py), docs/training.md (hours of training), and the one command that names the user's
own local UMT5 tokenizer folder.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest
from docs_blocks import REPO, code_blocks

SCRIPT_EXAMPLES = [("README.md", 0), ("docs/scripts.md", 0)]


@pytest.mark.parametrize(("markdown", "index"), SCRIPT_EXAMPLES)
def test_yaml_script_examples_pass_script_check(markdown, index, tmp_path):
    """Each YAML example, saved as a script at the repository root (its audio/ and samples/ paths beside it)."""
    for folder in ("audio", "samples"):
        os.symlink(REPO / folder, tmp_path / folder)
    script = tmp_path / "scene.yaml"
    script.write_text(code_blocks(markdown, "yaml")[index], encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "talkgen", "script", "check", str(script)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "scene 1/1: Coffee break" in proc.stdout and "Ben" in proc.stdout


def test_script_check_commands_of_docs_scripts_run():
    lines = [ln.split("#")[0].strip() for ln in code_blocks("docs/scripts.md", "bash")[0].splitlines()]
    commands = [shlex.split(ln) for ln in lines if ln]
    runnable = [c for c in commands if not any(a.startswith("/models/") for a in c)]
    assert len(runnable) == len(commands) - 1  # only the local-tokenizer example is left out
    for command in runnable:
        assert command[0] == "talkgen"
        proc = subprocess.run([sys.executable, "-m", "talkgen", *command[1:]], cwd=REPO, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        assert proc.returncode == 0, f"{' '.join(command)}: {proc.stderr}"
        assert proc.stdout.strip()


def test_python_example_of_docs_scripts_runs(monkeypatch):
    monkeypatch.chdir(REPO)
    namespace: dict = {}
    exec(compile(code_blocks("docs/scripts.md", "python")[0], "docs/scripts.md", "exec"), namespace)  # noqa: S102
    assert namespace["plan"].num_frames > 0 and len(namespace["plan"].clips) >= 1
