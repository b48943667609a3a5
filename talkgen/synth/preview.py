"""Contact sheet of the synthetic world: characters in their expressions, and one character's viseme shapes."""

from __future__ import annotations

import numpy as np
import torch

from talkgen.synth.characters import EXPRESSIONS, make_character
from talkgen.synth.render import ActorPose, background, draw_character
from talkgen.synth.sdf import Canvas, Frame2D


def _portraits(
    seeds: list[int], mouths: np.ndarray, expressions: list[str], size: int, device: torch.device
) -> np.ndarray:
    """(len(seeds), size, size, 3) uint8 close-ups; ``mouths`` (N, 5)."""
    tiles = []
    for seed, mouth, expr in zip(seeds, mouths, expressions, strict=True):
        ch = make_character(seed)
        one = np.ones(1)
        head = Frame2D(one * size / 2, one * size * 0.47, one * size * 0.3, one * 0.0, device)
        canvas = Canvas(background("gradient", ("grey", "white"), size, size, device), 1)
        pose = ActorPose(head, head, one, one * 0.0, one * 0.0, mouth[None], expr)
        draw_character(canvas, ch, pose)
        tiles.append(canvas.to_uint8()[0].cpu().numpy())
    return np.stack(tiles)


def contact_sheet(seed: int = 0, size: int = 128, columns: int = 6, device: str | torch.device = "cpu") -> np.ndarray:
    """A sheet (H, W, 3) uint8: two rows of characters ``seed...`` in varied expressions, two rows of visemes.

    The viseme rows show character ``seed`` making each of the 12 viseme shapes (REST, CLOSED, OPEN, WIDE, ROUND,
    SMALL_ROUND, LIP_TEETH, TONGUE, TEETH, PROTRUDED, MID, BACK).
    """
    from talkgen.audio.visemes import VISEME_PARAMS

    dev = torch.device(device)
    n_chars = 2 * columns
    open_mouth = np.tile(VISEME_PARAMS[2], (n_chars, 1))
    open_mouth[::2] = VISEME_PARAMS[0]
    chars = _portraits(
        [seed + i for i in range(n_chars)],
        open_mouth,
        [EXPRESSIONS[i % len(EXPRESSIONS)] for i in range(n_chars)],
        size,
        dev,
    )
    n_vis = len(VISEME_PARAMS)
    vis = _portraits([seed] * n_vis, VISEME_PARAMS, ["neutral"] * n_vis, size, dev)
    tiles = np.concatenate([chars, vis])
    rows = -(-len(tiles) // columns)
    pad = rows * columns - len(tiles)
    if pad:
        tiles = np.concatenate([tiles, np.full((pad, size, size, 3), 255, np.uint8)])
    grid = tiles.reshape(rows, columns, size, size, 3).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(grid.reshape(rows * size, columns * size, 3))
