"""Scenes, performances and clips of the synthetic world.

``make_scene(seed)`` picks characters, expressions, a background, a shot mode and the dialogue lines.
``perform(scene, speeches, fps)`` lays the turns on a timeline (one speech per line) and derives every per-frame
track: mouth parameters from the phonemes, blinks, idle sway, nods on word onsets, listener glances and nods, and
the shot list (a cut per speaker turn, or one continuous group shot). ``render_performance`` draws it; the motion
does not depend on the pixels, so :func:`render_edit_pair` re-renders the same performance with other speech and
only the mouth pixels change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from talkgen import SPEECH_RATE
from talkgen.audio.tts import Phoneme, Speech
from talkgen.audio.visemes import mouth_track
from talkgen.synth import check_head_motion
from talkgen.synth.characters import BACKGROUND_PALETTES, EXPRESSIONS, Character, make_character
from talkgen.synth.render import ActorPose, background, draw_character, head_box, mouth_box
from talkgen.synth.sdf import Canvas, Frame2D
from talkgen.synth.truth import CharacterTruth, GroundTruth, ShotTruth

SHOT_KINDS = ("close-up", "medium shot", "two-shot", "three-shot")
BACKGROUNDS = ("flat", "gradient", "room")
# Layout per shot kind: (head x as a fraction of width for each slot, head y fraction, pixels per unit / min(H, W)).
_LAYOUTS: dict[str, tuple[tuple[float, ...], float, float]] = {
    "close-up": ((0.5,), 0.5, 0.3),
    "medium shot": ((0.5,), 0.4, 0.19),
    "two-shot": ((0.28, 0.72), 0.42, 0.145),
    "three-shot": ((0.18, 0.5, 0.82), 0.45, 0.105),
}
_WORDS = {
    "subject": ("the red ball", "my blue hat", "this green box", "a yellow star", "the purple cat", "our old map"),
    "verb": ("is under", "was near", "looks like", "sits on", "rolled past", "is behind"),
    "object": ("the table", "a big tree", "the window", "my bag", "the door", "a small chair"),
    "tail": ("today", "again", "right now", "I think", "for sure", "this morning"),
}
_GAP_S = 0.35
_LEAD_IN_S = 0.3


@dataclass(frozen=True)
class WorldScene:
    """Everything about a clip that does not depend on time: who, where, how it is filmed, what is said.

    ``lines`` are turns ``(character index, text)`` spoken in order; ``mode`` is ``"cut"`` (a shot per speaker
    turn) or ``"continuous"`` (one shot of everybody).
    """

    seed: int
    characters: tuple[Character, ...]
    expressions: tuple[str, ...]
    background: str
    palette: tuple[str, str]
    mode: str
    lines: tuple[tuple[int, str], ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.characters) <= 3:
            raise ValueError(f"a scene has 1-3 characters, got {len(self.characters)}")
        if self.mode not in ("cut", "continuous"):
            raise ValueError(f"scene mode must be 'cut' or 'continuous', got {self.mode!r}")
        if any(not 0 <= i < len(self.characters) for i, _ in self.lines):
            raise ValueError("a line names a character index outside the scene")

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(f"Person{i + 1}" for i in range(len(self.characters)))


def _sentence(rng: np.random.Generator) -> str:
    parts = [_WORDS[k][int(rng.integers(len(_WORDS[k])))] for k in ("subject", "verb", "object", "tail")]
    return " ".join(parts).capitalize() + "."


def make_scene(
    seed: int,
    num_characters: int | None = None,
    mode: str | None = None,
    background_kind: str | None = None,
    num_lines: int | None = None,
    lines: Sequence[tuple[int, str]] | None = None,
) -> WorldScene:
    """A deterministic scene for ``seed``; unset choices are drawn from the seed (1-3 characters, cut/continuous)."""
    rng = np.random.default_rng([int(seed), 0x5CE4E])
    n = int(num_characters) if num_characters is not None else int(rng.integers(1, 4))
    if not 1 <= n <= 3:
        raise ValueError(f"num_characters must be 1-3, got {n}")
    char_seeds = rng.choice(1_000_000, size=n, replace=False)
    characters = tuple(make_character(int(s)) for s in char_seeds)
    expressions = tuple(str(EXPRESSIONS[int(rng.integers(len(EXPRESSIONS)))]) for _ in range(n))
    bg = background_kind or BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    palette = BACKGROUND_PALETTES[int(rng.integers(len(BACKGROUND_PALETTES)))]
    chosen_mode = mode or ("cut" if rng.random() < 0.5 else "continuous")
    if lines is None:
        count = num_lines if num_lines is not None else max(n, int(rng.integers(1, 4)))
        lines = [(i % n, _sentence(rng)) for i in range(count)]
    return WorldScene(
        int(seed), characters, expressions, bg, palette, chosen_mode, tuple((int(i), str(t)) for i, t in lines)
    )


def caption(scene: WorldScene, shot_kinds: Sequence[str]) -> str:
    """Structured caption in MoCha's style: shot, setting, one ``PersonN: description`` per character, turns."""
    kinds = list(dict.fromkeys(shot_kinds))
    n = len(scene.characters)
    count = {1: "One character", 2: "Two characters", 3: "Three characters"}[n]
    shot = " then ".join(kinds)
    parts = [f"{shot.capitalize()}. {count} talking in front of a {scene.palette[0]} {scene.background} background."]
    parts += [f"{tag}: {ch.description}." for tag, ch in zip(scene.tags, scene.characters, strict=True)]
    order = list(dict.fromkeys(scene.tags[i] for i, _ in scene.lines))
    if order:
        parts.append(
            " then ".join(order).capitalize() + " speaks."
            if len(order) == 1
            else ", then ".join(order) + " speak in turn."
        )
    return " ".join(parts)


