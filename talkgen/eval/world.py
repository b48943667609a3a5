"""Synthetic-world metrics: mouths read from pixels, compared with the ground-truth tracks of the clip.

The pixel reader uses only the frames and the face/mouth boxes of the ground-truth file (never the renderer's
state), so it scores any video made for a synthetic scene: a ground-truth render (ceiling), the same video with
scrambled audio (floor) or a model's output.

Mouth opening per frame and character (:func:`read_mouth_openings`): the reader of
:func:`talkgen.pipelines.retime.mouth_opening_from_patches` (dubbing re-times mouths with it) in each character's
ground-truth mouth box. A closed mouth reads as its lips' thickness (about 0.1-0.2), a wide-open one 0.3-0.5.

Offsets follow :mod:`talkgen.eval.signals`: ``offset > 0`` = the audio (the ground-truth track, which is timed by
the audio) lags the video.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

from talkgen.eval.signals import DEFAULT_MAX_LAG, pearson, sync_tracks
from talkgen.pipelines.retime import box_patches, mouth_opening_from_patches
from talkgen.synth.truth import GroundTruth

logger = logging.getLogger(__name__)


def read_mouth_openings(
    frames: np.ndarray, truth: GroundTruth, *, grid: int = 24, threshold: float = 30.0
) -> np.ndarray:
    """Measured mouth opening of every character in every frame, from pixels and the truth's mouth boxes.

    Args:
        frames: uint8 (T, H, W, 3) video frames of the clip described by ``truth``.
        truth: the clip's ground truth (only ``mouth_box`` is used).
        grid: patch resolution.
        threshold: see :func:`mouth_opening_from_patches`.

    Returns:
        float64 (T, C) opening (fraction of the mouth-box height), NaN where the character is off-screen.
    """
    frames = np.asarray(frames)
    if len(frames) != truth.num_frames:
        raise ValueError(f"video has {len(frames)} frames, ground truth {truth.num_frames}")
    sy = frames.shape[1] / truth.height
    sx = frames.shape[2] / truth.width
    scale = np.array([sx, sy, sx, sy], dtype=np.float32)
    cols = [
        mouth_opening_from_patches(box_patches(frames, ch.mouth_box * scale, grid), threshold)
        for ch in truth.characters
    ]
    return np.stack(cols, axis=1) if cols else np.zeros((len(frames), 0))


def _rolling_std(x: np.ndarray, half: int) -> np.ndarray:
    """Std of ``x`` (T,) over windows of ``2 * half + 1`` frames (NaN-aware), float64 (T,)."""
    out = np.full(len(x), np.nan)
    for t in range(len(x)):
        w = x[max(0, t - half) : t + half + 1]
        w = w[np.isfinite(w)]
        if len(w) >= 2:
            out[t] = w.std()
    return out


def speaker_attribution(openings: np.ndarray, speaking: np.ndarray, visible: np.ndarray, half: int = 3) -> float:
    """Share of single-speaker frames (two or more faces visible) where the speaker's mouth moves most.

    Args:
        openings: float (T, C) measured openings.
        speaking: bool (T, C) ground-truth speaking flags.
        visible: bool (T, C) on-screen flags.
        half: half-width in frames of the window whose std measures movement.

    Returns:
        The share in [0, 1], or NaN when no frame qualifies (single-character clips).
    """
    motion = np.stack([_rolling_std(openings[:, c], half) for c in range(openings.shape[1])], axis=1)
    motion = np.where(visible, np.nan_to_num(motion, nan=0.0), -np.inf)
    frames = (speaking & visible).sum(axis=1) == 1
    frames &= visible.sum(axis=1) >= 2
    if not frames.any():
        return float("nan")
    speaker = np.argmax(speaking & visible, axis=1)
    return float((np.argmax(motion, axis=1) == speaker)[frames].mean())


def closed_in_silence(opening: np.ndarray, speaking: np.ndarray, margin: int = 3, tolerance: float = 0.05) -> float:
    """Share of silent frames where the mouth reads as closed.

    Silent = not speaking and at least ``margin`` frames from any speaking frame (coarticulation and the mouth's
    lead). Closed = opening within ``tolerance`` (fraction of the box height) of the character's own closed level,
    the 5th percentile of its openings. NaN when there is no silent visible frame.

    Args:
        opening: float (T,) measured opening (NaN off-screen).
        speaking: bool (T,) ground-truth speaking flags.
    """
    ok = np.isfinite(opening)
    if ok.sum() < 3:
        return float("nan")
    near = np.convolve(speaking.astype(float), np.ones(2 * margin + 1), mode="same") > 0
    silent = ~near & ok
    if not silent.any():
        return float("nan")
    closed_level = np.percentile(opening[ok], 5)
    return float((opening[silent] <= closed_level + tolerance).mean())


def face_patches(frames: np.ndarray, boxes: np.ndarray, grid: int = 16) -> np.ndarray:
    """Face-box patches, float32 (T, grid, grid, 3) in [0, 1], NaN where absent."""
    return box_patches(frames, boxes, grid) / 255.0


def identity_drift(patches: np.ndarray, fps: float) -> float:
    """Appearance drift: mean RMS distance of each later second's mean face patch from the first second's.

    Args:
        patches: float (T, g, g, 3) face patches in [0, 1], NaN where absent.
        fps: frame rate.

    Returns:
        The drift (0 = the face looks the same throughout), NaN with under two seconds of visible face.
    """
    sec = max(int(round(fps)), 1)
    seconds = []
    for s in range(0, len(patches), sec):
        block = patches[s : s + sec]
        block = block[np.isfinite(block).all(axis=(1, 2, 3))]
        if len(block) >= max(sec // 2, 1):
            seconds.append(block.mean(axis=0))
    if len(seconds) < 2:
        return float("nan")
    first = seconds[0]
    return float(np.mean([np.sqrt(np.mean((m - first) ** 2)) for m in seconds[1:]]))


def face_match(patches: np.ndarray, reference: np.ndarray) -> float:
    """How much a face looks like the ground truth's, frame by frame: the mean normalised cross-correlation of each
    frame's face patch with the ground-truth render's, each colour channel centred on its own mean, so that it reads
    the face's structure (head outline, eyes, mouth, hair), not its colours: 1 = the same face, ~0 = a flat blob or
    an unrelated picture; NaN with no frame where both are present.

    Args:
        patches, reference: float (T, g, g, 3) face patches (:func:`face_patches`), NaN where absent.
    """
    values = []
    for a, b in zip(patches, reference, strict=True):
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            continue
        a, b = (a - a.mean(axis=(0, 1))).ravel(), (b - b.mean(axis=(0, 1))).ravel()
        norm = float(np.sqrt((a**2).sum() * (b**2).sum()))
        values.append(float((a * b).sum()) / norm if norm > 1e-9 else 0.0)
    return float(np.mean(values)) if values else float("nan")


def flicker(frames: np.ndarray, cuts: list[int] | None = None) -> float:
    """Mean absolute difference between consecutive frames in [0, 1] units, skipping the frame pairs at cuts.

    Args:
        frames: uint8 (T, H, W, 3).
        cuts: frame indices that start a new shot (the pair ``(c - 1, c)`` is skipped).
    """
    frames = np.asarray(frames)
    if len(frames) < 2:
        return float("nan")
    skip = set(cuts or [])
    diffs = [
        float(np.abs(frames[t].astype(np.int16) - frames[t - 1].astype(np.int16)).mean()) / 255.0
        for t in range(1, len(frames))
        if t not in skip
    ]
    return float(np.mean(diffs)) if diffs else float("nan")


@dataclass
class CharacterScore:
    """Scores of one character. Offsets: ``> 0`` = the ground-truth (audio-timed) track lags the video."""

    tag: str
    visible_frames: int
    correlation: float
    offset: int
    confidence: float
    correlation_at_zero: float
    closed_in_silence: float
    identity_drift: float
    reference_identity_drift: float | None
    face_match: float | None = None


@dataclass
class WorldReport:
    """Synthetic-world scores of a clip.

    ``correlation`` / ``confidence`` are means over characters weighted by visible speaking frames, ``offset`` the
    median over speaking characters; the other aggregates are weighted by visible frames.
    """

    characters: list[CharacterScore]
    correlation: float
    offset: int
    confidence: float
    speaker_attribution: float
    closed_in_silence: float
    identity_drift: float
    flicker: float
    reference_identity_drift: float | None = None
    reference_flicker: float | None = None
    face_match: float | None = None

    def to_dict(self) -> dict:
        out = asdict(self)
        out["offset_sign"] = "positive = audio (ground-truth track) lags video"

        def clean(v):
            if isinstance(v, float):
                return None if not np.isfinite(v) else round(v, 5)
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, list):
                return [clean(x) for x in v]
            return v

        return clean(out)


def _wmean(values: list[float], weights: list[int]) -> float:
    v = np.asarray(values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    ok = np.isfinite(v) & (w > 0)
    return float((v[ok] * w[ok]).sum() / w[ok].sum()) if ok.any() else float("nan")


def evaluate_world(
    frames: np.ndarray,
    truth: GroundTruth,
    *,
    reference_frames: np.ndarray | None = None,
    reference_tracks: np.ndarray | None = None,
    max_lag: int = DEFAULT_MAX_LAG,
) -> WorldReport:
    """Score a video of a synthetic scene against its ground truth.

    Args:
        frames: uint8 (T, H, W, 3) the video to score.
        truth: the scene's ground truth (boxes; the mouth tracks and speaking flags timed by its audio).
        reference_frames: uint8 (T, H, W, 3) the ground-truth render, for its own drift and flicker values and the
            video's face match with it (:func:`face_match`: is the prompted face on screen at all).
        reference_tracks: float (T, C) jaw tracks to compare with instead of ``truth`` (e.g. shuffled for the
            floor row); defaults to each character's ``mouth_params[:, 0]``.
        max_lag: lags searched each side, in frames.

    Returns:
        A :class:`WorldReport`.
    """
    openings = read_mouth_openings(frames, truth)
    jaw = (
        np.stack([ch.mouth_params[:, 0] for ch in truth.characters], axis=1)
        if reference_tracks is None
        else np.asarray(reference_tracks, dtype=np.float64)
    )
    if jaw.shape != openings.shape:
        raise ValueError(f"reference tracks have shape {jaw.shape}, expected {openings.shape}")
    visible = np.stack([ch.visible for ch in truth.characters], axis=1)
    speaking = np.stack([ch.speaking for ch in truth.characters], axis=1)
    if reference_tracks is not None:
        speaking = jaw > 0.02  # the reference track's own voiced frames
    scale = np.array([frames.shape[2] / truth.width, frames.shape[1] / truth.height] * 2, dtype=np.float32)
    scores: list[CharacterScore] = []
    for c, ch in enumerate(truth.characters):
        vis = visible[:, c]
        n = int(vis.sum())
        patches = face_patches(frames, ch.face_box * scale)
        drift = identity_drift(patches, truth.fps)
        ref_drift = match = None
        if reference_frames is not None:
            reference = face_patches(reference_frames, ch.face_box * scale)
            ref_drift, match = identity_drift(reference, truth.fps), face_match(patches, reference)
        if n < 2 * max_lag + 3:
            nan = float("nan")
            scores.append(CharacterScore(ch.tag, n, nan, 0, nan, nan, nan, drift, ref_drift, match))
            continue
        meas = openings[:, c]
        ref = np.where(vis, jaw[:, c], np.nan)
        sync = sync_tracks(meas, ref, truth.fps, max_lag=max_lag, band=None)
        scores.append(
            CharacterScore(
                tag=ch.tag,
                visible_frames=n,
                correlation=pearson(meas[vis], jaw[vis, c]),
                offset=sync.offset,
                confidence=sync.confidence,
                correlation_at_zero=sync.correlation_at_zero,
                closed_in_silence=closed_in_silence(meas, speaking[:, c]),
                identity_drift=drift,
                reference_identity_drift=ref_drift,
                face_match=match,
            )
        )
    weights = [s.visible_frames for s in scores]
    # sync aggregates weight each character by its visible speaking frames (a silent character has no sync)
    talk = [int((speaking[:, c] & visible[:, c]).sum()) for c in range(len(scores))]
    cuts = [s.start_frame for s in truth.shots[1:]]
    offsets = [s.offset for s, n in zip(scores, talk, strict=True) if np.isfinite(s.confidence) and n > 0]
    return WorldReport(
        characters=scores,
        correlation=_wmean([s.correlation for s in scores], talk),
        offset=int(np.median(offsets)) if offsets else 0,
        confidence=_wmean([s.confidence for s in scores], talk),
        speaker_attribution=speaker_attribution(openings, speaking, visible),
        closed_in_silence=_wmean([s.closed_in_silence for s in scores], weights),
        identity_drift=_wmean([s.identity_drift for s in scores], weights),
        flicker=flicker(frames, cuts),
        reference_identity_drift=(
            _wmean([s.reference_identity_drift for s in scores], weights) if reference_frames is not None else None
        ),
        reference_flicker=flicker(reference_frames, cuts) if reference_frames is not None else None,
        face_match=_wmean([s.face_match for s in scores], weights) if reference_frames is not None else None,
    )
