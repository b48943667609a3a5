"""Phonemes -> visemes -> per-frame mouth parameters.

Twelve viseme classes cover the mouth shapes that can be read from pixels. A phoneme timeline becomes a mouth track
at any frame rate: targets are laid on a fine time grid, smoothed for coarticulation, shifted so that the mouth
leads the voice slightly (``lead`` seconds), averaged over each frame's span, and bilabials close the lips fully.
Frames with no speech are exactly the rest pose (a closed mouth).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from talkgen.audio.tts import Phoneme


class Viseme(IntEnum):
    REST = 0
    CLOSED = 1  # m b p
    OPEN = 2  # a
    WIDE = 3  # e i
    ROUND = 4  # o
    SMALL_ROUND = 5  # u w
    LIP_TEETH = 6  # f v
    TONGUE = 7  # l th
    TEETH = 8  # s z t d n
    PROTRUDED = 9  # sh ch j
    MID = 10  # schwa
    BACK = 11  # k g ng h


MOUTH_PARAMS = ("jaw", "width", "round", "teeth", "tongue")

# (jaw, width, round, teeth, tongue) per viseme, all in [0, 1]; width 0.5 is neutral.
VISEME_PARAMS = np.array(
    [
        [0.00, 0.50, 0.00, 0.00, 0.00],  # REST
        [0.00, 0.45, 0.10, 0.00, 0.00],  # CLOSED
        [0.90, 0.60, 0.00, 0.30, 0.10],  # OPEN
        [0.35, 0.90, 0.00, 0.60, 0.00],  # WIDE
        [0.60, 0.25, 0.80, 0.00, 0.00],  # ROUND
        [0.25, 0.10, 1.00, 0.00, 0.00],  # SMALL_ROUND
        [0.10, 0.55, 0.00, 1.00, 0.00],  # LIP_TEETH
        [0.40, 0.55, 0.00, 0.40, 1.00],  # TONGUE
        [0.15, 0.70, 0.00, 0.90, 0.00],  # TEETH
        [0.25, 0.30, 0.60, 0.70, 0.00],  # PROTRUDED
        [0.45, 0.50, 0.10, 0.20, 0.00],  # MID
        [0.30, 0.50, 0.00, 0.20, 0.00],  # BACK
    ],
    dtype=np.float32,
)
REST_PARAMS = VISEME_PARAMS[Viseme.REST]

_CLASSES: dict[Viseme, str] = {
    Viseme.CLOSED: "m b p ɱ ʙ",
    Viseme.OPEN: "a ɑ æ ɐ ä ɶ",
    Viseme.WIDE: "e ɛ i ɪ ɨ j ɪ̈ ẽ ĩ",
    Viseme.ROUND: "o ɔ ɒ ø œ ɵ õ",
    Viseme.SMALL_ROUND: "u ʊ ʉ ɯ y ʏ w ɥ ɹ r ʍ ũ",
    Viseme.LIP_TEETH: "f v ʋ ɸ β",
    Viseme.TONGUE: "l ɫ θ ð ɬ ɮ ʎ ɭ",
    Viseme.TEETH: "s z t d n ɾ ɲ ʦ ʣ ɳ ʈ ɖ",
    Viseme.PROTRUDED: "ʃ ʒ ɕ ʑ ç ʂ ʐ",
    Viseme.MID: "ə ɜ ɚ ɝ ʌ ɘ ɤ",
    Viseme.BACK: "k g ɡ ŋ h x ɣ ʔ q χ ʁ ɦ c ɟ ħ ʕ",
}
_SYMBOL_TO_VISEME = {sym: vis for vis, syms in _CLASSES.items() for sym in syms.split()}
_SILENCE = {"_", "_:", "_!", "||", "|", " ", ""}
_AFFRICATES = {"tʃ": Viseme.PROTRUDED, "dʒ": Viseme.PROTRUDED, "ts": Viseme.TEETH, "dz": Viseme.TEETH}
_STRIP = "ˈˌːˑ'ʰʲʷ̩̯̃͡‿"


def _clean(symbol: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFC", symbol) if c not in _STRIP)


def phoneme_visemes(symbol: str) -> list[Viseme]:
    """Visemes of one phoneme symbol: one for most phonemes, two for diphthongs (``aɪ`` -> OPEN, WIDE).

    Silence/pause symbols give ``[]``; unknown symbols map to MID (a neutral half-open mouth).
    """
    sym = _clean(symbol)
    if sym in _SILENCE or sym.startswith("_"):
        return []
    if sym in _AFFRICATES:
        return [_AFFRICATES[sym]]
    out: list[Viseme] = []
    for ch in sym:
        vis = _SYMBOL_TO_VISEME.get(ch)
        if vis is not None and (not out or out[-1] != vis):
            out.append(vis)
    if not out:
        return [Viseme.MID]
    vowels = [v for v in out if v in (Viseme.OPEN, Viseme.WIDE, Viseme.ROUND, Viseme.SMALL_ROUND, Viseme.MID)]
    if len(vowels) >= 2:
        return vowels[:2]
    return out[:1] if not vowels else vowels


@dataclass(frozen=True, eq=False)
class MouthTrack:
    """Per-frame mouth: params (T, 5) float32 in MOUTH_PARAMS order, viseme (T,) int64, speaking (T,) bool."""

    params: np.ndarray
    viseme: np.ndarray
    speaking: np.ndarray
    fps: float

    def __len__(self) -> int:
        return len(self.viseme)


_GRID_HZ = 500.0


def _segments(phonemes: Sequence[Phoneme]) -> list[tuple[float, float, Viseme]]:
    segs = []
    for p in phonemes:
        if p.end <= p.start:
            continue
        vis = phoneme_visemes(p.symbol)
        if not vis:
            continue
        step = (p.end - p.start) / len(vis)
        segs.extend((p.start + i * step, p.start + (i + 1) * step, v) for i, v in enumerate(vis))
    return segs


def mouth_track(
    phonemes: Sequence[Phoneme],
    fps: float,
    num_frames: int | None = None,
    lead: float = 0.06,
    coarticulation: float = 0.025,
) -> MouthTrack:
    """Per-frame mouth parameters for a phoneme timeline.

    Args:
        phonemes: timeline with times in seconds (e.g. ``Speech.phonemes``).
        fps: video frame rate.
        num_frames: frames to produce; default covers the last phoneme (``ceil(end * fps)``).
        lead: seconds the mouth leads the voice (frame ``j`` shows the sound at ``j / fps + lead``).
        coarticulation: Gaussian smoothing of targets, in seconds (standard deviation).

    Returns:
        :class:`MouthTrack` with ``num_frames`` frames.
    """
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if lead < 0 or coarticulation < 0:
        raise ValueError("lead and coarticulation must be >= 0 seconds")
    segs = _segments(phonemes)
    end = max((s[1] for s in segs), default=0.0)
    if num_frames is None:
        num_frames = int(np.ceil(end * fps - 1e-9))
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    params = np.tile(REST_PARAMS, (num_frames, 1)).astype(np.float32)
    viseme = np.zeros(num_frames, dtype=np.int64)
    speaking = np.zeros(num_frames, dtype=bool)
    if not segs or num_frames == 0:
        return MouthTrack(params, viseme, speaking, float(fps))

    # Targets on a fine grid, then coarticulation smoothing.
    horizon = max(end, (num_frames + 1) / fps + lead) + 4 * coarticulation + 0.1
    n = int(np.ceil(horizon * _GRID_HZ))
    grid_vis = np.full(n, -1, dtype=np.int64)
    for start, stop, vis in segs:
        grid_vis[int(round(start * _GRID_HZ)) : int(round(stop * _GRID_HZ))] = int(vis)
    target = np.where(grid_vis[:, None] >= 0, VISEME_PARAMS[np.maximum(grid_vis, 0)], REST_PARAMS)
    if coarticulation > 0:
        sigma = coarticulation * _GRID_HZ
        radius = int(np.ceil(3 * sigma))
        kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
        kernel /= kernel.sum()
        padded = np.pad(target, ((radius, radius), (0, 0)), mode="edge")
        target = np.stack([np.convolve(padded[:, c], kernel, mode="valid") for c in range(target.shape[1])], 1)

    # Per frame: the span [j / fps + lead, (j + 1) / fps + lead) on the grid.
    for j in range(num_frames):
        a = int(round((j / fps + lead) * _GRID_HZ))
        b = max(a + 1, int(round(((j + 1) / fps + lead) * _GRID_HZ)))
        window = grid_vis[a:b]
        voiced = window >= 0
        if voiced.mean() < 0.3 if len(window) else True:
            continue  # silence: the rest pose, lips closed
        counts = np.bincount(window[voiced], minlength=len(Viseme))
        vis = int(np.argmax(counts))
        if counts[Viseme.CLOSED] > 0:
            vis = int(Viseme.CLOSED)  # a bilabial inside the frame closes the lips
        viseme[j] = vis
        speaking[j] = True
        params[j] = target[a:b].mean(axis=0)
        if vis == Viseme.CLOSED:
            params[j, 0] = 0.0
    return MouthTrack(params.astype(np.float32), viseme, speaking, float(fps))
