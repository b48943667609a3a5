"""The shot planner: a scene's dialogue -> a timeline of lines -> clips with prompts and audio references.

The plan is plain frozen data (:class:`ShotPlan`) that the generation pipeline consumes: for each clip, its
frames at the plan's fps, the characters in frame (Person tags), who speaks, which part of which line's audio
plays where in the clip, and the compiled prompt. Line durations come from an injectable timing function
(:mod:`talkgen.prompts.timing`), so tests and previews can run without TTS.
"""

from __future__ import annotations

import bisect
import itertools
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from talkgen.prompts.compiler import (
    CompiledPrompt,
    Reduction,
    ShotText,
    Template,
    TokenCounter,
    byt5_token_count,
    compile_prompt,
    get_template,
    shot_phrase,
)
from talkgen.prompts.scene import Scene
from talkgen.prompts.source import SourceLocation, without_gc_pauses
from talkgen.prompts.timing import CachedTiming, LineTiming, TimingFn, speech_timing

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlannedLine:
    """Where a dialogue line sits on the scene timeline (seconds from the scene start)."""

    index: int
    tag: str
    start: float
    end: float


@dataclass(frozen=True)
class AudioSegment:
    """A piece of one line's speech inside a clip: ``line_index``'s audio from ``line_offset`` for ``duration``
    seconds plays at ``clip_offset`` seconds into the clip, on the audio stream of character ``tag``."""

    line_index: int
    tag: str
    clip_offset: float
    line_offset: float
    duration: float


@dataclass(frozen=True)
class PlannedClip:
    """One generation window.

    Attributes:
        index: position in the plan, from 0.
        start, end: seconds on the scene timeline (frame-aligned: ``start == start_frame / fps``).
        start_frame, num_frames: frames at the plan's fps; clips tile the scene without gaps or overlaps.
        visible: tags of the characters in frame (their audio streams drive their faces; silent ones get silence).
        speakers: tags of the characters speaking in this clip, in order of speaking.
        line_indices: the lines heard in this clip.
        segments: per-character audio pieces to place in the clip.
        template: the prompt template used.
        prompt: the compiled prompt for this clip alone (visible characters described once, then tags).
        reductions: what was removed from ``prompt`` to fit the token budget.
    """

    index: int
    start: float
    end: float
    start_frame: int
    num_frames: int
    visible: tuple[str, ...]
    speakers: tuple[str, ...]
    line_indices: tuple[int, ...]
    segments: tuple[AudioSegment, ...]
    template: str
    prompt: str
    reductions: tuple[Reduction, ...] = ()

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class ShotPlan:
    """A scene planned into clips.

    Attributes:
        scene: the parsed scene (characters with voices and descriptions, lines with text/audio).
        fps: frame rate of every clip; num_frames: total frames; duration: seconds (``num_frames / fps``).
        lines: each line's place on the timeline (the dialogue track is these lines mixed at their starts).
        clips: the generation windows, in order.
        scene_prompt: the scene-level structured prompt over all clips (MoCha format).
        scene_prompt_tokens: its token count; token_budget: the budget it was compiled for.
        reductions: what was removed from the scene prompt to fit the budget.
        warnings: human-readable notes (budget reductions, hard splits without a pause).
    """

    scene: Scene
    fps: float
    num_frames: int
    duration: float
    lines: tuple[PlannedLine, ...]
    clips: tuple[PlannedClip, ...]
    scene_prompt: str
    scene_prompt_tokens: int
    token_budget: int
    reductions: tuple[Reduction, ...]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict:
        """JSON-ready dict (paths as strings, source locations as ``file:line:column``)."""

        def clean(value):
            if isinstance(value, Path | SourceLocation):
                return str(value)
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [clean(v) for v in value]
            return value

        return clean(asdict(self))


def default_template_name(scene: Scene) -> str:
    """``close_up`` for one character, ``dialogue_cuts`` for cuts between several, ``group_shot`` otherwise."""
    if len(scene.characters) == 1:
        return "close_up"
    return "dialogue_cuts" if scene.settings.mode == "cuts" else "group_shot"


