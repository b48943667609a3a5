"""Add a fitted mouth painter (a face crop and a jaw opening -> the crop with that mouth) to a talkgen pipeline folder.

    python scripts/fit_mouth_painter.py [MODEL_DIR] [--clips 800] [--steps 4000]   # MODEL_DIR: models/talkgen-tiny

Stage 13 of talkgen-tiny's recipe (minutes on 2 CPU cores): scene generation paints the voiced mouths of each
generated take's larger faces with it at the jaw opening the mouth head (stage 7) reads from their speech, where
the mouth locator (stage 10) finds them. Prints the held-out scores.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from talkgen.training.mouth_painter import add_mouth_painter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", nargs="?", type=Path, default=Path("models/talkgen-tiny"))
    # unset options take add_mouth_painter's defaults
    parser.add_argument("--clips", type=int, help="rendered world clips to train on (10%% held out)")
    parser.add_argument("--steps", type=int, help="training steps (batch 32)")
    parser.add_argument("--width", type=int, help="channels of the first level")
    args = vars(parser.parse_args())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    model_dir = args.pop("model_dir")
    fit = add_mouth_painter(model_dir, **{k: v for k, v in args.items() if v is not None})
    print(
        f"{model_dir}/mouth_painter: held-out L1 {fit.l1:.4f} inside the mouth box, painted opening vs jaw"
        f" correlation {fit.correlation:.3f} (the rendered crops' own {fit.truth_correlation:.3f}; {fit.crops} crops)"
    )


if __name__ == "__main__":
    main()
