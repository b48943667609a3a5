"""CLI commands for scripts: ``talkgen script check FILE`` parses a scene script and prints its shot plan."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from talkgen.errors import ConfigError


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
        from talkgen.prompts.report import format_plan

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
        typer.echo("\n\n".join(format_plan(p, n, len(scenes)) for n, p in plans))
        warned = sum(len(p.warnings) for _, p in plans)
        typer.echo(f"\nok: {len(plans)} scene(s), {sum(len(p.clips) for _, p in plans)} clip(s), {warned} warning(s)")
