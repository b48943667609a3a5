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
"""
