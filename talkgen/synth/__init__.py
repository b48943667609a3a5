"""The synthetic talking-character world: characters, renderer, scenes, ground truth, datasets.

Modules (import them directly; this package imports nothing heavy):

- :mod:`talkgen.synth.truth`: ``GroundTruth`` (JSON save/load), ``CharacterTruth``, ``ShotTruth``.
- :mod:`talkgen.synth.characters`: ``make_character(seed) -> Character`` (attributes, ``.description``, ``.voice``).
- :mod:`talkgen.synth.world`: ``make_scene``, ``perform``, ``render_clip``, ``render_edit_pair``, ``redub``,
  ``WorldScene``, ``WorldClip`` (the synthetic world's scenes and clips; script scenes are
  :class:`talkgen.prompts.Scene`, the clips of a shot plan :class:`talkgen.prompts.PlannedClip`).
- :mod:`talkgen.synth.render` / :mod:`talkgen.synth.sdf`: batched anti-aliased SDF drawing.
- :mod:`talkgen.synth.dataset`: ``SynthConfig``, ``SyntheticTalkingDataset``, ``render_sample``, ``write_dataset``.
- :mod:`talkgen.synth.preview`: ``contact_sheet``.

Here: :func:`check_head_motion`, the one range check of the ``head_motion`` setting (configs and ``perform``).
"""

from talkgen.errors import ConfigError


def check_head_motion(head_motion: float) -> None:
    """Raise :class:`~talkgen.errors.ConfigError` (a ValueError) unless ``head_motion`` is in [0, 1]: the share of
    the world's idle head sway and nods a render keeps (0: still heads, 1: the world as drawn)."""
    if not 0 <= head_motion <= 1:
        raise ConfigError(f"head_motion must be in [0, 1] (0: still heads, 1: the world's sway), got {head_motion}")
