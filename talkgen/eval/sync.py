"""Real-face lip sync: MediaPipe inner-lip opening vs the audio RMS envelope (see :mod:`talkgen.eval.signals`).

    report = evaluate_sync_arrays(frames, fps, waveform, sample_rate)
    report.result.offset          # frames, > 0 = audio lags video

``evaluate_sync(path)`` does the same for a video file (its own audio track, or ``audio_path``).
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

    def to_dict(self, include_tracks: bool = False) -> dict[str, Any]:
        out = self.result.to_dict(include_tracks=include_tracks)
        out.update(face_fraction=round(self.face_fraction, 4), face_slot=self.face_slot, num_frames=self.num_frames)
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
            "lip sync needs a visible frontal face"
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
) -> SyncReport:
    """Measure lip sync of a video file against its own audio track or ``audio_path``.

    Decoding goes through :mod:`talkgen.media` (probed and limited); errors are :class:`MediaError`.
    """
    from talkgen.audio.io import load_audio
    from talkgen.media import read_video

    frames, fps = read_video(video_path)
    waveform = load_audio(audio_path if audio_path is not None else video_path, sample_rate=sample_rate)
    if len(waveform) == 0:
        raise MediaError(f"{audio_path or video_path} has no audio; pass --audio FILE")
    return evaluate_sync_arrays(frames, fps, waveform, sample_rate, max_lag=max_lag, max_faces=max_faces)