def shot_scene(scene: WorldScene, visible: Sequence[str]) -> WorldScene:
    """The scene as a clip of one shot showing the ``visible`` tags alone (as a scene renderer makes a clip per
    shot): those characters, renumbered Person1... in the order given, and their lines."""
    keep = [scene.tags.index(tag) for tag in visible]
    return replace(
        scene,
        characters=tuple(scene.characters[i] for i in keep),
        expressions=tuple(scene.expressions[i] for i in keep),
        lines=tuple((keep.index(i), text) for i, text in scene.lines if i in keep),
    )


@dataclass
class Performance:
    """Per-frame tracks of a scene for ``num_frames`` frames at ``fps`` (numpy; C = number of characters).

    Attributes:
        mouth: (C, T, 5) mouth parameters; viseme (C, T) int64; speaking (C, T) bool.
        sway: (C, T, 3) head offset (u, v) in head units and tilt in radians, nods included.
        eye_open: (C, T) in [0, 1]; gaze (C, T) in [-1, 1]; brow_raise (C, T) head units.
        shots: shot list (frames, kind, visible tags); turn_starts: start time (s) of each line.
        audio: (C, N) float32 speech per character at ``sample_rate``.
    """

    fps: float
    num_frames: int
    sample_rate: int
    mouth: np.ndarray
    viseme: np.ndarray
    speaking: np.ndarray
    sway: np.ndarray
    eye_open: np.ndarray
    gaze: np.ndarray
    brow_raise: np.ndarray
    shots: list[ShotTruth]
    turn_starts: list[float]
    audio: np.ndarray

    def head(self, frames: int) -> Performance:
        """The first ``frames`` frames of this performance (tracks, shots and audio cut; the motion unchanged).

        Unlike ``perform(..., num_frames=frames)``, which lays out a shorter clip (its shot framings drawn anew),
        this is the same clip, stopped early: ``render_performance(scene, perf.head(1))`` draws its first frame.
        """
        if not 1 <= frames <= self.num_frames:
            raise ValueError(f"frames must lie in [1, {self.num_frames}], got {frames}")
        samples = math.ceil(frames / self.fps * self.sample_rate)
        shots = [replace(s, end_frame=min(s.end_frame, frames)) for s in self.shots if s.start_frame < frames]
        return replace(
            self,
            num_frames=frames,
            **{name: getattr(self, name)[:, :frames] for name in _TRACKS},
            shots=shots,
            turn_starts=[t for t in self.turn_starts if t * self.fps < frames],
            audio=self.audio[:, :samples],
        )


_TRACKS = ("mouth", "viseme", "speaking", "sway", "eye_open", "gaze", "brow_raise")


