"""Do generated characters match their prompts? Colours the world knows, read back from first frames.

For a held-out character the ground-truth render says exactly which pixels are its skin, shirt, hair and hat (the
renderer fills each part with its flat colour). Those masks (eroded by a pixel, so edges and anti-aliasing do not
count) are laid on the *generated* first frame, the median colour under each mask is named by the nearest colour
of the world's vocabulary (skin tones for skin, the plain colours for the rest), and the name is compared with the
character's attribute, which is what its prompt says.

Rows, as in the lip-sync bench: the ceiling scores the ground-truth frames (near 1), the floor scores each
ground-truth frame against another character's attributes (prompt mismatch, near chance), and the model row scores
generated frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from talkgen.synth.characters import COLORS, SKIN_TONES, Character

PARTS = ("skin", "shirt", "hair", "hat")
COLOUR_TOLERANCE = 0.02  # max |rgb - part rgb| (0-1) for a ground-truth pixel to belong to a part
MIN_PIXELS = 6
# Held-out characters: scene seeds far from every training range (training scenes start at data_seed = 0).
ATTRIBUTE_SEEDS = tuple(range(7_000_000_000, 7_000_000_012))


def attribute_names(character: Character) -> dict[str, str]:
    """The prompt's colour words for each part the character has (no hair when bald, no hat when none)."""
    names = {"skin": character.skin, "shirt": character.shirt_color}
    if character.hair_style != "bald":
        names["hair"] = character.hair_color
    if character.hat != "none":
        names["hat"] = character.hat_color
    return names


