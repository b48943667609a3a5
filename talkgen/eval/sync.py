"""Real-face lip sync: MediaPipe inner-lip opening vs the audio RMS envelope (see :mod:`talkgen.eval.signals`).

    report = evaluate_sync_arrays(frames, fps, waveform, sample_rate)
    report.result.offset          # frames, > 0 = audio lags video

``evaluate_sync(path)`` does the same for a video file (its own audio track, or ``audio_path``). A clip of the
synthetic world (a ``.truth.json`` beside it, or ``truth_path``) is read with the world's own mouth boxes instead:
MediaPipe finds "faces" on cartoons but its lip landmarks there are not lips (offsets of -11 and +8 frames on clean
world clips, where the box reader gives +1: the world's mouths lead the voice by 60 ms).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from talkgen import SPEECH_RATE
from talkgen.errors import MediaError
from talkgen.eval.signals import DEFAULT_BAND_HZ, DEFAULT_MAX_LAG, SyncResult, rms_envelope, sync_tracks

logger = logging.getLogger(__name__)


@dataclass
class SyncReport:
    """A real-face sync measurement.

    Attributes:
        result: the correlation analysis (offset, confidence, curves).
        face_fraction: share of frames where the measured face was found.
        face_slot: which tracked face was measured (the one present longest).
        num_frames: frames analysed.
        opening: float32 (T,) raw inner-lip opening / face size (NaN without a face).
    """

    result: SyncResult
    face_fraction: float
    face_slot: int
    num_frames: int
    opening: np.ndarray
    reader: str = "mediapipe"  # or "world" (the synthetic world's mouth boxes, from its ground truth)

    def to_dict(self, include_tracks: bool = False) -> dict[str, Any]:
        out = self.result.to_dict(include_tracks=include_tracks)
        out.update(face_fraction=round(self.face_fraction, 4), face_slot=self.face_slot, num_frames=self.num_frames)
        out["reader"] = self.reader
        return out


def evaluate_sync_arrays(
    frames: np.ndarray,
    fps: float,
    waveform: np.ndarray,
    sample_rate: int,
    *,
    max_lag: int = DEFAULT_MAX_LAG,
    band: tuple[float, float] | None = DEFAULT_BAND_HZ,
    max_faces: int = 1,
    min_face_fraction: float = 0.2,
) -> SyncReport:
    """Measure lip sync of in-memory media.

    Args:
        frames: uint8 (T, H, W, 3) RGB frames.
        fps: frame rate.
        waveform: float (N,) mono audio aligned with frame 0 at sample 0.
        sample_rate: audio sample rate.
        max_lag: lags searched each side, in frames.
        band: envelope pass band in Hz (None = unfiltered).
        max_faces: faces tracked; the one present longest is measured.
        min_face_fraction: below this share of frames with a face, the clip is refused.

    Returns:
        A :class:`SyncReport`.
    """
    from talkgen.media.faces import FaceMeshTracker

    track = FaceMeshTracker(max_faces=max_faces).track(frames)
    slot = track.primary()
    opening = track.opening[:, slot]
    frac = float(track.present[:, slot].mean()) if track.num_frames else 0.0
    if frac < min_face_fraction:
        raise MediaError(
            f"a face was found in only {frac:.0%} of {track.num_frames} frames (need {min_face_fraction:.0%}); "
            "lip sync needs a visible frontal face (a synthetic-world clip is measured with its .truth.json beside"
            " it or --truth; other cartoons cannot be measured without one)"
        )
    env = rms_envelope(waveform, sample_rate, fps, num_frames=track.num_frames)
    result = sync_tracks(opening, env, fps, max_lag=max_lag, band=band)
    logger.info("sync: offset %+d frames, confidence %.3f", result.offset, result.confidence)
    return SyncReport(result=result, face_fraction=frac, face_slot=slot, num_frames=track.num_frames, opening=opening)


def evaluate_sync(
    video_path: str | os.PathLike,
    audio_path: str | os.PathLike | None = None,
    *,
    max_lag: int = DEFAULT_MAX_LAG,
    max_faces: int = 1,
    sample_rate: int = SPEECH_RATE,
    truth_path: str | os.PathLike | None = None,
) -> SyncReport:
    """Measure lip sync of a video file against its own audio track or ``audio_path``.

    With ``truth_path`` (or a ``.truth.json`` beside the video) the mouths are read in the synthetic world's boxes
    (:func:`evaluate_sync_world`), else with MediaPipe. Decoding goes through :mod:`talkgen.media` (probed and
    limited); errors are :class:`MediaError`.
    """
    from pathlib import Path

    from talkgen.audio.io import load_audio
    from talkgen.media import read_video
    from talkgen.synth.truth import truth_path_for

    frames, fps = read_video(video_path)
    waveform = load_audio(audio_path if audio_path is not None else video_path, sample_rate=sample_rate)
    if len(waveform) == 0:
        raise MediaError(f"{audio_path or video_path} has no audio; pass --audio FILE")
    beside = truth_path_for(video_path)
    if truth_path is not None or Path(beside).is_file():
        from talkgen.synth.truth import GroundTruth

        truth = GroundTruth.load(truth_path if truth_path is not None else beside)
        return evaluate_sync_world(frames, fps, waveform, sample_rate, truth, max_lag=max_lag)
    return evaluate_sync_arrays(frames, fps, waveform, sample_rate, max_lag=max_lag, max_faces=max_faces)


def evaluate_sync_world(
    frames: np.ndarray, fps: float, waveform: np.ndarray, sample_rate: int, truth, *, max_lag: int = DEFAULT_MAX_LAG
) -> SyncReport:
    """Lip sync of a synthetic-world clip: the mouths read in the truth's mouth boxes (boxes only, not the truth's
    mouth tracks), summed over the characters on screen, against the envelope of the audio, as for real faces.

    Raises:
        MediaError: the video and its truth differ in length or size class, or no character is ever on screen.
    """
    from talkgen.eval.world import read_mouth_openings

    if len(frames) != truth.num_frames:
        raise MediaError(
            f"the video has {len(frames)} frames, its ground truth {truth.num_frames}: not this clip's .truth.json"
        )
    openings = read_mouth_openings(frames, truth)  # (T, C), NaN off screen
    present = np.isfinite(openings)
    if not present.any():
        raise MediaError("no character of the ground truth is on screen: nothing to measure")
    # Every mouth on screen against the mixed speech: the sum of the visible characters' openings.
    opening = np.where(present, openings, 0.0).sum(axis=1).astype(np.float32)
    env = rms_envelope(waveform, sample_rate, fps, num_frames=len(frames))
    result = sync_tracks(opening, env, fps, max_lag=max_lag)
    slot = int(np.argmax(present.sum(axis=0)))
    present = present.any(axis=1)
    logger.info("sync (world boxes): offset %+d frames, confidence %.3f", result.offset, result.confidence)
    return SyncReport(result, float(present.mean()), slot, len(frames), opening, reader="world")  # slot: longest seen