def _place_speech(
    scene: WorldScene,
    speeches: Sequence[Speech],
    starts: Sequence[float],
    fps: float,
    num_frames: int,
    sample_rate: int,
):
    """Per-character audio (C, N), mouth tracks and word onsets for speeches laid at ``starts``."""
    c = len(scene.characters)
    n_samples = int(round(num_frames / fps * sample_rate))
    audio = np.zeros((c, n_samples), dtype=np.float32)
    phonemes: list[list[Phoneme]] = [[] for _ in range(c)]
    onsets: list[list[float]] = [[] for _ in range(c)]
    for (who, _), speech, t0 in zip(scene.lines, speeches, starts, strict=True):
        if speech.sample_rate != sample_rate:
            raise ValueError(f"speech at {speech.sample_rate} Hz; all speech must be at {sample_rate} Hz")
        s0 = int(round(t0 * sample_rate))
        seg = speech.waveform[: max(0, n_samples - s0)]
        audio[who, s0 : s0 + len(seg)] += seg
        phonemes[who] += [Phoneme(p.symbol, p.start + t0, p.end + t0) for p in speech.phonemes]
        onsets[who] += [w.start + t0 for w in speech.words if len(w.text) > 3]
    tracks = [mouth_track(sorted(p, key=lambda q: q.start), fps, num_frames) for p in phonemes]
    mouth = np.stack([tr.params for tr in tracks]).astype(np.float32)
    viseme = np.stack([tr.viseme for tr in tracks]).astype(np.int64)
    speaking = np.stack([tr.speaking for tr in tracks]).astype(bool)
    return audio, mouth, viseme, speaking, onsets


def _bumps(times: Sequence[float], t: np.ndarray, width: float) -> np.ndarray:
    out = np.zeros_like(t)
    for t0 in times:
        x = (t - t0) / width
        out += np.where((x > 0) & (x < 1), np.sin(np.pi * np.clip(x, 0, 1)), 0.0)
    return np.clip(out, 0, 1.5)


def perform(
    scene: WorldScene,
    speeches: Sequence[Speech],
    fps: float = 25.0,
    num_frames: int | None = None,
    head_motion: float = 1.0,
) -> Performance:
    """Lay the lines (one :class:`Speech` each, same sample rate) on a timeline and derive every per-frame track.

    ``head_motion`` scales the heads' idle sway and nods (0: still heads, whose mouths move with the lips alone; the
    other tracks and every random draw are as at 1, so the same seed gives the same performance otherwise).
    """
    if len(speeches) != len(scene.lines):
        raise ValueError(f"scene has {len(scene.lines)} lines but {len(speeches)} speeches were given")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    check_head_motion(head_motion)
    sample_rate = speeches[0].sample_rate if speeches else SPEECH_RATE
    starts, t = [], _LEAD_IN_S
    for sp in speeches:
        starts.append(t)
        t += sp.duration + _GAP_S
    total = num_frames if num_frames is not None else max(1, math.ceil(t * fps))
    audio, mouth, viseme, speaking, onsets = _place_speech(scene, speeches, starts, fps, total, sample_rate)

    c = len(scene.characters)
    rng = np.random.default_rng([scene.seed, 0x7E4F])
    tt = np.arange(total) / fps
    sway = np.zeros((c, total, 3), dtype=np.float32)
    eye_open = np.ones((c, total), dtype=np.float32)
    gaze = np.zeros((c, total), dtype=np.float32)
    brow = np.zeros((c, total), dtype=np.float32)
    # Who is talking at each frame (-1 nobody), for listeners' glances.
    talker = np.where(speaking.any(axis=0), speaking.argmax(axis=0), -1)
    for i in range(c):
        f = rng.uniform(0.15, 0.4, size=3)
        ph = rng.uniform(0, 2 * np.pi, size=3)
        sway[i, :, 0] = 0.04 * np.sin(2 * np.pi * f[0] * tt + ph[0])
        sway[i, :, 1] = 0.025 * np.sin(2 * np.pi * f[1] * tt + ph[1])
        sway[i, :, 2] = 0.05 * np.sin(2 * np.pi * f[2] * tt + ph[2])
        blink_t = np.cumsum(rng.uniform(1.5, 4.5, size=int(tt[-1] / 1.5) + 2)) - 1.0
        eye_open[i] = 1.0 - np.clip(_bumps(blink_t, tt, 0.16), 0, 1)
        listener_nods = [s for s in np.cumsum(rng.uniform(1.5, 3.5, size=int(tt[-1] / 1.5) + 2)) if s < tt[-1]]
        own = speaking[i]
        nod_times = onsets[i] + [s for s in listener_nods if not own[min(int(s * fps), total - 1)]]
        sway[i, :, 1] += 0.07 * _bumps(nod_times, tt, 0.35)
        brow[i] = 0.05 * _bumps(onsets[i], tt, 0.3)
        others = (talker >= 0) & (talker != i)
        direction = np.sign(talker - i).astype(np.float32)
        gaze[i] = np.where(others, 0.8 * direction, 0.15 * np.sin(2 * np.pi * 0.2 * tt + ph[0]))
    shots = _shots(scene, starts, fps, total, rng)
    sway *= np.float32(head_motion)
    return Performance(
        fps, total, sample_rate, mouth, viseme, speaking, sway, eye_open, gaze, brow, shots, starts, audio
    )


