"""Add a fitted mouth head (speech -> jaw opening) to a talkgen pipeline folder with the built-in audio encoder.

    python scripts/fit_mouth_head.py [MODEL_DIR] [--scenes 300]     # default MODEL_DIR: models/talkgen-tiny

Stage 7 of talkgen-tiny's recipe (about 7 minutes on 2 CPU cores): dubbing re-times the footage's mouths to the new
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
    parser.add_argument("--context", type=int, default=8, help="frames of speech either side of a frame it reads")
    parser.add_argument("--hidden", type=int, default=512, help="hidden layer width; 0: a ridge regression")
    parser.add_argument("--epochs", type=int, default=14, help="passes over the scenes (with --hidden)")
    args = parser.parse_args()
    fit = add_mouth_head(
        args.model_dir, scenes=args.scenes, context=args.context, hidden=args.hidden, epochs=args.epochs
    )
    print(
        f"{args.model_dir}/mouth_head: held-out jaw correlation {fit.heldout_correlation:.3f} "
        f"({fit.frames} frames of {fit.scenes - int(fit.scenes * 0.85)} scenes)"
    )


if __name__ == "__main__":
    main()