def part_masks(frame: np.ndarray, character: Character, face_box: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """(H, W, 3) uint8 ground-truth frame -> {part: bool (H, W) mask} of the pixels painted in that part's colour.

    Only parts the character has, with at least ``MIN_PIXELS`` pixels after a one-pixel erosion. With the
    character's ``face_box`` (x0, y0, x1, y1), only columns within half a face width of it count (so background
    props of the same colour do not).
    """
    rgb = frame.astype(np.float32) / 255.0
    region = np.ones(frame.shape[:2], dtype=bool)
    if face_box is not None and np.isfinite(face_box).all():
        x0, _, x1, _ = (float(v) for v in face_box)
        half = 0.5 * (x1 - x0)
        columns = np.arange(frame.shape[1]) + 0.5
        region &= ((columns >= x0 - half) & (columns <= x1 + half))[None, :]
    masks = {}
    for part in attribute_names(character):
        colour = np.asarray(character.rgb(part), dtype=np.float32)
        mask = np.abs(rgb - colour).max(axis=-1) <= COLOUR_TOLERANCE
        mask = _erode(mask & region)
        if mask.sum() >= MIN_PIXELS:
            masks[part] = mask
    return masks


def _erode(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    out[1:] &= mask[:-1]
    out[:-1] &= mask[1:]
    out[:, 1:] &= mask[:, :-1]
    out[:, :-1] &= mask[:, 1:]
    return out


def nearest_colour(rgb: np.ndarray, part: str) -> str:
    """The vocabulary name closest to ``rgb`` (3,) in [0, 1]: skin tones for skin, plain colours otherwise."""
    palette = SKIN_TONES if part == "skin" else COLORS
    names = list(palette)
    table = np.asarray([palette[n] for n in names], dtype=np.float32)
    return names[int(np.argmin(((table - rgb[None]) ** 2).sum(-1)))]


def read_attributes(frame: np.ndarray, masks: dict[str, np.ndarray]) -> dict[str, str]:
    """Colour names of ``frame`` (H, W, 3) uint8 under each part mask (median colour, nearest vocabulary name)."""
    rgb = frame.astype(np.float32) / 255.0
    return {part: nearest_colour(np.median(rgb[mask], axis=0), part) for part, mask in masks.items()}


@dataclass
class AttributeRow:
    """Share of attributes read back as the prompt says, overall and per part, over the held-out characters."""

    name: str
    agreement: float
    per_part: dict[str, float] = field(default_factory=dict)
    count: int = 0


def _row(name: str, hits: dict[str, list[bool]]) -> AttributeRow:
    every = [h for part in PARTS for h in hits.get(part, [])]
    per_part = {part: float(np.mean(hits[part])) for part in PARTS if hits.get(part)}
    return AttributeRow(name, float(np.mean(every)) if every else float("nan"), per_part, len(every))


@dataclass
class AttributeCase:
    """A held-out close-up: its scene, ground-truth first frame, part masks, caption and speech."""

    seed: int
    character: Character
    frame: np.ndarray
    masks: dict[str, np.ndarray]
    caption: str
    streams: np.ndarray
    sample_rate: int
    frames: int


def attribute_cases(
    seeds: tuple[int, ...] = ATTRIBUTE_SEEDS, size: int = 128, fps: float = 25.0
) -> list[AttributeCase]:
    """One single-character close-up per seed (one line), rendered with its ground truth."""
    from talkgen.synth.world import make_scene, render_clip

    cases = []
    for seed in seeds:
        scene = make_scene(seed, num_characters=1, mode="cut", num_lines=1)
        clip = render_clip(scene, size=size, fps=fps)
        frame = clip.frames[0].cpu().numpy()
        character = scene.characters[0]
        cases.append(
            AttributeCase(
                seed, character, frame, part_masks(frame, character, clip.truth.characters[0].face_box[0]),
                clip.truth.caption, clip.audio_per_character,
                clip.sample_rate, int(clip.frames.shape[0]),
            )
        )  # fmt: skip
    return cases


def score_attributes(
    cases: list[AttributeCase], first_frames: Callable[[AttributeCase], np.ndarray] | None = None, name: str = "model"
) -> list[AttributeRow]:
    """Ceiling, floor and (with ``first_frames(case) -> (H, W, 3) uint8``) model rows."""
    ceiling: dict[str, list[bool]] = {}
    floor: dict[str, list[bool]] = {}
    model: dict[str, list[bool]] = {}
    for i, case in enumerate(cases):
        truth = attribute_names(case.character)
        other = attribute_names(cases[(i + 1) % len(cases)].character)
        seen = read_attributes(case.frame, case.masks)
        for part, word in seen.items():
            ceiling.setdefault(part, []).append(word == truth[part])
            if part in other:
                floor.setdefault(part, []).append(word == other[part])
        if first_frames is not None:
            generated = read_attributes(np.asarray(first_frames(case)), case.masks)
            for part, word in generated.items():
                model.setdefault(part, []).append(word == truth[part])
    rows = [_row("ceiling (ground-truth renders)", ceiling), _row("floor (another character's prompt)", floor)]
    if first_frames is not None:
        rows.append(_row(name, model))
    return rows


def contact_sheet(cases: list[AttributeCase], frames: list[np.ndarray], columns: int = 4) -> np.ndarray:
    """A uint8 image: for each case its prompt's attribute words above the generated first frame and the truth."""
    from PIL import Image, ImageDraw

    h, w = cases[0].frame.shape[:2]
    cell_w, text_h = 2 * w + 8, 48
    rows = (len(cases) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * cell_w, rows * (h + text_h)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for k, (case, frame) in enumerate(zip(cases, frames, strict=True)):
        x, y = (k % columns) * cell_w, (k // columns) * (h + text_h)
        words = attribute_names(case.character)
        lines = [f"seed {case.seed}", ", ".join(f"{p} {v}" for p, v in words.items() if p in ("skin", "shirt"))]
        lines.append(", ".join(f"{p} {v}" for p, v in words.items() if p in ("hair", "hat")) or "no hair, no hat")
        for j, line in enumerate(lines):
            draw.text((x + 4, y + 2 + 14 * j), line, fill=(0, 0, 0))
        sheet.paste(Image.fromarray(np.asarray(frame, dtype=np.uint8)), (x, y + text_h))
        sheet.paste(Image.fromarray(case.frame), (x + w + 4, y + text_h))
    return np.asarray(sheet)
