"""Footage preparation: users' own video -> training shards (``talkgen prepare FOOTAGE_DIR --out SHARDS``).

Each video is cut at scene changes (mean absolute frame difference above a threshold), clips with a tracked face
(MediaPipe face mesh) are kept, their audio is extracted at 16 kHz and marked speech/no-speech per frame from its
envelope, and their caption comes from a sidecar ``<stem>.txt`` or ``<stem>.srt``. Layout, as
``talkgen synth dataset`` where it applies::

    SHARDS/index.jsonl                     one line per clip: {"id", "shard", "num_frames", "caption", "source"}
    SHARDS/shard-00000/000000.mp4          the clip, H.264 + AAC
    SHARDS/shard-00000/000000.json         caption, source, start/end seconds, fps, speaking (T,), face summary
    SHARDS/shard-00000/000000.audio.npz    "streams": float32 (1, N) speech at 16 kHz (one mixed stream)
    SHARDS/report.json                     {"clips": n, "files": [...], "skipped": [{"file", "reason"}]}

Bad files (unreadable, corrupt, no face) are listed in ``report.json`` and skipped; they never abort the run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from pathlib import Path

import numpy as np

from talkgen import SPEECH_RATE
from talkgen.errors import ConfigError, MediaError

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
REPORT_FILE = "report.json"
INDEX_FILE = "index.jsonl"


@dataclasses.dataclass(frozen=True)
class PrepareConfig:
    """Run-time options of :func:`prepare_footage`.

    Attributes:
        scene_threshold: a cut where the mean absolute frame difference (0-255 scale) exceeds this.
        min_frames: shorter scenes are dropped. max_frames: longer scenes are split into pieces of this length.
        min_face_fraction: a clip needs a tracked face in at least this share of its frames.
        max_faces: face slots tracked per clip.
        speech_dbfs: a frame is speech when its audio RMS is above this level (dBFS).
        shard_size: clips per shard folder.
    """

    scene_threshold: float = 30.0
    min_frames: int = 9
    max_frames: int = 250
    min_face_fraction: float = 0.5
    max_faces: int = 1
    speech_dbfs: float = -40.0
    shard_size: int = 256

    def __post_init__(self) -> None:
        if self.scene_threshold <= 0:
            raise ConfigError(f"scene_threshold must be > 0, got {self.scene_threshold}")
        if not 1 <= self.min_frames <= self.max_frames:
            raise ConfigError(f"need 1 <= min_frames <= max_frames, got {self.min_frames}, {self.max_frames}")
        if not 0.0 <= self.min_face_fraction <= 1.0:
            raise ConfigError(f"min_face_fraction must be in [0, 1], got {self.min_face_fraction}")
        if self.max_faces < 1 or self.shard_size < 1:
            raise ConfigError("max_faces and shard_size must be >= 1")


def scene_cuts(frames: np.ndarray, threshold: float) -> list[int]:
    """Frame indices starting a new scene: mean |frame_t - frame_{t-1}| (uint8 (T, H, W, 3)) above ``threshold``."""
    if len(frames) < 2:
        return []
    diff = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
    return [int(i) + 1 for i in np.flatnonzero(diff > threshold)]


def segments(num_frames: int, cuts: list[int], min_frames: int, max_frames: int) -> list[tuple[int, int]]:
    """``[start, end)`` frame ranges between cuts, split to ``max_frames``, dropping those under ``min_frames``."""
    bounds = [0, *sorted(c for c in cuts if 0 < c < num_frames), num_frames]
    out = []
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        for s in range(start, end, max_frames):
            e = min(s + max_frames, end)
            if e - s >= min_frames:
                out.append((s, e))
    return out


def speech_flags(audio: np.ndarray, fps: float, num_frames: int, threshold_dbfs: float) -> np.ndarray:
    """bool (T,) per video frame: the RMS of its audio span (mono 16 kHz float) is above ``threshold_dbfs``."""
    flags = np.zeros(num_frames, dtype=bool)
    for t in range(num_frames):
        span = audio[int(t * SPEECH_RATE / fps) : int((t + 1) * SPEECH_RATE / fps)]
        if span.size:
            rms = float(np.sqrt(np.mean(np.square(span, dtype=np.float64))))
            flags[t] = 20 * np.log10(max(rms, 1e-10)) > threshold_dbfs
    return flags


_SRT_TIME = re.compile(r"(\d+):(\d+):(\d+)[,.](\d+)\s*-->\s*(\d+):(\d+):(\d+)[,.](\d+)")


def parse_srt(text: str) -> list[tuple[float, float, str]]:
    """``(start_s, end_s, text)`` cues of an SRT file."""
    cues = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()):
        lines = block.strip().split("\n")
        for i, line in enumerate(lines):
            m = _SRT_TIME.search(line)
            if m:
                g = [int(x) for x in m.groups()]
                start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
                end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
                cues.append((start, end, " ".join(s.strip() for s in lines[i + 1 :] if s.strip())))
                break
    return cues


def caption_for(video: Path, start: float, end: float) -> str:
    """The clip's caption: ``<stem>.srt`` cues overlapping ``[start, end)`` s, else ``<stem>.txt``, else ""."""
    srt, txt = video.with_suffix(".srt"), video.with_suffix(".txt")
    if srt.is_file():
        cues = parse_srt(srt.read_text(encoding="utf-8", errors="replace"))
        return " ".join(c for s, e, c in cues if s < end and e > start)
    if txt.is_file():
        return " ".join(txt.read_text(encoding="utf-8", errors="replace").split())
    return ""