def _shots(
    scene: WorldScene, starts: Sequence[float], fps: float, total: int, rng: np.random.Generator
) -> list[ShotTruth]:
    n = len(scene.characters)
    group = {1: "close-up", 2: "two-shot", 3: "three-shot"}[n]
    if scene.mode == "continuous" or not scene.lines:
        kind = group if n > 1 else ("close-up" if rng.random() < 0.6 else "medium shot")
        return [ShotTruth(0, total, kind, list(scene.tags))]
    shots: list[ShotTruth] = []
    for (who, _), t0 in zip(scene.lines, starts, strict=True):
        start = 0 if not shots else min(max(int(round((t0 - 0.1) * fps)), shots[-1].start_frame + 1), total)
        if shots and shots[-1].visible == [scene.tags[who]]:
            continue
        if shots:
            shots[-1].end_frame = start
        kind = "close-up" if rng.random() < 0.6 else "medium shot"
        shots.append(ShotTruth(start, total, kind, [scene.tags[who]]))
    return [s for s in shots if s.end_frame > s.start_frame]


@dataclass
class WorldClip:
    """A rendered clip: frames uint8 (T, H, W, 3) tensor, mixed audio (N,), audio per character (C, N), truth."""

    frames: torch.Tensor
    audio: np.ndarray
    audio_per_character: np.ndarray
    truth: GroundTruth
    fps: float
    sample_rate: int


def render_performance(
    scene: WorldScene, perf: Performance, size: int | tuple[int, int] = 128, device: str | torch.device = "cpu"
) -> WorldClip:
    """Draw ``perf`` at ``size`` (int or (H, W)) on ``device``; returns frames, audio and ground truth."""
    height, width = (size, size) if isinstance(size, int) else size
    if height < 16 or width < 16:
        raise ValueError(f"frame size must be at least 16x16, got {height}x{width}")
    dev = torch.device(device)
    c, total = len(scene.characters), perf.num_frames
    face = np.full((c, total, 4), np.nan, dtype=np.float32)
    mbox = np.full((c, total, 4), np.nan, dtype=np.float32)
    bg = background(scene.background, scene.palette, height, width, dev)
    segments = []
    for shot in perf.shots:
        s, e = shot.start_frame, shot.end_frame
        canvas = Canvas(bg, e - s)
        xs, y, unit = _LAYOUTS[shot.kind]
        scale = unit * min(height, width)
        visible = [scene.tags.index(tag) for tag in shot.visible]
        for slot, i in enumerate(visible):
            sw = perf.sway[i, s:e]
            cx = xs[slot] * width + scale * sw[:, 0]
            cy = y * height + scale * sw[:, 1]
            sc = np.full(e - s, scale)
            head = Frame2D(cx, cy, sc, sw[:, 2], dev)
            body = Frame2D(cx, np.full(e - s, y * height), sc, np.zeros(e - s), dev)
            ch = scene.characters[i]
            gaze = perf.gaze[i, s:e].copy()
            if len(visible) == 1:
                gaze *= 0.3
            pose = ActorPose(
                head,
                body,
                perf.eye_open[i, s:e],
                gaze,
                perf.brow_raise[i, s:e],
                perf.mouth[i, s:e],
                scene.expressions[i],
            )
            draw_character(canvas, ch, pose)
            face[i, s:e] = _clip_box(head.pixel_boxes(head_box(ch)), width, height)
            mbox[i, s:e] = _clip_box(head.pixel_boxes(mouth_box(ch)), width, height)
        segments.append(canvas.to_uint8())
    frames = torch.cat(segments, dim=0)
    truth = GroundTruth(
        fps=perf.fps,
        num_frames=total,
        width=width,
        height=height,
        sample_rate=perf.sample_rate,
        caption=caption(scene, [s.kind for s in perf.shots]),
        characters=[
            CharacterTruth(
                tag=scene.tags[i],
                seed=ch.seed,
                description=ch.description,
                voice=dict(ch.voice),
                mouth_params=perf.mouth[i],
                viseme=perf.viseme[i],
                speaking=perf.speaking[i],
                face_box=face[i],
                mouth_box=mbox[i],
            )
            for i, ch in enumerate(scene.characters)
        ],
        shots=[replace(s) for s in perf.shots],
    )
    mixed = np.clip(perf.audio.sum(axis=0), -1.0, 1.0).astype(np.float32)
    return WorldClip(frames, mixed, perf.audio.copy(), truth, perf.fps, perf.sample_rate)


