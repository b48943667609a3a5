"""Per-clip ground truth of the synthetic talking-character world, saved as JSON.

Schema (one JSON object)::

    {fps, num_frames, width, height, sample_rate, caption,
     characters: [{tag: "Person1", seed, description, voice: {...},
                   mouth_params: (T, 5) list, viseme: (T,) ints, speaking: (T,) bools,
                   face_box: (T, 4) [x0, y0, x1, y1] pixels, a row null when off-screen,
                   mouth_box: (T, 4) likewise}],
     shots: [{start_frame, end_frame, kind, visible: [tags]}]}

``end_frame`` is exclusive. On load the arrays are numpy: ``mouth_params`` float32 (T, 5), ``viseme`` int64 (T,),
``speaking`` bool (T,), ``face_box``/``mouth_box`` float32 (T, 4) with NaN rows where the character is off-screen.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from talkgen.errors import TalkgenError

SCHEMA_VERSION = 1


@dataclass
class CharacterTruth:
    """Ground truth of one character over a clip of ``T`` frames.

    Attributes:
        tag: prompt tag, ``"Person1"``, ``"Person2"``...
        seed: identity seed (``make_character(seed)`` rebuilds the identity).
        description: plain-words description used in captions.
        voice: speech settings (espeak voice, variant, rate, pitch).
        mouth_params: float32 (T, 5) in [0, 1], columns ``MOUTH_PARAMS`` (jaw, width, round, teeth, tongue).
        viseme: int64 (T,) viseme class ids.
        speaking: bool (T,) whether the character's own speech is voiced at the frame.
        face_box: float32 (T, 4) ``[x0, y0, x1, y1]`` in pixels, NaN rows when off-screen.
        mouth_box: float32 (T, 4) likewise.
    """

    tag: str
    seed: int
    description: str
    voice: dict[str, Any]
    mouth_params: np.ndarray
    viseme: np.ndarray
    speaking: np.ndarray
    face_box: np.ndarray
    mouth_box: np.ndarray

    def __post_init__(self) -> None:
        self.mouth_params = np.asarray(self.mouth_params, dtype=np.float32).reshape(-1, 5)
        self.viseme = np.asarray(self.viseme, dtype=np.int64).reshape(-1)
        self.speaking = np.asarray(self.speaking, dtype=bool).reshape(-1)
        self.face_box = np.asarray(self.face_box, dtype=np.float32).reshape(-1, 4)
        self.mouth_box = np.asarray(self.mouth_box, dtype=np.float32).reshape(-1, 4)
        lengths = {len(a) for a in (self.mouth_params, self.viseme, self.speaking, self.face_box, self.mouth_box)}
        if len(lengths) != 1:
            raise ValueError(f"{self.tag}: per-frame arrays differ in length ({sorted(lengths)})")

    @property
    def num_frames(self) -> int:
        return len(self.viseme)

    @property
    def visible(self) -> np.ndarray:
        """bool (T,): the face is on screen."""
        return ~np.isnan(self.face_box).any(axis=1)


@dataclass
class ShotTruth:
    """One shot: frames ``[start_frame, end_frame)`` framed as ``kind`` showing the ``visible`` tags."""

    start_frame: int
    end_frame: int
    kind: str
    visible: list[str] = field(default_factory=list)


def _boxes_to_json(boxes: np.ndarray) -> list[list[float] | None]:
    return [None if np.isnan(row).any() else [round(float(v), 3) for v in row] for row in boxes]


def _boxes_from_json(rows: list[list[float] | None]) -> np.ndarray:
    out = np.full((len(rows), 4), np.nan, dtype=np.float32)
    for i, row in enumerate(rows):
        if row is not None:
            out[i] = row
    return out


@dataclass
class GroundTruth:
    """Everything known about a rendered clip: geometry, caption, per-character tracks and the shot list."""

    fps: float
    num_frames: int
    width: int
    height: int
    sample_rate: int
    caption: str
    characters: list[CharacterTruth]
    shots: list[ShotTruth]

    def __post_init__(self) -> None:
        for ch in self.characters:
            if ch.num_frames != self.num_frames:
                raise ValueError(
                    f"{ch.tag}: {ch.num_frames} frames of ground truth for a {self.num_frames}-frame clip"
                )

    def head(self, num_frames: int) -> GroundTruth:
        """The first ``num_frames`` frames (at most all of them): tracks cut, shots clipped."""
        from dataclasses import replace

        n = max(0, min(int(num_frames), self.num_frames))
        cut = ("mouth_params", "viseme", "speaking", "face_box", "mouth_box")
        characters = [replace(ch, **{name: getattr(ch, name)[:n] for name in cut}) for ch in self.characters]
        shots = [
            ShotTruth(s.start_frame, min(s.end_frame, n), s.kind, list(s.visible))
            for s in self.shots
            if s.start_frame < n
        ]
        return replace(self, num_frames=n, characters=characters, shots=shots)

    def character(self, tag: str) -> CharacterTruth:
        """The character with prompt tag ``tag`` (``"Person1"``...)."""
        for ch in self.characters:
            if ch.tag == tag:
                return ch
        raise KeyError(tag)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict in the schema of this module."""
        return {
            "schema": SCHEMA_VERSION,
            "fps": float(self.fps),
            "num_frames": int(self.num_frames),
            "width": int(self.width),
            "height": int(self.height),
            "sample_rate": int(self.sample_rate),
            "caption": self.caption,
            "characters": [
                {
                    "tag": ch.tag,
                    "seed": int(ch.seed),
                    "description": ch.description,
                    "voice": dict(ch.voice),
                    "mouth_params": [[round(float(v), 4) for v in row] for row in ch.mouth_params],
                    "viseme": [int(v) for v in ch.viseme],
                    "speaking": [bool(v) for v in ch.speaking],
                    "face_box": _boxes_to_json(ch.face_box),
                    "mouth_box": _boxes_to_json(ch.mouth_box),
                }
                for ch in self.characters
            ],
            "shots": [
                {
                    "start_frame": int(s.start_frame),
                    "end_frame": int(s.end_frame),
                    "kind": s.kind,
                    "visible": list(s.visible),
                }
                for s in self.shots
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroundTruth:
        """Inverse of :meth:`to_dict`; arrays become numpy."""
        try:
            characters = [
                CharacterTruth(
                    tag=c["tag"],
                    seed=int(c["seed"]),
                    description=c["description"],
                    voice=dict(c.get("voice", {})),
                    mouth_params=np.asarray(c["mouth_params"], dtype=np.float32).reshape(-1, 5),
                    viseme=np.asarray(c["viseme"], dtype=np.int64),
                    speaking=np.asarray(c["speaking"], dtype=bool),
                    face_box=_boxes_from_json(c["face_box"]),
                    mouth_box=_boxes_from_json(c["mouth_box"]),
                )
                for c in data["characters"]
            ]
            shots = [
                ShotTruth(int(s["start_frame"]), int(s["end_frame"]), s["kind"], list(s.get("visible", [])))
                for s in data["shots"]
            ]
            return cls(
                fps=float(data["fps"]),
                num_frames=int(data["num_frames"]),
                width=int(data["width"]),
                height=int(data["height"]),
                sample_rate=int(data["sample_rate"]),
                caption=data["caption"],
                characters=characters,
                shots=shots,
            )
        except (KeyError, TypeError) as exc:
            raise TalkgenError(
                f"ground truth is missing or has a malformed field ({exc}); re-render the clip"
            ) from exc

    def save(self, path: str | os.PathLike) -> Path:
        """Write the JSON atomically to ``path``; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> GroundTruth:
        """Read a file written by :meth:`save`."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise TalkgenError(
                f"ground-truth file {path} does not exist; pass the .truth.json beside the clip"
            ) from exc
        except json.JSONDecodeError as exc:
            raise TalkgenError(f"ground-truth file {path} is not valid JSON ({exc})") from exc
        return cls.from_dict(data)


def truth_path_for(video_path: str | os.PathLike) -> Path:
    """``clip.mp4`` -> ``clip.truth.json`` (the file written beside every rendered clip)."""
    p = Path(video_path)
    return p.with_name(p.stem + ".truth.json")
