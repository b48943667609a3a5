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
    # unset options take add_mouth_head's defaults (300 scenes, context 8, 512 wide, 14 passes)
    parser.add_argument("--scenes", type=int, help="spoken world scenes to fit on (15%% held out)")
    parser.add_argument("--context", type=int, help="frames of speech either side of a frame it reads")
    parser.add_argument("--hidden", type=int, help="hidden layer width; 0: a ridge regression")
    parser.add_argument("--epochs", type=int, help="passes over the scenes (with --hidden)")
    args = vars(parser.parse_args())
    model_dir = args.pop("model_dir")
    fit = add_mouth_head(model_dir, **{k: v for k, v in args.items() if v is not None})
    print(
        f"{model_dir}/mouth_head: held-out jaw correlation {fit.heldout_correlation:.3f} "
        f"({fit.frames} frames of {fit.scenes - int(fit.scenes * 0.85)} scenes)"
    )


if __name__ == "__main__":
    main()
