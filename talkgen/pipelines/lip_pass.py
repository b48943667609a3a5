"""The lip pass of a generated clip: each character's mouth re-timed to its own speech, as a dub re-times footage.

The DiT draws characters where its training world puts them and mouths that move, but its mouths follow the speech
loosely. The lip pass re-times them with the model's mouth head and the footage re-timing of
:mod:`talkgen.pipelines.retime`, from pixels the clip already holds:

1. the clip is split into shots at cuts (:func:`shot_segments`);
2. for each shot, the layouts the model's world knows for the clip's characters are tried (a close-up or a medium
   shot of one character, the group shot of all) and the one whose mouth boxes open and close most with the
   speech is kept (:func:`choose_layout`);
3. each of its faces is re-timed to its character's jaw track inside the shot.

Known layouts: ``synthetic-world`` (talkgen's rendered world, :func:`talkgen.synth.world.layout_mouth_boxes`), the
domain of ``models/talkgen-tiny``. A model with another ``mouth_layout`` (or none) gets no lip pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from talkgen import SPEECH_RATE
from talkgen.pipelines.retime import read_openings, retime_footage

MOUTH_LAYOUTS = ("synthetic-world",)
CUT_DIFFERENCE = 12.0  # mean absolute change (0-255) between frames that counts as a cut...
CUT_RATIO = 4.0  # ...when it is also this many times the clip's median change
_GROUPS = {2: "two-shot", 3: "three-shot"}
_SHOT_WORDS = ("close-up", "medium shot", "two-shot", "three-shot")


@dataclass(frozen=True)
class Layout:
    """One candidate framing of a shot: its kind and, per slot left to right, the speech stream shown there."""

    kind: str
    streams: tuple[int, ...]


def shot_segments(frames: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` frame ranges of ``frames`` (uint8 (T, H, W, 3)) between cuts."""
    if len(frames) < 2:
        return [(0, len(frames))]
    change = np.array([np.abs(b.astype(np.int16) - a).mean() for a, b in zip(frames[:-1], frames[1:], strict=True)])
    cuts = np.flatnonzero((change > CUT_DIFFERENCE) & (change > CUT_RATIO * max(float(np.median(change)), 1e-6))) + 1
    edges = [0, *cuts.tolist(), len(frames)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def candidate_layouts(num_streams: int, prompt: str | None = None) -> list[Layout]:
    """The framings a world model draws for a clip of ``num_streams`` characters (streams in on-screen order): those
    the prompt names (in the order it names them: "close-up", "medium shot", "two-shot", "three-shot"; a medium,
    two- or three-shot of several characters is their group shot), else every one the world has."""
    group = [Layout(_GROUPS[num_streams], tuple(range(num_streams)))] if num_streams in _GROUPS else []
    singles = {kind: [Layout(kind, (s,)) for s in range(num_streams)] for kind in ("close-up", "medium shot")}
    text = (prompt or "").lower()
    named: list[Layout] = []
    for word in sorted(_SHOT_WORDS, key=lambda w: text.find(w)):
        if word not in text:
            continue
        if word == "close-up" or (word == "medium shot" and num_streams == 1):
            named += singles[word]
        elif group:
            named += group
    return list(dict.fromkeys(named)) or group + singles["close-up"] + singles["medium shot"]


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) < 1e-6 or np.std(b[ok]) < 1e-6:
        return 0.0
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def layout_boxes(layout: Layout, num_frames: int, height: int, width: int) -> np.ndarray:
    """float32 (num_frames, slots, 4) mouth boxes of ``layout`` (the world's average character in each slot)."""
    from talkgen.synth.world import layout_mouth_boxes

    boxes = layout_mouth_boxes(layout.kind, len(layout.streams), height, width)
    return np.broadcast_to(boxes, (num_frames, *boxes.shape)).copy()


def choose_layout(frames: np.ndarray, jaw: np.ndarray, candidates: list[Layout]) -> Layout:
    """The candidate whose mouth boxes' openings in ``frames`` correlate best with the jaw tracks of the streams
    they show (``jaw``: (S, T) for these frames), weighed by how much each stream's jaw moves; ties and a silent
    shot keep the first candidate (the group shot when there is one)."""
    height, width = frames.shape[1:3]
    best, best_score = candidates[0], -np.inf
    for layout in candidates:
        boxes = layout_boxes(layout, len(frames), height, width)
        weights = np.array([np.std(jaw[s]) for s in layout.streams])
        if weights.sum() <= 1e-6:
            score = 0.0
        else:
            corrs = [_corr(read_openings(frames, boxes[:, k]), jaw[s]) for k, s in enumerate(layout.streams)]
            score = float(np.dot(weights, corrs) / weights.sum())
        if score > best_score + 1e-9:
            best, best_score = layout, score
    return best


def lip_pass(
    frames: np.ndarray, jaw: np.ndarray, speech: np.ndarray, fps: float, mouth_layout: str, prompt: str | None = None
) -> np.ndarray:
    """``frames`` (uint8 (T, H, W, 3)) with every shot's mouths re-timed to their speech; returns a copy.

    Args:
        jaw: (S, T) jaw opening of each speech stream per frame (the model's mouth head).
        speech: (S, N) 16 kHz streams, one per character in on-screen order (N covers the frames).
        mouth_layout: where the model draws mouths; one of :data:`MOUTH_LAYOUTS`.
        prompt: the clip's prompt: the framings it names are the candidates (:func:`candidate_layouts`).
    """
    if mouth_layout not in MOUTH_LAYOUTS:
        raise ValueError(f"mouth_layout must be one of {', '.join(MOUTH_LAYOUTS)}, got {mouth_layout!r}")
    out = np.array(frames, copy=True)
    height, width = frames.shape[1:3]
    candidates = candidate_layouts(len(jaw), prompt)
    for start, end in shot_segments(frames):
        shot = frames[start:end]
        layout = choose_layout(shot, jaw[:, start:end], candidates)
        a, b = int(round(start / fps * SPEECH_RATE)), int(round(end / fps * SPEECH_RATE))
        out[start:end] = retime_footage(
            shot,
            layout_boxes(layout, len(shot), height, width),
            np.stack([jaw[s, start:end] for s in layout.streams]),
            [np.asarray(speech[s, a:b], dtype=np.float32) for s in layout.streams],
            fps,
        )
    return out