def _timeline(scene: Scene, timings: list[LineTiming]) -> tuple[list[PlannedLine], float]:
    s = scene.settings
    t = s.lead_in
    planned = []
    for line, timing in zip(scene.lines, timings, strict=True):
        planned.append(PlannedLine(line.index, line.tag, round(t, 4), round(t + timing.duration, 4)))
        t += timing.duration + (line.pause if line.pause is not None else s.turn_gap)
    last = scene.lines[-1]
    total = planned[-1].end + max(s.tail, last.pause or 0.0)
    return planned, total


def _windows(scene: Scene, planned: list[PlannedLine], total: float) -> list[tuple[float, float, tuple[str, ...]]]:
    """Unsplit windows: one per speaker turn (cuts) or one for the whole scene (continuous)."""
    if scene.settings.mode == "continuous":
        return [(0.0, total, scene.tags)]
    bounds = [0.0]
    tags = [planned[0].tag]
    for prev, nxt in zip(planned, planned[1:], strict=False):
        if nxt.tag != prev.tag:
            gap = nxt.start - prev.end
            bounds.append(nxt.start - min(scene.settings.cut_lead, gap / 2))
            tags.append(nxt.tag)
    bounds.append(total)
    return [(bounds[k], bounds[k + 1], (tags[k],)) for k in range(len(tags))]


def _split_points(planned: list[PlannedLine], timings: list[LineTiming]) -> list[tuple[float, float]]:
    """Candidate cut times (scene seconds, strength): gaps between lines (1.0) and pauses inside lines."""
    points = []
    for k, (pl, timing) in enumerate(zip(planned, timings, strict=True)):
        points.extend((pl.start + p.time, p.strength) for p in timing.pauses if 0 < p.time < timing.duration)
        if k + 1 < len(planned):
            points.append(((pl.end + planned[k + 1].start) / 2, 1.0))
    return points


def _split(
    start: float, end: float, points: list[tuple[float, float]], lo: float, hi: float, warn: list
) -> list[float]:
    """Cut times that split [start, end] into windows of at most ``hi`` seconds (and at least ``lo``)."""
    cuts = []
    w = start
    while end - w > hi:
        first, last = w + lo, min(w + hi, end - lo)
        lo_i, hi_i = bisect.bisect_left(points, (first, -1.0)), bisect.bisect_right(points, (last, 2.0))
        cands = points[lo_i:hi_i]
        if cands:
            c = max(cands, key=lambda cs: cs[1] + 0.5 * (cs[0] - w) / hi)[0]
        else:
            c = last
            warn.append(f"no pause between {w:.2f}s and {last:.2f}s: hard split at {c:.2f}s")
        cuts.append(c)
        w = c
    return cuts


