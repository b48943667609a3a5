"""Add a fitted mouth locator (frames -> mouth boxes) to a talkgen pipeline folder.

    python scripts/fit_mouth_locator.py [MODEL_DIR] [--clips 600] [--steps 2000]   # MODEL_DIR: models/talkgen-tiny

Stage 10 of talkgen-tiny's recipe (minutes on 2 CPU cores): scene generation re-times the mouths of each generated
take to its speech (with the mouth head, stage 7) where it finds them with it. Prints the held-out scores.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from talkgen.training.mouth_locator import add_mouth_locator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", nargs="?", type=Path, default=Path("models/talkgen-tiny"))
    # unset options take add_mouth_locator's defaults
    parser.add_argument("--clips", type=int, help="rendered world clips to train on (10%% held out)")
    parser.add_argument("--steps", type=int, help="training steps (batch 32)")
    parser.add_argument("--width", type=int, help="channels of the deeper layers")
    parser.add_argument("--drawn", type=int, help="first frames drawn by the model's keyframe transformer (0: none)")
    args = vars(parser.parse_args())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    model_dir = args.pop("model_dir")
    fit = add_mouth_locator(model_dir, **{k: v for k, v in args.items() if v is not None})
    print(
        f"{model_dir}/mouth_locator: held-out mouths found {fit.found:.3f}, centre error {fit.centre_error_px:.2f} px"
        f" ({fit.mouths} mouths in {fit.frames} frames)"
        + (
            f"; on drawn first frames found {fit.drawn_found:.3f}, centre error {fit.drawn_centre_error_px:.2f} px"
            if fit.drawn_found is not None
            else ""
        )
    )


if __name__ == "__main__":
    main()