def _clip_box(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip (T, 4) pixel boxes to the frame; rows entirely off-frame become NaN."""
    out = boxes.copy()
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
    off = (out[:, 2] <= out[:, 0]) | (out[:, 3] <= out[:, 1])
    out[off] = np.nan
    return out


def speak_lines(scene: WorldScene, sample_rate: int = SPEECH_RATE, texts: Sequence[str] | None = None) -> list[Speech]:
    """Synthesise each line of ``scene`` (or ``texts`` instead) in its speaker's voice."""
    from talkgen.audio.tts import synthesize

    texts = [t for _, t in scene.lines] if texts is None else list(texts)
    if len(texts) != len(scene.lines):
        raise ValueError(f"{len(texts)} texts for {len(scene.lines)} lines")
    out = []
    for (who, _), text in zip(scene.lines, texts, strict=True):
        v = scene.characters[who].voice
        out.append(
            synthesize(
                text,
                str(v["voice"]),
                variant=str(v["variant"]),
                rate=int(v["rate"]),
                pitch=int(v["pitch"]),
                sample_rate=sample_rate,
            )
        )
    return out


def render_clip(
    scene: WorldScene,
    speeches: Sequence[Speech] | None = None,
    *,
    size: int | tuple[int, int] = 128,
    fps: float = 25.0,
    num_frames: int | None = None,
    device: str | torch.device = "cpu",
    sample_rate: int = SPEECH_RATE,
    head_motion: float = 1.0,
) -> WorldClip:
    """Render ``scene`` speaking ``speeches`` (one per line; synthesised from the lines when None); ``head_motion``
    as :func:`perform`'s (0: still heads)."""
    if speeches is None:
        speeches = speak_lines(scene, sample_rate)
    return render_performance(scene, perform(scene, speeches, fps, num_frames, head_motion), size, device)


def redub(scene: WorldScene, perf: Performance, speeches: Sequence[Speech]) -> Performance:
    """The same performance (motion, shots, length) with other speech laid at the same turn starts."""
    if len(speeches) != len(scene.lines):
        raise ValueError(f"scene has {len(scene.lines)} lines but {len(speeches)} speeches were given")
    audio, mouth, viseme, speaking, _ = _place_speech(
        scene, speeches, perf.turn_starts, perf.fps, perf.num_frames, perf.sample_rate
    )
    return replace(perf, mouth=mouth, viseme=viseme, speaking=speaking, audio=audio)


def silence_character(scene: WorldScene, speeches: Sequence[Speech], who: int) -> list[Speech]:
    """``speeches`` with each line of character ``who`` replaced by silence (its mouth stays closed)."""
    return [
        Speech(np.zeros(0, np.float32), sp.sample_rate, (), ()) if line_who == who else sp
        for (line_who, _), sp in zip(scene.lines, speeches, strict=True)
    ]


def render_edit_pair(
    scene: WorldScene,
    speeches: Sequence[Speech] | None = None,
    other_speeches: Sequence[Speech] | None = None,
    *,
    size: int | tuple[int, int] = 128,
    fps: float = 25.0,
    device: str | torch.device = "cpu",
    sample_rate: int = SPEECH_RATE,
    head_motion: float = 1.0,
) -> tuple[WorldClip, WorldClip]:
    """The clip and the same clip re-spoken: identical motion, identities and shots; only the mouths differ.

    ``other_speeches`` default to other sentences (drawn from the scene seed) in the same voices; ``head_motion`` as
    :func:`perform`'s (0: still heads).
    """
    if speeches is None:
        speeches = speak_lines(scene, sample_rate)
    if other_speeches is None:
        rng = np.random.default_rng([scene.seed, 0xED17])
        other_speeches = speak_lines(scene, sample_rate, [_sentence(rng) for _ in scene.lines])
    perf = perform(scene, speeches, fps, head_motion=head_motion)
    return render_performance(scene, perf, size, device), render_performance(
        scene, redub(scene, perf, other_speeches), size, device
    )
