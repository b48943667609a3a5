"""The benchmark suite: fixed held-out synthetic scenes scored as ceiling, floor and model rows.

- ceiling: the ground-truth render of each case, scored against its own truth;
- floor: the same videos with shuffled audio (the audio-timed ground-truth tracks scrambled in 1 s pieces);
- model: ``render(case) -> frames`` for each case (a pipeline rendering the case's script and speech), scored
  against the case's truth, with the ground-truth render as the drift/flicker reference.

    rows = run_bench(SUITES["ci"])                       # ceiling + floor
    rows = run_bench(SUITES["full"], model=my_render)    # + model row
    table = markdown_table(rows)                         # a markdown table of the rows
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from talkgen.eval.signals import shuffle_segments
from talkgen.eval.world import WorldReport, evaluate_world
from talkgen.pipelines.defaults import FACE_CROP

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchCase:
    """One held-out scene: ``make_scene(seed, characters, mode)`` rendered at ``size`` / ``fps``.

    ``dub`` cases are scored on the re-spoken clip of ``render_edit_pair`` (the dubbing target).
    ``num_lines`` sets the length (a 30 s monologue is many lines by one character). ``head_motion`` scales the
    heads' sway and nods (0: still heads, whose mouths move with the lips alone; the rest of the scene is the same).
    """

    name: str
    seed: int
    characters: int
    mode: str
    size: int = 128
    fps: float = 25.0
    num_lines: int | None = None
    dub: bool = False
    head_motion: float = 1.0


SUITES: dict[str, tuple[BenchCase, ...]] = {
    "full": (
        BenchCase("close-up", 9001, 1, "cut"),
        BenchCase("two-shot dialogue with cuts", 9002, 2, "cut", num_lines=4),
        BenchCase("three characters in one shot", 9003, 3, "continuous", num_lines=3),
        BenchCase("30 s monologue", 9004, 1, "continuous", num_lines=10),
        BenchCase("dubbing pair", 9005, 1, "cut", dub=True),
        BenchCase("dubbing pair, two-shot", 9006, 2, "continuous", num_lines=2, dub=True),
    ),
    "ci": (
        BenchCase("close-up", 9001, 1, "cut", size=64, num_lines=1),
        BenchCase("three characters in one shot", 9003, 3, "continuous", size=64, num_lines=1),
    ),
}

ModelRender = Callable[[BenchCase, object], np.ndarray]
"""``render(case, clip) -> uint8 (T, H, W, 3)``: the model's video of ``clip.truth`` (its script and audio)."""


@dataclass
class RenderedCase:
    """A case's ground-truth clip: frames uint8 (T, H, W, 3), mixed audio (N,), truth, the scene and its lines."""

    case: BenchCase
    frames: np.ndarray
    audio: np.ndarray
    sample_rate: int
    truth: object
    scene: object
    streams: np.ndarray | None = None  # (C, N) speech of each character, in Person-tag order
    source_frames: np.ndarray | None = None  # dub cases: the clip as first spoken, decoded from an mp4 (the footage)
    source_truth: object | None = None  # dub cases: its ground truth (mouth boxes of the footage)


@dataclass
class BenchRow:
    """One table row: the mean of each metric over the suite's cases (NaN-skipping), and per-case reports."""

    name: str
    correlation: float
    abs_offset: float
    confidence: float
    speaker_attribution: float
    closed_in_silence: float
    drift_ratio: float
    flicker_ratio: float
    seconds: float
    dub_psnr_outside_db: float = float("nan")
    face_match: float = float("nan")
    cases: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def render_case(case: BenchCase, device: str = "cpu") -> RenderedCase:
    """Render the ground truth of ``case`` (for dub cases: the re-spoken clip of the edit pair)."""
    from talkgen.synth.world import make_scene, render_clip, render_edit_pair

    scene = make_scene(case.seed, case.characters, case.mode, num_lines=case.num_lines)
    source = footage = None
    how = {"size": case.size, "fps": case.fps, "device": device, "head_motion": case.head_motion}
    if case.dub:
        source, clip = render_edit_pair(scene, **how)
        footage = as_footage(source.frames.cpu().numpy(), case.fps, source.audio, source.sample_rate)
    else:
        clip = render_clip(scene, **how)
    return RenderedCase(
        case, clip.frames.cpu().numpy(), clip.audio, clip.sample_rate, clip.truth, scene, clip.audio_per_character,
        footage, None if source is None else source.truth,
    )  # fmt: skip


