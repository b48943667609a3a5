"""MediaPipe face tracking as users see it on the terminal."""

from __future__ import annotations


def test_while_native_logs_are_hidden_python_still_writes_to_stderr(capfd):
    """What the graph's threads write to file descriptor 2 is dropped for the mesh's whole life; Python's own
    stderr (warnings, logging, print) reaches the real one meanwhile, and everything is as before afterwards."""
    import os
    import sys

    from talkgen.media.faces import _quiet_native_logs

    before = sys.stderr
    with _quiet_native_logs():
        os.write(2, b"native INFO line\n")
        print("python says", file=sys.stderr)
    os.write(2, b"native after\n")
    assert sys.stderr is before
    err = capfd.readouterr().err
    assert "python says" in err and "native after" in err and "native INFO line" not in err


def test_mediapipe_native_log_lines_stay_off_stderr():
    """TFLite/absl INFO and WARNING lines a user cannot act on are hidden; Python's stderr still works afterwards."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from talkgen.media.faces import FaceMeshTracker\n"
        "FaceMeshTracker(max_faces=1).track(np.zeros((3, 64, 64, 3), np.uint8))\n"
        "print('after', file=sys.stderr)\n"
    )
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stderr
    assert err.strip() == "after", err
