"""Add a fitted attribute reader (frame -> its character's colours) to a talkgen pipeline folder.

    python scripts/fit_attribute_reader.py [MODEL_DIR] [--stills 20000] [--steps 1500] [--draws 3]

A stage of talkgen-tiny's recipe (minutes on 2 CPU cores): a one-character take whose prompt names colours draws
``--draws`` first frames and keeps the one the reader reads most like them (``keyframe_draws`` in the folder's
``model_index.json``). Prints the held-out accuracy per part; ``benchmarks/bench_keyframe.py --draws N`` measures
the picks.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from talkgen.training.attribute_reader import add_attribute_reader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", nargs="?", type=Path, default=Path("models/talkgen-tiny"))
    # unset options take add_attribute_reader's defaults
    parser.add_argument("--stills", type=int, help="rendered single-character stills to train on (10%% held out)")
    parser.add_argument("--steps", type=int, help="training steps (batch 64)")
    parser.add_argument("--width", type=int, help="channels of the convolutions")
    parser.add_argument("--size", type=int, help="side the reader resizes frames to")
    parser.add_argument("--draws", type=int, dest="keyframe_draws", help="keyframe draws of the folder's default")
    args = vars(parser.parse_args())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    model_dir = args.pop("model_dir")
    fit = add_attribute_reader(model_dir, **{k: v for k, v in args.items() if v is not None})
    scores = ", ".join(f"{part} {value:.3f}" for part, value in fit.accuracy.items())
    print(f"{model_dir}/attribute_reader: held-out accuracy {scores} ({fit.stills} stills)")


if __name__ == "__main__":
    main()
