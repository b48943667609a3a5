"""Where to edit when dubbing: mouths per frame, the face that speaks, the edit region and the length policy.

- One interface, :class:`MouthLocator` (``locate(frames) -> MouthTrack``), with two implementations: real faces
  through MediaPipe face mesh (:class:`MediaPipeMouthLocator`, inner lips smoothed over time by
  :class:`~talkgen.media.faces.FaceMeshTracker`) and characters of the synthetic world through their rendered
  geometry (:class:`TruthMouthLocator`, the ground-truth mouth boxes). Frames without a face have no mouth and are
  passed through unchanged by the pipeline.
  :class:`StaticMouthLocator` takes a user-drawn box for stylised faces that no detector finds.
- :func:`select_faces` keeps the face that speaks: a slot index, a box ``(x0, y0, x1, y1)`` (the slot whose mouths
  lie closest to it) or ``"all"``.
- :func:`edit_mask` is the blend weight of the edited frames: extent 0 (``"mouth"``) is a feathered region around
  each mouth and exactly 0 elsewhere, extent 1 (``"frame"``) is the whole frame of every frame with a face; values
  in between grow the region towards the frame. :func:`blend` keeps every source pixel where the weight is 0.
- :func:`fit_length` maps the output frames to source frames for an audio of another length (trim, pad, loop).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import numpy as np

from talkgen.errors import ConfigError

logger = logging.getLogger(__name__)

EXTENTS = {"mouth": 0.0, "face": 0.5, "frame": 1.0}
LENGTH_POLICIES = ("pad", "trim", "loop")


@dataclass
class MouthTrack:
    """Mouths of ``T`` frames and ``K`` face slots in pixels of a ``width`` x ``height`` video.

    Attributes:
        boxes: float32 (T, K, 4) ``[x0, y0, x1, y1]`` mouth boxes, NaN rows where the slot has no face.
        centers: float32 (T, K, 2) ``(x, y)`` mouth centres, NaN where absent.
        grow: how far the edit region reaches beyond a box (scale about its centre): 1.6 for boxes of the lips as
            they are (a new line may open them wider, and chin and cheeks move), 1.0 for boxes that already hold
            every mouth shape (the synthetic world's ground truth) or that the user drew as the region.
        faces: optional float32 (T, K, 4) face boxes of the same slots (MediaPipe's landmarks, the world's head
            boxes): the region of extent ``face``; None where the source knows only mouths.
    """

    boxes: np.ndarray
    centers: np.ndarray
    width: int
    height: int
    grow: float = 1.6
    faces: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32)
        self.centers = np.asarray(self.centers, dtype=np.float32)
        if self.boxes.ndim != 3 or self.boxes.shape[-1] != 4 or self.centers.shape != self.boxes.shape[:2] + (2,):
            raise ValueError(
                f"mouth boxes must be (T, K, 4) and centres (T, K, 2), got {self.boxes.shape}, {self.centers.shape}"
            )
        if self.faces is not None:
            self.faces = np.asarray(self.faces, dtype=np.float32)
            if self.faces.shape != self.boxes.shape:
                raise ValueError(f"face boxes must be {self.boxes.shape} like the mouth boxes, got {self.faces.shape}")

    @classmethod
    def from_boxes(cls, boxes: np.ndarray, width: int, height: int, grow: float = 1.6) -> MouthTrack:
        """From (T, K, 4) or (T, 4) boxes; centres are the box centres."""
        b = np.asarray(boxes, dtype=np.float32)
        if b.ndim == 2:
            b = b[:, None]
        return cls(b, (b[..., :2] + b[..., 2:]) / 2, width, height, grow)

    @property
    def num_frames(self) -> int:
        return int(self.boxes.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.boxes.shape[1])

    @property
    def present(self) -> np.ndarray:
        """bool (T, K): the slot has a mouth at the frame."""
        return np.isfinite(self.boxes).all(axis=-1)

    @property
    def has_face(self) -> np.ndarray:
        """bool (T,): at least one mouth at the frame."""
        return self.present.any(axis=1)

    def widths(self) -> np.ndarray:
        """float32 (T, K) mouth box widths (NaN where absent)."""
        return self.boxes[..., 2] - self.boxes[..., 0]

    def take(self, frames: np.ndarray) -> MouthTrack:
        """The track at source frame indices ``frames`` (T_out,)."""
        return self.select(np.asarray(frames, dtype=np.int64), slice(None))

    def select(self, frames, slots) -> MouthTrack:
        """The track at frame indices ``frames`` and face ``slots`` (numpy indices or slices)."""
        faces = None if self.faces is None else self.faces[frames][:, slots]
        return MouthTrack(
            self.boxes[frames][:, slots], self.centers[frames][:, slots], self.width, self.height, self.grow, faces
        )

    def cropped(self, x0: int, y0: int, width: int, height: int) -> MouthTrack:
        """The same mouths in the ``width`` x ``height`` crop of the video whose top-left corner is ``(x0, y0)``."""
        shift4 = np.array([x0, y0, x0, y0], dtype=np.float32)
        faces = None if self.faces is None else self.faces - shift4
        return MouthTrack(self.boxes - shift4, self.centers - shift4[:2], width, height, self.grow, faces)

    def scaled(self, width: int, height: int) -> MouthTrack:
        """The same mouths in a video resized to ``width`` x ``height``."""
        sx, sy = width / self.width, height / self.height
        scale4 = np.array([sx, sy, sx, sy], dtype=np.float32)
        faces = None if self.faces is None else self.faces * scale4
        return MouthTrack(self.boxes * scale4, self.centers * scale4[:2], width, height, self.grow, faces)


class MouthLocator(Protocol):
    """Finds the mouths of every frame of a clip.

    A locator may also have ``locate_iter(frames)``, the same for uint8 (H, W, 3) frames that arrive one at a time
    (:func:`locate_stream` uses it, so that a long take is never held whole).
    """

    def locate(self, frames: np.ndarray) -> MouthTrack:
        """uint8 (T, H, W, 3) RGB frames -> :class:`MouthTrack` of T frames."""
        ...


def locate_stream(locator: MouthLocator, frames: Iterable[np.ndarray]) -> MouthTrack:
    """The locator's track of frames that arrive one at a time; a locator without ``locate_iter`` gets them
    stacked (whole clip in memory)."""
    if hasattr(locator, "locate_iter"):
        return locator.locate_iter(frames)
    return locator.locate(np.stack(list(frames)))


def count_frames(frames: Iterable[np.ndarray]) -> tuple[int, tuple[int, ...]]:
    """Frames and the shape of the first (frames that arrive one at a time, none kept)."""
    n, shape = 0, ()
    for frame in frames:
        shape = shape or np.shape(frame)
        n += 1
    return n, shape


class MediaPipeMouthLocator:
    """Real faces: MediaPipe face mesh; boxes of the outer lips, centres of the inner lips, smoothed over time."""

    def __init__(self, max_faces: int = 1, smooth_sigma: float = 1.0) -> None:
        self.max_faces, self.smooth_sigma = max_faces, smooth_sigma

    @cached_property
    def config(self):
        """The tracker's settings (imported on first use: MediaPipe and SciPy cost ~0.4 s, which a refused dub
        should not wait for)."""
        from talkgen.media.faces import FaceMeshConfig

        return FaceMeshConfig(max_faces=self.max_faces, smooth_sigma=self.smooth_sigma)

    def locate(self, frames: np.ndarray) -> MouthTrack:
        from talkgen.media.faces import FaceMeshTracker

        return self._mouths(FaceMeshTracker(config=self.config).track(frames))

    def locate_iter(self, frames: Iterable[np.ndarray]) -> MouthTrack:
        from talkgen.media.faces import FaceMeshTracker

        tracker = FaceMeshTracker(config=self.config)
        return self._mouths(tracker.assemble(*tracker.detect_iter(frames)))

    @staticmethod
    def _mouths(track) -> MouthTrack:
        centers = np.where(track.present[..., None], track.mouth_center, np.nan)
        boxes = np.where(track.present[..., None], track.mouth_box, np.nan)
        logger.debug("MediaPipe found a face on %.0f%% of frames", 100 * track.face_fraction())
        faces = np.where(track.present[..., None], track.face_box, np.nan)
        return MouthTrack(boxes, centers, track.width, track.height, faces=faces)


class TruthMouthLocator:
    """Characters of the synthetic world: the mouth boxes of their ground truth (one slot per character)."""

    def __init__(self, truth) -> None:
        self.truth = truth

    def locate(self, frames: np.ndarray) -> MouthTrack:
        return self._track(len(frames))

    def locate_iter(self, frames: Iterable[np.ndarray]) -> MouthTrack:
        return self._track(count_frames(frames)[0])

    def _track(self, num_frames: int) -> MouthTrack:
        t = self.truth
        if num_frames != t.num_frames:
            raise ValueError(f"ground truth has {t.num_frames} frames, the video {num_frames}")
        boxes = np.stack([ch.mouth_box for ch in t.characters], axis=1)
        track = MouthTrack.from_boxes(boxes, t.width, t.height, grow=1.0)  # boxes hold every mouth shape
        track.faces = np.stack([ch.face_box for ch in t.characters], axis=1)
        return track


class StaticMouthLocator:
    """A mouth box given by the user for every frame: for stylised faces that detectors miss, or a locked-off shot."""

    def __init__(self, box: tuple[float, float, float, float]) -> None:
        b = np.asarray(box, dtype=np.float32)
        if b.shape != (4,) or not np.isfinite(b).all() or b[2] <= b[0] or b[3] <= b[1]:
            raise ConfigError(f"mouth box must be (x0, y0, x1, y1) with x1 > x0 and y1 > y0, got {box!r}")
        self.box = b

    def locate(self, frames: np.ndarray) -> MouthTrack:
        return self._track(*np.asarray(frames).shape[:3])

    def locate_iter(self, frames: Iterable[np.ndarray]) -> MouthTrack:
        t, shape = count_frames(frames)
        return self._track(t, *shape[:2])

    def _track(self, t: int, h: int, w: int) -> MouthTrack:
        return MouthTrack.from_boxes(np.tile(self.box, (t, 1)), w, h, grow=1.0)  # the user's box is the region


FaceChoice = str | int | tuple[float, float, float, float]


def parse_face(value: str) -> FaceChoice:
    """CLI spelling of a face choice: ``all``, a slot index ``0``, or a box ``x0,y0,x1,y1`` in pixels."""
    text = value.strip().lower()
    if text == "all":
        return "all"
    parts = text.split(",")
    try:
        if len(parts) == 1:
            return int(parts[0])
        if len(parts) == 4:
            x0, y0, x1, y1 = (float(p) for p in parts)
            return (x0, y0, x1, y1)
    except ValueError:
        pass
    raise ConfigError(f"face must be 'all', a face index or a box x0,y0,x1,y1; got {value!r}")


def faces_left_to_right(track: MouthTrack) -> MouthTrack:
    """The same faces with slots reordered by mean mouth x (slot 0 = leftmost; faces never seen come last).

    Per-face speech tracks are numbered this way, as the world numbers its characters left to right.
    """
    present = track.present.sum(axis=0)
    x = np.where(present > 0, np.nansum(np.nan_to_num(track.centers[..., 0]), axis=0) / np.maximum(present, 1), np.inf)
    order = np.argsort(x, kind="stable")
    return track.select(slice(None), order)


def keep_faces(track: MouthTrack, slots: list[int]) -> MouthTrack:
    """Only the face ``slots`` (in that order)."""
    return track.select(slice(None), list(slots))


def select_faces(track: MouthTrack, face: FaceChoice = "all") -> MouthTrack:
    """Keep the mouths of the face that speaks.

    Args:
        face: ``"all"``; a slot index (slots are stable over time, 0 = the face present in most frames for
            MediaPipe with one face); or a pixel box ``(x0, y0, x1, y1)``: the slot whose mouth centres lie
            closest to the box centre on average (frames where it is absent stay absent).
    """
    if isinstance(face, str):
        if face != "all":
            raise ValueError(f"face must be 'all', an index or a box, got {face!r}")
        return track
    if isinstance(face, int | np.integer) and not isinstance(face, bool):
        if not 0 <= face < track.num_faces:
            raise ValueError(f"face index {face} is out of range: {track.num_faces} face slot(s)")
        slot = int(face)
    else:
        box = np.asarray(face, dtype=np.float32)
        if box.shape != (4,) or not np.isfinite(box).all() or box[2] <= box[0] or box[3] <= box[1]:
            raise ValueError(f"face box must be (x0, y0, x1, y1) with x1 > x0 and y1 > y0, got {face!r}")
        centre = (box[:2] + box[2:]) / 2
        dist = np.linalg.norm(track.centers - centre, axis=-1)  # (T, K), NaN where absent
        present = track.present.sum(axis=0)
        mean = np.where(present > 0, np.nansum(np.nan_to_num(dist, nan=0.0), axis=0) / np.maximum(present, 1), np.inf)
        if not np.isfinite(mean).any():
            raise ValueError("no face was found, so no face matches the box")
        slot = int(np.argmin(mean))
    return keep_faces(track, [slot])


def grow_boxes(boxes: np.ndarray, factor: float) -> np.ndarray:
    """``boxes`` (..., 4) ``[x0, y0, x1, y1]`` scaled by ``factor`` about their centres."""
    centre, half = (boxes[..., :2] + boxes[..., 2:]) / 2, (boxes[..., 2:] - boxes[..., :2]) / 2 * factor
    return np.concatenate([centre - half, centre + half], axis=-1)


def face_crop_box(faces: np.ndarray, share: float, height: int, width: int) -> tuple[int, int, int] | None:
    """``(x0, y0, side)`` of one fixed square crop, within the frame, in which a face fills ``share`` of the side.

    ``faces``: float32 (T, 4) boxes of one face slot (NaN rows where absent). The side is the longer side of the
    largest box over ``share``, widened to hold every box of the take (a face that moves stays inside), at most the
    frame's shorter side; the crop is centred on the boxes' union. None when the face is never present.
    """
    if not 0.0 < share <= 1.0:
        raise ValueError(f"face crop share must lie in (0, 1], got {share}")
    boxes = np.asarray(faces, dtype=np.float32)
    boxes = boxes[np.isfinite(boxes).all(axis=1)]
    if not len(boxes):
        return None
    x0, y0 = boxes[:, 0].min(), boxes[:, 1].min()
    x1, y1 = boxes[:, 2].max(), boxes[:, 3].max()
    largest = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]).max()
    side = int(np.ceil(max(largest / share, x1 - x0, y1 - y0) - 1e-3))  # 21 / 0.7 is 30, not 31
    side = max(1, min(side, height, width))
    left = int(np.clip(round((x0 + x1 - side) / 2), 0, width - side))
    top = int(np.clip(round((y0 + y1 - side) / 2), 0, height - side))
    return left, top, side


def parse_extent(extent: str | float) -> float:
    """``"mouth"`` = 0, ``"face"`` = 0.5, ``"frame"`` = 1, or a number in [0, 1]."""
    if isinstance(extent, str):
        key = extent.strip().lower()
        if key in EXTENTS:
            return EXTENTS[key]
        try:
            extent = float(key)
        except ValueError:
            raise ConfigError(f"extent must be mouth, face, frame or a number in [0, 1], got {extent!r}") from None
    value = float(extent)
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"extent must lie in [0, 1], got {value}")
    return value


def edit_mask(
    track: MouthTrack,
    extent: str | float = "mouth",
    grow: float | None = None,
    feather: float = 0.25,
) -> np.ndarray:
    """Blend weight of the edited video per pixel.

    The region of a mouth is its box scaled by ``grow`` (default: the track's) about the centre, interpolated towards
    the whole frame by ``extent`` (``mouth`` 0: the region itself; ``frame`` 1: everything). ``face`` is the face's
    box where the track has face boxes (with the mouth region, should it reach beyond), else the mouth region
    halfway to the frame's edges (0.5). The weight is 1 inside the region and falls off linearly to 0 over
    ``feather`` x the mouth width (at least 1 pixel) outside it (the feathered region). Several mouths: the maximum.

    Args:
        track: mouths of T frames (absent mouths add nothing: frames without a face get weight 0 everywhere).
        extent: ``"mouth"``, ``"face"``, ``"frame"`` or a number in [0, 1].

    Returns:
        float32 (T, H, W) in [0, 1]; exactly 0 outside the feathered regions.
    """
    e = parse_extent(extent)
    face_boxes = track.faces if isinstance(extent, str) and extent.strip().lower() == "face" else None
    grow = track.grow if grow is None else grow
    if grow < 1 or feather < 0:
        raise ValueError("grow must be >= 1 and feather >= 0")
    h, w = track.height, track.width
    ys = np.arange(h, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(w, dtype=np.float32)[None, :] + 0.5
    out = np.zeros((track.num_frames, h, w), dtype=np.float32)
    frame_box = np.array([0.0, 0.0, w, h], dtype=np.float32)
    for t, k in zip(*np.nonzero(track.present), strict=True):
        x0, y0, x1, y1 = track.boxes[t, k]
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        hw, hh = (x1 - x0) / 2 * grow, (y1 - y0) / 2 * grow
        region = np.array([cx - hw, cy - hh, cx + hw, cy + hh], dtype=np.float32)
        if face_boxes is not None and np.isfinite(face_boxes[t, k]).all():
            f = face_boxes[t, k]
            region = np.concatenate([np.minimum(region[:2], f[:2]), np.maximum(region[2:], f[2:])])
        else:
            region = (1 - e) * region + e * frame_box
        ramp = max(feather * (x1 - x0), 1.0)
        dx = np.maximum(np.maximum(region[0] - xs, xs - region[2]), 0.0)
        dy = np.maximum(np.maximum(region[1] - ys, ys - region[3]), 0.0)
        weight = np.clip(1.0 - np.sqrt(dx**2 + dy**2) / ramp, 0.0, 1.0)
        np.maximum(out[t], weight, out=out[t])
    return out


def blend(source: np.ndarray, edited: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``source (1 - m) + edited m`` in uint8; every pixel with ``m == 0`` is the source pixel, bit for bit.

    Args:
        source, edited: uint8 (T, H, W, 3). mask: float (T, H, W) in [0, 1].
    """
    if source.shape != edited.shape or mask.shape != source.shape[:3]:
        raise ValueError(f"blend shapes differ: {source.shape}, {edited.shape}, mask {mask.shape}")
    m = mask[..., None].astype(np.float32)
    mixed = np.round(source.astype(np.float32) * (1 - m) + edited.astype(np.float32) * m)
    return np.where(m > 0, np.clip(mixed, 0, 255).astype(np.uint8), source)


def match_colour(source: np.ndarray, edited: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Shift each frame's edited colours so that their mean over the feathered band matches the source's.

    The band is where ``0 < mask < 1``: where the edit meets the source, skin in both, so a mouth that opens (darker
    inside) is not brightened. A frame whose mask has no band (extent "frame") uses the whole mask.

    Args:
        source, edited: uint8 (T, H, W, 3). mask: float (T, H, W) weights in [0, 1].

    Returns:
        uint8 (T, H, W, 3) corrected edited frames (frames with an empty mask unchanged).
    """
    band = np.where(mask < 1.0, mask, 0.0)
    has_band = band.reshape(len(band), -1).sum(axis=1) > 0
    w = np.where(has_band[:, None, None], band, mask)[..., None].astype(np.float64)
    total = w.sum(axis=(1, 2))  # (T, 1)
    src_mean = (source * w).sum(axis=(1, 2)) / np.maximum(total, 1e-9)
    edit_mean = (edited * w).sum(axis=(1, 2)) / np.maximum(total, 1e-9)
    shift = np.where(total > 0, src_mean - edit_mean, 0.0)[:, None, None, :]
    return np.clip(np.round(edited.astype(np.float64) + shift), 0, 255).astype(np.uint8)


def colour_drift(source: np.ndarray, output: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Largest per-channel difference of mean colour (0-255 scale) between ``output`` and ``source``.

    Computed over the pixels where ``mask > 0`` (every pixel when ``mask`` is None); 0 when nothing was edited.
    """
    sel = np.ones(source.shape[:3], dtype=bool) if mask is None else mask > 0
    if not sel.any():
        return 0.0
    diff = source[sel].astype(np.float64).mean(axis=0) - output[sel].astype(np.float64).mean(axis=0)
    return float(np.abs(diff).max())


@dataclass(frozen=True)
class LengthPlan:
    """How an edit of ``num_video_frames`` source frames meets ``num_audio_frames`` frames of new audio.

    ``frame_index`` (T_out,) is the source frame shown at each output frame; the new audio is cut or padded with
    silence to ``T_out / fps`` seconds.
    """

    policy: str
    num_video_frames: int
    num_audio_frames: int
    frame_index: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(len(self.frame_index))


def fit_length(num_video_frames: int, num_audio_frames: int, policy: str = "pad") -> LengthPlan:
    """Output frames for a video of ``num_video_frames`` and new audio lasting ``num_audio_frames`` frames.

    Policies (V video frames, A audio frames):

    - ``pad`` (default; never drops speech nor footage): ``max(V, A)`` frames; a longer audio holds the last
      source frame, a shorter audio is padded with silence.
    - ``trim``: ``min(V, A)`` frames; the longer of video and audio is cut.
    - ``loop``: ``A`` frames; the video repeats from its start to cover a longer audio, is cut for a shorter one.
    """
    if policy not in LENGTH_POLICIES:
        raise ConfigError(f"length policy must be one of {', '.join(LENGTH_POLICIES)}; got {policy!r}")
    if num_video_frames < 1 or num_audio_frames < 1:
        raise ValueError(f"video and audio need >= 1 frame, got {num_video_frames} and {num_audio_frames}")
    v, a = int(num_video_frames), int(num_audio_frames)
    if policy == "pad":
        index = np.minimum(np.arange(max(v, a)), v - 1)
    elif policy == "trim":
        index = np.arange(min(v, a))
    else:
        index = np.arange(a) % v
    return LengthPlan(policy, v, a, index.astype(np.int64))


def audio_frames(num_samples: int, sample_rate: int, fps: float) -> int:
    """Video frames an audio of ``num_samples`` covers (rounded up; at least 1)."""
    return max(1, int(np.ceil(num_samples * fps / sample_rate - 1e-6)))


def fit_audio(audio: np.ndarray, num_frames: int, fps: float, sample_rate: int) -> np.ndarray:
    """(N,) audio cut or zero-padded to exactly ``num_frames / fps`` seconds."""
    n = int(round(num_frames * sample_rate / fps))
    wave = np.asarray(audio, dtype=np.float32).reshape(-1)[:n]
    return np.pad(wave, (0, n - len(wave)))


def silent_frames(audio: np.ndarray, num_frames: int, fps: float, sample_rate: int, threshold_db: float = -45.0):
    """bool (num_frames,): frames whose audio RMS is below ``threshold_db`` dBFS (where the mouth should close)."""
    wave = fit_audio(audio, num_frames, fps, sample_rate).astype(np.float64)
    edges = np.round(np.arange(num_frames + 1) * sample_rate / fps).astype(np.int64)
    out = np.ones(num_frames, dtype=bool)
    for i in range(num_frames):
        chunk = wave[edges[i] : edges[i + 1]]
        if len(chunk):
            rms = np.sqrt(np.mean(chunk**2))
            out[i] = 20 * np.log10(max(rms, 1e-12)) < threshold_db
    return out
