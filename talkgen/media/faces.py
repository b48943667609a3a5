"""Face and mouth localisation per video frame with MediaPipe face mesh (0.10.21 ships its model in the wheel).

Used by evaluation (inner-lip opening for lip-sync metrics) and by dubbing (where the mouth is, per frame).

    tracker = FaceMeshTracker(max_faces=2)
    track = tracker.track(frames)          # frames: uint8 (T, H, W, 3) RGB
    track.opening[:, track.primary()]      # (T,) inner-lip opening / inter-ocular distance, NaN without a face

Faces keep a stable slot across frames (matched by box centre), so ``track.face_box[:, s]`` follows one person.
Geometry is smoothed over time with a zero-phase Gaussian inside each run of frames where the face is present.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.optimize import linear_sum_assignment

from talkgen.errors import ConfigError, TalkgenError

logger = logging.getLogger(__name__)

# MediaPipe face mesh landmark indices.
INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
OUTER_LIP = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146)
# (upper inner lip, lower inner lip) pairs whose distances average to the opening.
OPENING_PAIRS = ((82, 87), (13, 14), (312, 317))
EYE_OUTER_CORNERS = (33, 263)


@dataclass(frozen=True)
class FaceMeshConfig:
    """Run-time settings of :class:`FaceMeshTracker`.

    Attributes:
        max_faces: face slots tracked (MediaPipe's ``max_num_faces``).
        refine_landmarks: use the attention mesh with refined lips and irises.
        min_detection_confidence: MediaPipe detection threshold.
        min_tracking_confidence: MediaPipe tracking threshold.
        smooth_sigma: Gaussian sigma in frames for boxes, centres and lip landmarks (0 = off).
        opening_smooth_sigma: Gaussian sigma in frames for the opening signal (0 = off; keep small for sync).
        max_match_distance: a detection joins a slot only if its centre is within this many face sizes.
    """

    max_faces: int = 1
    refine_landmarks: bool = True
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    smooth_sigma: float = 1.0
    opening_smooth_sigma: float = 0.0
    max_match_distance: float = 1.5

    def __post_init__(self) -> None:
        if not 1 <= self.max_faces <= 16:
            raise ConfigError(f"max_faces must be in 1..16 (got {self.max_faces})")
        for name in ("min_detection_confidence", "min_tracking_confidence"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1]")
        if self.smooth_sigma < 0 or self.opening_smooth_sigma < 0 or self.max_match_distance <= 0:
            raise ConfigError("smoothing sigmas must be >= 0 and max_match_distance > 0")


@dataclass
class FaceTrack:
    """Per-frame faces of a clip: ``T`` frames, ``F`` slots (one person per slot), pixel coordinates.

    Attributes:
        present: bool (T, F) a face occupies the slot at the frame.
        face_box: float32 (T, F, 4) ``[x0, y0, x1, y1]`` of all mesh landmarks; NaN where absent.
        mouth_box: float32 (T, F, 4) box of the outer lip contour; NaN where absent.
        mouth_center: float32 (T, F, 2) ``(x, y)`` centre of the inner lip contour; NaN where absent.
        inner_lip: float32 (T, F, 20, 2) inner lip contour (``INNER_LIP`` order); NaN where absent.
        face_size: float32 (T, F) inter-ocular distance (outer eye corners) in pixels; NaN where absent.
        opening: float32 (T, F) mean inner-lip gap / ``face_size``; NaN where absent.
        width: frame width in pixels.
        height: frame height in pixels.
    """

    present: np.ndarray
    face_box: np.ndarray
    mouth_box: np.ndarray
    mouth_center: np.ndarray
    inner_lip: np.ndarray
    face_size: np.ndarray
    opening: np.ndarray
    width: int
    height: int

    @property
    def num_frames(self) -> int:
        return int(self.present.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.present.shape[1])

    def primary(self) -> int:
        """The slot present in the most frames (ties: the larger face)."""
        counts = self.present.sum(axis=0)
        sizes = np.where(self.present, np.nan_to_num(self.face_size), 0.0).sum(axis=0) / np.maximum(counts, 1)
        return int(np.lexsort((-sizes, -counts))[0])

    def face_fraction(self) -> float:
        """Share of frames with at least one face."""
        return float(self.present.any(axis=1).mean()) if self.num_frames else 0.0


def _smooth_runs(x: np.ndarray, present: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-smooth ``x`` (T, ...) along time inside each run of ``present`` (T,) frames."""
    if sigma <= 0:
        return x
    out = x.copy()
    idx = np.flatnonzero(present)
    if not len(idx):
        return out
    breaks = np.flatnonzero(np.diff(idx) > 1)
    for run in np.split(idx, breaks + 1):
        if len(run) > 1:
            out[run[0] : run[-1] + 1] = gaussian_filter1d(x[run[0] : run[-1] + 1], sigma, axis=0, mode="nearest")
    return out


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3) RGB, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        if np.issubdtype(frames.dtype, np.floating):
            frames = (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        else:
            raise ValueError(f"frames must be uint8 or float in [0, 1], got {frames.dtype}")
    return np.ascontiguousarray(frames)


@contextlib.contextmanager
def _quiet_native_logs():
    """Hide what MediaPipe's C++ side (TFLite, absl) writes straight to file descriptor 2 while a mesh lives: INFO and
    WARNING lines a user cannot act on, some written by the graph's own threads after a call returns. Python's
    ``sys.stderr`` (warnings, logging) still reaches the real stderr meanwhile, and errors propagate."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded interpreters): nothing to hide
        yield
        return
    python_stderr = sys.stderr
    real = open(saved, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    try:
        with open(os.devnull, "w", encoding="utf-8") as null:
            os.dup2(null.fileno(), 2)
            sys.stderr = real
            yield
    finally:
        sys.stderr = python_stderr
        real.flush()
        real.close()
        os.dup2(saved, 2)
        os.close(saved)


class FaceMeshTracker:
    """Track up to ``max_faces`` faces through a clip with MediaPipe face mesh (video mode, refined lips)."""

    def __init__(self, max_faces: int = 1, *, config: FaceMeshConfig | None = None) -> None:
        self.config = config if config is not None else FaceMeshConfig(max_faces=max_faces)

    def _new_mesh(self):
        try:
            from mediapipe.python.solutions import face_mesh
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise TalkgenError(
                "face tracking needs mediapipe 0.10.21: pip install 'talkgen[face]' (mediapipe==0.10.21, protobuf<5)"
            ) from exc
        c = self.config
        return face_mesh.FaceMesh(
            static_image_mode=False,
            max_num_faces=c.max_faces,
            refine_landmarks=c.refine_landmarks,
            min_detection_confidence=c.min_detection_confidence,
            min_tracking_confidence=c.min_tracking_confidence,
        )

    def detect(self, frames: np.ndarray) -> tuple[list[list[np.ndarray]], int, int]:
        """Raw landmarks: per frame a list of float32 (478, 2) pixel arrays (unordered faces)."""
        frames = _check_frames(frames)
        detections = self.detect_iter(iter(frames))[0]
        return detections, frames.shape[2], frames.shape[1]

    def detect_iter(self, frames: Iterable[np.ndarray]) -> tuple[list[list[np.ndarray]], int, int]:
        """:meth:`detect` for uint8 (H, W, 3) frames that arrive one at a time (a decoder's): the clip is never
        held whole, only its landmarks."""
        with _quiet_native_logs():  # the whole mesh's life: its graph threads log whenever they like
            mesh = self._new_mesh()
            try:
                out, w, h = self._detect_frames(mesh, frames)
            finally:
                mesh.close()
        return out, w, h

    @staticmethod
    def _detect_frames(mesh, frames: Iterable[np.ndarray]) -> tuple[list[list[np.ndarray]], int, int]:
        out: list[list[np.ndarray]] = []
        h = w = 0
        for i, frame in enumerate(frames):
            if i == 0:
                frame = _check_frames(np.asarray(frame)[None])[0]
                h, w = frame.shape[:2]
                res = mesh.process(frame)
            else:
                if frame.shape != (h, w, 3) or frame.dtype != np.uint8:
                    raise ValueError(f"frame {i} is {frame.shape} {frame.dtype}, the first ({h}, {w}, 3) uint8")
                res = mesh.process(np.ascontiguousarray(frame))
            faces = []
            for lm in res.multi_face_landmarks or []:
                pts = np.array([(p.x * w, p.y * h) for p in lm.landmark], dtype=np.float32)
                faces.append(pts)
            out.append(faces)
        return out, w, h

    def track(self, frames: np.ndarray) -> FaceTrack:
        """Faces, mouths and inner-lip opening of every frame.

        Args:
            frames: uint8 (T, H, W, 3) RGB frames (float in [0, 1] accepted).

        Returns:
            A :class:`FaceTrack` with ``F = max_faces`` slots.
        """
        detections, w, h = self.detect(frames)
        return self.assemble(detections, w, h)

    def assemble(self, detections: list[list[np.ndarray]], width: int, height: int) -> FaceTrack:
        """Assign per-frame landmark sets (each float (478, 2) pixels) to stable slots, derive and smooth."""
        c = self.config
        t_len, f_len = len(detections), c.max_faces
        n_lm = max((len(p) for faces in detections for p in faces), default=478)
        lms = np.full((t_len, f_len, n_lm, 2), np.nan, dtype=np.float32)
        present = np.zeros((t_len, f_len), dtype=bool)
        last_center = np.full((f_len, 2), np.nan)
        last_size = np.ones(f_len)
        last_seen = np.full(f_len, -(10**9))
        for t, faces in enumerate(detections):
            faces = faces[:f_len]
            if not faces:
                continue
            centers = np.array([p.mean(axis=0) for p in faces], dtype=np.float64)
            sizes = np.array([max(np.ptp(p[:, 0]), 1.0) for p in faces])
            cost = np.full((len(faces), f_len), 1e6)
            for s in range(f_len):
                if np.isfinite(last_center[s]).all():
                    d = np.linalg.norm(centers - last_center[s], axis=1) / np.maximum(sizes, last_size[s])
                    cost[:, s] = np.where(d <= c.max_match_distance, d, 1e6)
            rows, cols = linear_sum_assignment(cost)
            assigned: dict[int, int] = {int(r): int(s) for r, s in zip(rows, cols, strict=True) if cost[r, s] < 1e6}
            free = [s for s in np.argsort(last_seen) if s not in assigned.values()]
            for i in range(len(faces)):
                if i not in assigned:
                    assigned[i] = int(free.pop(0))
            for i, s in assigned.items():
                lms[t, s, : len(faces[i])] = faces[i]
                present[t, s] = True
                last_center[s] = centers[i]
                last_size[s] = sizes[i]
                last_seen[s] = t
        return self._derive(lms, present, width, height)

    def _derive(self, lms: np.ndarray, present: np.ndarray, width: int, height: int) -> FaceTrack:
        c = self.config
        up = lms[:, :, [a for a, _ in OPENING_PAIRS]]
        lo = lms[:, :, [b for _, b in OPENING_PAIRS]]
        gap = np.linalg.norm(up - lo, axis=-1).mean(axis=-1)
        eyes = np.linalg.norm(lms[:, :, EYE_OUTER_CORNERS[0]] - lms[:, :, EYE_OUTER_CORNERS[1]], axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            opening = gap / np.where(eyes > 1e-6, eyes, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices where no face
            face_box = np.concatenate([np.nanmin(lms, axis=2), np.nanmax(lms, axis=2)], axis=-1)
        outer = lms[:, :, list(OUTER_LIP)]
        inner = lms[:, :, list(INNER_LIP)]
        with np.errstate(invalid="ignore"):
            mouth_box = np.concatenate([outer.min(axis=2), outer.max(axis=2)], axis=-1)
            mouth_center = inner.mean(axis=2)
        for s in range(present.shape[1]):
            p = present[:, s]
            face_box[:, s] = _smooth_runs(face_box[:, s], p, c.smooth_sigma)
            mouth_box[:, s] = _smooth_runs(mouth_box[:, s], p, c.smooth_sigma)
            mouth_center[:, s] = _smooth_runs(mouth_center[:, s], p, c.smooth_sigma)
            inner[:, s] = _smooth_runs(inner[:, s], p, c.smooth_sigma)
            eyes[:, s] = _smooth_runs(eyes[:, s], p, c.smooth_sigma)
            opening[:, s] = _smooth_runs(opening[:, s], p, c.opening_smooth_sigma)
        absent = ~present
        for arr in (face_box, mouth_box, mouth_center, inner, eyes, opening):
            arr[absent] = np.nan
        return FaceTrack(
            present=present,
            face_box=face_box.astype(np.float32),
            mouth_box=mouth_box.astype(np.float32),
            mouth_center=mouth_center.astype(np.float32),
            inner_lip=inner.astype(np.float32),
            face_size=eyes.astype(np.float32),
            opening=opening.astype(np.float32),
            width=int(width),
            height=int(height),
        )
