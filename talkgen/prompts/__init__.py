"""Scene scripts (YAML and Fountain), character tags, the shot planner and the structured prompt compiler.

Typical use::

    from talkgen.prompts import load_scene, plan_scene
    plan = plan_scene(load_scene("samples/scenes/dialogue.yaml"))
    spans = [(clip.start, clip.end, clip.speakers, clip.prompt) for clip in plan.clips]

See ``docs/scripts.md`` for the script format and the plan's fields.
"""

from talkgen.prompts.compiler import (
    CompiledPrompt,
    Reduction,
    ShotText,
    Template,
    TokenCounter,
    byt5_token_count,
    compile_prompt,
    get_template,
    load_templates,
    render_prompt,
    tokenizer_counter,
)
from talkgen.prompts.fountain import parse_fountain
from talkgen.prompts.loader import known_voices, load_scene, load_scenes
from talkgen.prompts.planner import AudioSegment, PlannedClip, PlannedLine, ShotPlan, default_template_name, plan_scene
from talkgen.prompts.scene import Character, Line, Scene, ShotSettings, VoicePreset
from talkgen.prompts.source import SourceLocation
from talkgen.prompts.timing import CachedTiming, LineTiming, Pause, TimingFn, estimate_timing, speech_timing
from talkgen.prompts.yaml_script import parse_yaml_scene

__all__ = [
    "AudioSegment",
    "CachedTiming",
    "Character",
    "PlannedClip",
    "CompiledPrompt",
    "Line",
    "LineTiming",
    "Pause",
    "PlannedLine",
    "Reduction",
    "Scene",
    "ShotPlan",
    "ShotSettings",
    "ShotText",
    "SourceLocation",
    "Template",
    "TimingFn",
    "TokenCounter",
    "VoicePreset",
    "byt5_token_count",
    "compile_prompt",
    "default_template_name",
    "estimate_timing",
    "get_template",
    "known_voices",
    "load_scene",
    "load_scenes",
    "load_templates",
    "parse_fountain",
    "parse_yaml_scene",
    "plan_scene",
    "render_prompt",
    "speech_timing",
    "tokenizer_counter",
]
