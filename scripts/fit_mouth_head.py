"""Add a fitted mouth head (speech -> jaw opening) to a talkgen pipeline folder with the built-in audio encoder.

    python scripts/fit_mouth_head.py [MODEL_DIR] [--scenes 300]     # default MODEL_DIR: models/talkgen-tiny

Stage 7 of talkgen-tiny's recipe (about a minute on 2 CPU cores): dubbing re-times the footage's mouths to the new
speech with it (talkgen.pipelines.retime). Prints the held-out jaw correlation.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from talkgen.training.mouth_head import add_mouth_head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", nargs="?", type=Path, default=Path("models/talkgen-tiny"))
    parser.add_argument("--scenes", type=int, default=300, help="spoken world scenes to fit on (15%% held out)")
    args = parser.parse_args()
    fit = add_mouth_head(args.model_dir, scenes=args.scenes)
    print(
        f"{args.model_dir}/mouth_head: held-out jaw correlation {fit.heldout_correlation:.3f} "
        f"({fit.frames} frames of {fit.scenes - int(fit.scenes * 0.85)} scenes)"
    )


if __name__ == "__main__":
    main()