def as_footage(frames: np.ndarray, fps: float, audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Frames as an editor has them: written to an mp4 at talkgen's default encode and decoded back."""
    import tempfile
    from pathlib import Path

    from talkgen.media import read_video, write_video

    with tempfile.TemporaryDirectory(prefix="talkgen-bench-") as tmp:
        decoded, _ = read_video(write_video(Path(tmp) / "footage.mp4", frames, fps, audio, sample_rate))
    return decoded


def pipeline_model(
    pipe,
    *,
    steps: int | None = None,
    seed: int = 0,
    guidance=None,
    lipsync=None,
    first_frame: str = "keyframe",
    silent: bool = False,
) -> ModelRender:
    """A model row from a :class:`~talkgen.pipelines.pipeline_talking.TalkingCharacterPipeline`.

    Each case is generated from its ground-truth caption (MoCha template with Person tags) and the speech of each
    character as one audio stream, at the case's size and frame rate; one seeded generator per case. A case with
    cuts is generated a take per shot, as ``talkgen generate`` renders a scene a clip per shot: each take from the
    caption of the shot's characters alone (:func:`~talkgen.synth.world.shot_scene`) and their speech, seeded
    ``seed + case seed + shot index``. Dub cases run the dubbing path instead when ``lipsync`` (a
    :class:`~talkgen.pipelines.pipeline_lipsync.LipSyncPipeline`) is given: the footage is the clip as first spoken,
    the new speech the re-spoken one's, the mouths the footage's ground truth, and the result goes through the mp4
    encode a user gets. ``steps`` None: the defaults users run
    (``talkgen generate`` / ``talkgen dub``). ``first_frame``: what generated cases start from: ``"keyframe"``
    (the default: drawn from the caption when the pipeline has a keyframe transformer), ``"none"`` (text and speech
    alone) or ``"truth"`` (the ground-truth render's first frame as the reference image: what a perfect keyframe
    would give). ``silent``: generate with silent speech streams instead (how much the speech changes the video).
    """
    import math

    import torch

    from talkgen.pipelines.generate import GenerateOptions
    from talkgen.synth.world import caption as world_caption
    from talkgen.synth.world import shot_scene

    generate_steps = GenerateOptions().steps if steps is None else steps
    if first_frame not in ("keyframe", "none", "truth"):
        raise ValueError(f"first_frame must be keyframe, none or truth, got {first_frame!r}")

    def take(case: BenchCase, rc: RenderedCase, caption: str, streams: np.ndarray, num_frames: int, shot: int):
        frames = 4 * math.ceil((num_frames - 1) / 4) + 1  # the causal VAE's 4 k + 1
        need = math.ceil(frames / case.fps * rc.sample_rate) + 1
        if streams.shape[1] < need:
            streams = np.pad(streams, ((0, 0), (0, need - streams.shape[1])))
        if silent:
            streams = np.zeros_like(streams)
        generator = torch.Generator().manual_seed(seed + case.seed + shot)  # CPU noise: the same on any device
        out = pipe(
            caption,
            streams[:4],
            num_frames=frames,
            height=case.size,
            width=case.size,
            fps=case.fps,
            num_inference_steps=generate_steps,
            guidance=guidance,
            generator=generator,
            output_type="np",
            image=rc.frames[rc.truth.shots[shot].start_frame] if first_frame == "truth" else None,
            keyframe=first_frame == "keyframe",
        )
        return np.asarray(out.frames[0][:num_frames])

    def render(case: BenchCase, rc: RenderedCase) -> np.ndarray:
        if case.dub and lipsync is not None:
            return dub_case(lipsync, rc, steps=steps, seed=seed + case.seed)
        streams = rc.streams if rc.streams is not None else rc.audio[None]
        shots = rc.truth.shots
        if len(shots) == 1:
            video = take(case, rc, rc.truth.caption, streams, rc.frames.shape[0], 0)
        else:  # a take per shot, as talkgen's scene renderer makes a clip per shot: its characters, their speech
            pieces = []
            for i, shot in enumerate(shots):
                keep = [rc.scene.tags.index(tag) for tag in shot.visible]
                start = round(shot.start_frame / case.fps * rc.sample_rate)
                caption = world_caption(shot_scene(rc.scene, shot.visible), [shot.kind])
                length = shot.end_frame - shot.start_frame
                pieces.append(take(case, rc, caption, streams[keep, start:], length, i))
            video = np.concatenate(pieces)
        return (np.clip(video, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

    return render


def dub_case(
    lipsync,
    rc: RenderedCase,
    *,
    steps: int | None = None,
    seed: int = 0,
    face_crop: float | None = FACE_CROP,
    retime: bool = True,
) -> np.ndarray:
    """Dub a dub case's footage with its new speech as ``talkgen dub`` does (defaults, ground-truth mouths, mp4; a
    case with several characters gets one speech track per face, as ``--audio-for`` gives). ``face_crop``: the
    dub's (default: ``talkgen dub``'s; None: one whole-frame pass). ``retime``: False dubs the footage as it is
    (``--no-retime``).

    Returns the frames decoded back from the encoded mp4, uint8 (T, H, W, 3).
    """
    import tempfile
    from pathlib import Path

    import torch

    from talkgen.media import read_video, write_video
    from talkgen.pipelines.mouth import TruthMouthLocator

    if rc.source_frames is None:
        raise ValueError(f"case {rc.case.name!r} is not a dub case")
    from talkgen.pipelines.dub import DubConfig

    defaults = DubConfig()  # what `talkgen dub` runs: its steps and its output encode
    characters = len(rc.scene.characters)
    # Several faces: one speech track per face (`talkgen dub --audio-for`), as the world numbers them left to right.
    speech = rc.streams[:characters] if characters > 1 and rc.streams is not None else rc.audio
    out = lipsync(
        rc.source_frames,
        speech,
        mouths=TruthMouthLocator(rc.source_truth),
        fps=rc.case.fps,
        length_policy="trim",
        generator=torch.Generator().manual_seed(seed),
        num_inference_steps=defaults.steps if steps is None else steps,
        face_crop=face_crop,
        retime=None if retime else False,
    )
    with tempfile.TemporaryDirectory(prefix="talkgen-bench-") as tmp:
        path = write_video(Path(tmp) / "dub.mp4", out.frames, rc.case.fps, rc.audio, rc.sample_rate, crf=defaults.crf)
        frames, _ = read_video(path)
    return frames


def psnr_outside_mouth(frames: np.ndarray, rc: RenderedCase) -> float:
    """PSNR (dB) of ``frames`` against a dub case's footage outside the feathered mouth region of its faces."""
    from talkgen.pipelines.mouth import TruthMouthLocator, edit_mask, select_faces

    source = rc.source_frames
    track = select_faces(TruthMouthLocator(rc.source_truth).locate(source), "all")
    outside = edit_mask(track, "mouth") == 0
    n = min(len(frames), len(source))
    diff = frames[:n][outside[:n]].astype(np.float64) - source[:n][outside[:n]].astype(np.float64)
    mse = float(np.mean(diff**2)) if diff.size else float("nan")
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _ratio(value: float, ref: float | None) -> float:
    if ref is None or not np.isfinite(value) or not np.isfinite(ref) or ref <= 1e-9:
        return float("nan")
    return float(value / ref)


def _row(name: str, reports: dict[str, WorldReport], seconds: float) -> BenchRow:
    def mean(key: Callable[[WorldReport], float]) -> float:
        vals = np.array([key(r) for r in reports.values()], dtype=np.float64)
        vals = vals[np.isfinite(vals)]
        return float(vals.mean()) if len(vals) else float("nan")

    return BenchRow(
        name=name,
        correlation=mean(lambda r: r.correlation),
        abs_offset=mean(lambda r: abs(r.offset)),
        confidence=mean(lambda r: r.confidence),
        speaker_attribution=mean(lambda r: r.speaker_attribution),
        closed_in_silence=mean(lambda r: r.closed_in_silence),
        drift_ratio=mean(lambda r: _ratio(r.identity_drift, r.reference_identity_drift)),
        flicker_ratio=mean(lambda r: _ratio(r.flicker, r.reference_flicker)),
        seconds=seconds,
        face_match=mean(lambda r: np.nan if r.face_match is None else r.face_match),
        cases={k: r.to_dict() for k, r in reports.items()},
    )


def shuffled_tracks(truth, seed: int = 0) -> np.ndarray:
    """The truth's jaw tracks (T, C) scrambled in 1 s pieces (the floor's "shuffled audio")."""
    jaw = np.stack([ch.mouth_params[:, 0] for ch in truth.characters], axis=1)
    return shuffle_segments(jaw, max(int(round(truth.fps)), 1), np.random.default_rng(seed))


def run_bench(
    cases: tuple[BenchCase, ...],
    *,
    model: ModelRender | None = None,
    model_name: str = "model",
    device: str = "cpu",
) -> list[BenchRow]:
    """Render every case and score the ceiling, floor and (with ``model``) model rows.

    Args:
        cases: the suite (e.g. ``SUITES["full"]``).
        model: ``render(case, rendered_case) -> uint8 (T, H, W, 3)``; None for ceiling and floor only.
        model_name: label of the model row.
        device: torch device for ground-truth rendering.

    Returns:
        ``[ceiling, floor]`` or ``[ceiling, floor, model]`` rows.
    """
    ceiling: dict[str, WorldReport] = {}
    floor: dict[str, WorldReport] = {}
    modeled: dict[str, WorldReport] = {}
    dub_psnr: dict[str, float] = {}
    t_ceiling = t_floor = t_model = 0.0
    for i, case in enumerate(cases):
        logger.info("bench case %d/%d: %s", i + 1, len(cases), case.name)
        rc = render_case(case, device)
        t0 = time.perf_counter()
        ceiling[case.name] = evaluate_world(rc.frames, rc.truth, reference_frames=rc.frames)
        t1 = time.perf_counter()
        floor[case.name] = evaluate_world(
            rc.frames, rc.truth, reference_frames=rc.frames, reference_tracks=shuffled_tracks(rc.truth, case.seed)
        )
        t2 = time.perf_counter()
        t_ceiling += t1 - t0
        t_floor += t2 - t1
        if model is not None:
            t3 = time.perf_counter()  # the model row's seconds include rendering
            frames = np.asarray(model(case, rc))
            modeled[case.name] = evaluate_world(frames, rc.truth, reference_frames=rc.frames)
            if case.dub:
                dub_psnr[case.name] = psnr_outside_mouth(frames, rc)
            t_model += time.perf_counter() - t3
    rows = [_row("ceiling (ground-truth renders)", ceiling, t_ceiling), _row("floor (shuffled audio)", floor, t_floor)]
    if model is not None:
        row = _row(model_name, modeled, t_model)
        finite = [v for v in dub_psnr.values() if np.isfinite(v)]
        row.dub_psnr_outside_db = float(np.mean(finite)) if finite else float("nan")
        for name, value in dub_psnr.items():
            row.cases[name]["dub_psnr_outside_db"] = value
        rows.append(row)
    return rows


COLUMNS = (
    ("correlation", "sync corr"),
    ("abs_offset", "abs offset (frames)"),
    ("confidence", "confidence"),
    ("speaker_attribution", "speaker attribution"),
    ("closed_in_silence", "closed in silence"),
    ("drift_ratio", "drift / GT"),
    ("flicker_ratio", "flicker / GT"),
    ("dub_psnr_outside_db", "dub PSNR outside mouth (dB)"),
    ("face_match", "face match (GT 1)"),
)


def markdown_table(rows: list[BenchRow]) -> str:
    """The rows as a markdown table (NaN shows as ``-``)."""
    head = "| row | " + " | ".join(label for _, label in COLUMNS) + " |"
    sep = "|---|" + "---:|" * len(COLUMNS)
    lines = [head, sep]
    for r in rows:
        cells = []
        for key, _ in COLUMNS:
            v = getattr(r, key)
            cells.append("-" if not np.isfinite(v) else f"{v:.3f}")
        lines.append(f"| {r.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def attribute_rows(pipe, *, steps: int | None = None, seed: int = 0, size: int = 128, sheet=None) -> list:
    """Prompt-attribute rows (:mod:`talkgen.eval.attributes`) of ``pipe`` on the 12 held-out close-ups; with
    ``sheet`` (a path), also the contact sheet of prompts, generated first frames and ground truth, as PNG."""
    from talkgen.eval.attributes import attribute_cases, contact_sheet, score_attributes

    frames = generated_first_frames(pipe, cases := attribute_cases(size=size), steps=steps, seed=seed)
    if sheet is not None:
        from talkgen.media.images import save_png

        save_png(sheet, contact_sheet(cases, frames))
    lookup = {case.seed: frame for case, frame in zip(cases, frames, strict=True)}
    return score_attributes(cases, lambda case: lookup[case.seed], name="model")


def generated_first_frames(
    pipe, cases: list, *, steps: int | None = None, seed: int = 0, **options
) -> list[np.ndarray]:
    """First frames (H, W, 3) uint8 generated from each attribute case's caption and speech (9 frames each);
    ``options`` go to the pipeline call (``keyframe=False``, say)."""
    import torch

    from talkgen.pipelines.generate import GenerateOptions

    out = []
    for case in cases:
        generator = torch.Generator().manual_seed(seed + case.seed)
        frames = pipe(
            case.caption, case.streams[:4], num_frames=9, height=case.frame.shape[0], width=case.frame.shape[1],
            num_inference_steps=GenerateOptions().steps if steps is None else steps, generator=generator,
            output_type="np", **options,
        ).frames[0]  # fmt: skip
        out.append((np.clip(frames[0], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
    return out


def attribute_table(rows: list) -> str:
    """Markdown table of prompt-attribute rows: overall agreement and per part."""
    from talkgen.eval.attributes import PARTS

    lines = [
        "| row | attributes as prompted | " + " | ".join(PARTS) + " | n |",
        "|---|---:|" + "---:|" * (len(PARTS) + 1),
    ]
    for r in rows:
        cells = [f"{r.per_part[p]:.2f}" if p in r.per_part else "-" for p in PARTS]
        lines.append(f"| {r.name} | {r.agreement:.3f} | " + " | ".join(cells) + f" | {r.count} |")
    return "\n".join(lines)
