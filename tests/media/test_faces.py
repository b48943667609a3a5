"""MediaPipe face tracking as users see it on the terminal."""

from __future__ import annotations


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