@without_gc_pauses
def plan_scene(
    scene: Scene,
    timing: TimingFn | None = None,
    *,
    template: Template | str | None = None,
    count_tokens: TokenCounter = byt5_token_count,
    template_dir: str | Path | None = None,
) -> ShotPlan:
    """Plan ``scene`` into clips with compiled prompts.

    Args:
        scene: a parsed scene.
        timing: ``(scene, line) -> LineTiming``; default: real speech (TTS or the line's audio file), cached.
        template: a template or its name; default: the scene's ``shot: template`` or :func:`default_template_name`.
        count_tokens: the text encoder's token counter (ByT5 bytes by default; pass a UMT5 counter for the
            foundation track, see :func:`talkgen.prompts.compiler.tokenizer_counter`).
        template_dir: folder of templates (default: the repository's ``prompts/``).

    Raises:
        ScriptError: when a line's speech cannot be measured (located at the line).
        ConfigError: unknown template.
    """
    timing = timing or CachedTiming(speech_timing)
    s = scene.settings
    if isinstance(template, str) or template is None:
        template = get_template(template or s.template or default_template_name(scene), template_dir)
    timings = [timing(scene, line) for line in scene.lines]
    planned, total = _timeline(scene, timings)
    warnings: list[str] = []
    points = sorted(_split_points(planned, timings))

    # Windows -> frame-aligned clips.
    spans: list[tuple[float, float, tuple[str, ...]]] = []
    for start, end, visible in _windows(scene, planned, total):
        edges = [start, *_split(start, end, points, s.min_clip_seconds, s.max_clip_seconds, warnings), end]
        spans.extend((a, b, visible) for a, b in zip(edges, edges[1:], strict=False))
    num_frames = max(1, round(total * s.fps))
    frame_spans = []
    for a, b, visible in spans:
        fa, fb = round(a * s.fps), min(num_frames, round(b * s.fps))
        if frame_spans and fa < frame_spans[-1][1]:
            fa = frame_spans[-1][1]
        if fb > fa:
            frame_spans.append((fa, fb, visible))
    if frame_spans[-1][1] < num_frames:
        fa, _, visible = frame_spans[-1]
        frame_spans[-1] = (fa, num_frames, visible)

    shots: list[ShotText] = []
    raw: list[dict] = []
    starts = [pl.start for pl in planned]  # lines are in time order; ends_max[k]: the latest end of lines 0..k
    ends_max = list(itertools.accumulate((pl.end for pl in planned), max))
    for fa, fb, visible in frame_spans:
        a, b = fa / s.fps, fb / s.fps
        segments, speakers, heard, starting = [], [], [], []
        first = bisect.bisect_right(ends_max, a - 1e-6)
        for pl in planned[first : bisect.bisect_left(starts, b)]:
            lo, hi = max(pl.start, a), min(pl.end, b)
            if hi - lo > 1e-6:
                segments.append(
                    AudioSegment(pl.index, pl.tag, round(lo - a, 4), round(lo - pl.start, 4), round(hi - lo, 4))
                )
                heard.append(pl.index)
                if pl.tag not in speakers:
                    speakers.append(pl.tag)
                if pl.start >= a - 1e-6:
                    starting.append(scene.lines[pl.index])
        shots.append(_shot_text(scene, visible, tuple(speakers), starting, heard))
        raw.append(dict(start=round(a, 4), end=round(b, 4), start_frame=fa, num_frames=fb - fa, visible=visible,
                        speakers=tuple(speakers), line_indices=tuple(heard), segments=tuple(segments)))  # fmt: skip

    descriptions = {c.tag: scene.names_to_tags(c.description) for c in scene.characters}
    setting = scene.names_to_tags(scene.description)
    cast = scene.tags
    phrases = [shot_phrase(template, shot, cast) for shot in shots]
    scene_prompt = compile_prompt(
        template, shots, descriptions, setting, budget=s.token_budget, count_tokens=count_tokens, phrases=phrases
    )
    clips = []
    order = {tag: k for k, tag in enumerate(descriptions)}
    for i, (shot, r) in enumerate(zip(shots, raw, strict=True)):
        own = {t: descriptions[t] for t in sorted(shot.visible, key=order.__getitem__)}
        cp: CompiledPrompt = compile_prompt(
            template,
            [shot],
            own,
            setting,
            budget=s.token_budget,
            count_tokens=count_tokens,
            cast=cast,
            phrases=phrases[i : i + 1],
        )
        clips.append(PlannedClip(index=i, template=template.name, prompt=cp.text, reductions=cp.reductions, **r))
        warnings.extend(f"clip {i + 1} prompt over budget: {red}" for red in cp.reductions)
    warnings[:0] = [f"scene prompt over budget ({s.token_budget} tokens): {red}" for red in scene_prompt.reductions]
    for w in warnings:
        logger.info("%s: %s", scene.source, w)
    return ShotPlan(
        scene=scene,
        fps=s.fps,
        num_frames=num_frames,
        duration=num_frames / s.fps,
        lines=tuple(planned),
        clips=tuple(clips),
        scene_prompt=scene_prompt.text,
        scene_prompt_tokens=scene_prompt.tokens,
        token_budget=s.token_budget,
        reductions=scene_prompt.reductions,
        warnings=tuple(warnings),
    )


def _shot_text(
    scene: Scene, visible: tuple[str, ...], speakers: tuple[str, ...], starting: list, heard: list
) -> ShotText:
    """Expression (the first line's, else the speaker's default) and actions of the lines that start in the clip."""
    source = starting[0] if starting else (scene.lines[heard[0]] if heard else None)
    expression = None
    if source is not None:
        expression = source.expression or scene.character(source.speaker).expression
    actions = [ln.action for ln in starting if ln.action]
    action = "; ".join(scene.names_to_tags(a) for a in actions) or None
    if expression:
        expression = scene.names_to_tags(expression)
    return ShotText(visible=visible, speakers=speakers, expression=expression, action=action)