def _face_summary(track) -> dict[str, object]:
    present = track.present
    primary = track.primary()
    boxes = track.face_box[present[:, primary], primary]
    return {
        "num_faces": int(present.any(axis=0).sum()),
        "face_fraction": track.face_fraction(),
        "primary": primary,
        "primary_box_median": np.median(boxes, axis=0).astype(np.float64).round(2).tolist() if len(boxes) else None,
        "present": present.astype(int).tolist(),
    }


def _prepare_file(path: Path, config: PrepareConfig, tracker) -> list[dict[str, object]]:
    """Clips (frames, audio, metadata) of one video; raises MediaError/ValueError when unusable."""
    from talkgen.audio.io import load_audio
    from talkgen.media import probe, read_video

    info = probe(path)
    if info.video is None:
        raise MediaError(f"{path.name}: no video stream")
    frames, fps = read_video(path)
    if len(frames) == 0:
        raise MediaError(f"{path.name}: no decodable frames")
    audio = load_audio(path, SPEECH_RATE) if info.has_audio else np.zeros(0, np.float32)
    need = int(np.ceil(len(frames) / fps * SPEECH_RATE))
    audio = np.pad(audio, (0, max(0, need - len(audio))))[:need].astype(np.float32)
    clips = []
    for start, end in segments(
        len(frames), scene_cuts(frames, config.scene_threshold), config.min_frames, config.max_frames
    ):
        track = tracker.track(frames[start:end])
        if track.face_fraction() < config.min_face_fraction:
            continue
        a0, a1 = int(start / fps * SPEECH_RATE), int(end / fps * SPEECH_RATE)
        clip_audio = audio[a0:a1]
        clips.append(
            {
                "frames": frames[start:end],
                "audio": clip_audio,
                "fps": float(fps),
                "meta": {
                    "source": path.name,
                    "start": start / fps,
                    "end": end / fps,
                    "fps": float(fps),
                    "num_frames": end - start,
                    "caption": caption_for(path, start / fps, end / fps),
                    "speaking": speech_flags(clip_audio, fps, end - start, config.speech_dbfs).astype(int).tolist(),
                    "faces": _face_summary(track),
                },
            }
        )
    if not clips:
        raise MediaError(f"{path.name}: no scene of >= {config.min_frames} frames with a tracked face")
    return clips


def prepare_footage(
    footage_dir: str | Path, out: str | Path, config: PrepareConfig | None = None, progress: bool = False
) -> dict[str, object]:
    """Write shards (module docstring) for every video in ``footage_dir``; returns the report (also saved).

    Raises:
        ConfigError: ``footage_dir`` is not a folder. Per-file failures are reported, never raised.
    """
    from tqdm.auto import tqdm

    from talkgen.media import write_video
    from talkgen.media.faces import FaceMeshTracker

    config = config or PrepareConfig()
    footage_dir, out = Path(footage_dir), Path(out)
    if not footage_dir.is_dir():
        raise ConfigError(f"footage folder {footage_dir} does not exist")
    files = sorted(p for p in footage_dir.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    out.mkdir(parents=True, exist_ok=True)
    tracker = FaceMeshTracker(config.max_faces)
    rows, skipped, used = [], [], []
    for path in tqdm(files, desc="prepare", unit="file", disable=not progress):
        try:
            clips = _prepare_file(path, config, tracker)
        except (MediaError, ValueError, OSError, RuntimeError) as exc:
            logger.warning("skipping %s: %s", path.name, exc)
            skipped.append({"file": path.name, "reason": str(exc)})
            continue
        used.append(path.name)
        for clip in clips:
            index = len(rows)
            shard = index // config.shard_size
            folder = out / f"shard-{shard:05d}"
            folder.mkdir(exist_ok=True)
            stem = folder / f"{index:06d}"
            audio = clip["audio"] if clip["audio"].size else None
            write_video(stem.with_suffix(".mp4"), clip["frames"], clip["fps"], audio, SPEECH_RATE)
            stem.with_suffix(".json").write_text(json.dumps(clip["meta"]), encoding="utf-8")
            tmp = folder / f".{index:06d}.audio.tmp.npz"
            with open(tmp, "wb") as f:
                np.savez(f, streams=clip["audio"][None].astype(np.float32))
            os.replace(tmp, stem.with_suffix(".audio.npz"))
            meta = clip["meta"]
            rows.append(
                {
                    "id": index,
                    "shard": shard,
                    "num_frames": meta["num_frames"],
                    "caption": meta["caption"],
                    "source": meta["source"],
                }
            )
    (out / INDEX_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report = {"clips": len(rows), "files": used, "skipped": skipped}
    (out / REPORT_FILE).write_text(json.dumps(report, indent=1), encoding="utf-8")
    logger.info("prepared %d clips from %d files (%d skipped) into %s", len(rows), len(used), len(skipped), out)
    return report
