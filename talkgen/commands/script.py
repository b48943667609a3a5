"""CLI commands for scripts: ``talkgen script check FILE`` parses a scene script and prints its shot plan."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import typer

from talkgen.errors import ConfigError


def _format_plan(plan, number: int, total: int) -> str:
    """A readable, plain-text view of a :class:`talkgen.prompts.ShotPlan`."""
    scene = plan.scene
    s = scene.settings
    template = plan.clips[0].template if plan.clips else "-"
    out = [
        f"scene {number}/{total}: {scene.title}  ({scene.source})",
        f"  {s.mode}, {plan.fps:g} fps, {plan.duration:.2f} s, {plan.num_frames} frames, "
        f"{len(plan.clips)} clip(s), template {template}",
        "  characters:",
    ]
    for c in scene.characters:
        voice = "audio files" if all(ln.audio for ln in scene.lines if ln.tag == c.tag) else str(c.voice)
        out.append(f"    {c.tag:<8} {c.name:<12} voice {voice}")
        if c.description:
            out.append(f"             {c.description}")
    out.append("  lines:")
    for pl in plan.lines:
        line = scene.lines[pl.index]
        said = line.text or f"[{line.audio.name}]"
        out.append(f"    {pl.index + 1:>3}  {pl.start:6.2f}-{pl.end:6.2f}s  {pl.tag:<8} {textwrap.shorten(said, 70)}")
    out.append("  clips:")
    for clip in plan.clips:
        lines = ",".join(str(i + 1) for i in clip.line_indices) or "-"
        out.append(
            f"    clip {clip.index + 1:>2}  {clip.start:6.2f}-{clip.end:6.2f}s  frames {clip.start_frame}-"
            f"{clip.start_frame + clip.num_frames - 1} ({clip.num_frames})  visible {' '.join(clip.visible)}  "
            f"speaking {' '.join(clip.speakers) or '-'}  lines {lines}"
        )
        out.extend(textwrap.wrap(clip.prompt, 110, initial_indent="      prompt: ", subsequent_indent="        "))
    out.append(f"  scene prompt ({plan.scene_prompt_tokens}/{plan.token_budget} tokens):")
    out.extend(textwrap.wrap(plan.scene_prompt, 110, initial_indent="    ", subsequent_indent="    "))
    if plan.warnings:
        out.append("  warnings:")
        out.extend(f"    - {w}" for w in plan.warnings)
    return "\n".join(out)


def _token_counter(tokenizer_dir: Path | None):
    from talkgen.prompts import byt5_token_count, tokenizer_counter

    if tokenizer_dir is None:
        return byt5_token_count
    if not tokenizer_dir.is_dir():
        raise ConfigError(f"tokenizer folder not found: {tokenizer_dir}; give a local folder with tokenizer files")
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load a tokenizer from {tokenizer_dir}: {exc}") from None
    return tokenizer_counter(tok)


def register(app: typer.Typer) -> None:
    """Add ``talkgen script ...`` to ``app``."""
    script_app = typer.Typer(help="Scene scripts (YAML or Fountain): check them and see the shot plan.")
    app.add_typer(script_app, name="script")

    @script_app.command("check")
    def check(
        file: Path = typer.Argument(..., help="A .yaml scene script or a .fountain screenplay."),
        estimate: bool = typer.Option(False, "--estimate", help="Estimate durations from text (no TTS, faster)."),
        scene: int | None = typer.Option(None, "--scene", min=1, help="Only this scene (1-based) of a Fountain file."),
        template: str | None = typer.Option(None, "--template", help="Prompt template name from prompts/."),
        budget: int | None = typer.Option(None, "--budget", min=16, help="Token budget (default: the script's)."),
        tokenizer: Path | None = typer.Option(None, "--tokenizer", help="Local tokenizer folder (e.g. UMT5)."),
        as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    ) -> None:
        """Parse FILE, plan its shots and print clips, speakers, durations and prompts."""
        from dataclasses import replace

        from talkgen.prompts import CachedTiming, estimate_timing, known_voices, load_scenes, plan_scene, speech_timing

        scenes = load_scenes(file, voices=known_voices())
        if scene is not None:
            if scene > len(scenes):
                raise ConfigError(f"--scene {scene}: {file} has {len(scenes)} scene(s) with dialogue")
            chosen = [(scene, scenes[scene - 1])]
        else:
            chosen = list(enumerate(scenes, start=1))
        timing = CachedTiming(estimate_timing if estimate else speech_timing)
        count = _token_counter(tokenizer)
        plans = []
        for number, sc in chosen:
            if budget is not None:
                sc = replace(sc, settings=replace(sc.settings, token_budget=budget))
            plans.append((number, plan_scene(sc, timing, template=template, count_tokens=count)))
        if as_json:
            typer.echo(json.dumps([p.to_dict() for _, p in plans], indent=2))
            return
        typer.echo("\n\n".join(_format_plan(p, n, len(scenes)) for n, p in plans))
        warned = sum(len(p.warnings) for _, p in plans)
        typer.echo(f"\nok: {len(plans)} scene(s), {sum(len(p.clips) for _, p in plans)} clip(s), {warned} warning(s)")
