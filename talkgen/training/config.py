"""Run-time options of a training run: one frozen dataclass, validated on construction, loadable from YAML.

Architecture comes from a model preset (:mod:`talkgen.models.presets`); the ``*_overrides`` mappings replace some
of a preset component's kwargs (tests and small experiments use them to shrink the model). Everything else is a
run-time option of the loop (optimiser, schedule, dropout, checkpoints, logging).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from talkgen.errors import ConfigError
from talkgen.synth import check_head_motion

TASKS = ("dit", "vae", "audio", "text", "codec")
SIGMA_SAMPLINGS = ("uniform", "logit_normal")
MIXED_PRECISIONS = ("no", "fp16", "bf16")
LOSS_SPACES = ("velocity", "sample")
COMPONENTS = ("transformer", "vae", "text_encoder", "audio_encoder")


@dataclass(frozen=True)
class TrainConfig:
    """Options of one training run (DiT or VAE).

    Attributes:
        task: ``"dit"`` (flow matching on VAE latents), ``"vae"`` (reconstruction + KL) or ``"audio"`` (built-in
            audio encoder pretraining on the synthetic world's mouth parameters, :mod:`talkgen.training.audio`),
            ``"text"`` (tiny T5 pretraining on the world's character attributes, :mod:`talkgen.training.text`) or
            ``"codec"`` (fitting the tiny preset's patch codec on ``codec_clips`` clips,
            :mod:`talkgen.training.codec`; ``codec_stats_scale``: ``global``, one latent scale, or ``channel``,
            each principal component scaled to unit variance).
        preset: model preset name. ``*_overrides``: kwargs replacing the preset's for that component.
        output_dir: where checkpoints (``checkpoint-<step>/``) and ``log.jsonl`` go. resume_from: a checkpoint dir,
            ``"latest"`` (newest under ``output_dir``) or None.
        vae_path: a trained VAE folder (``save_pretrained``) for DiT training; None = the preset's random VAE.
        foundation_dir: a local Wan2.1 diffusers folder (``transformer/``, ``vae/``, ``text_encoder/``,
            ``tokenizer/``): the DiT starts from its transformer (new layers at their identity init) and trains
            against its frozen VAE and UMT5. Required by presets without a built-in text encoder (``wan-1.3b``).
        audio_encoder_dir: a local Wav2Vec2 / Whisper folder for presets whose audio encoder is one (frozen).
        init_from: fine-tuning: a trained DiT's folder (a pipeline folder such as ``models/talkgen-tiny``, a run's
            ``final/``, or its ``transformer/``) whose transformer weights the run starts from, with a fresh
            optimizer, schedule and EMA; its config must match the preset's (with overrides). Not with
            ``foundation_dir``; with ``resume_from`` the checkpoint's weights replace these (resume a fine-tune).
        init_speech_gain: with ``init_from``, each block's speech attention output projection (weight and bias) is
            multiplied by this at the start (1: as trained). The speech attention of the shipped weights adds 0.3-4%
            of the residual stream's norm and training does not grow it (``benchmarks/bench_speech_reliance.py``);
            started 10x louder, 250 steps of stage 16's recipe made the loss depend on the speech (another clip's
            speech raised it 3.6%, against under 1% for every earlier candidate).
        init_blocks: with ``init_from``, start a shallower or deeper transformer from its blocks: block ``i`` here
            starts as block ``init_blocks[i]`` there (one index per layer), every other weight as there; speech
            attention may be left out here (``audio_block_indices``), its weights are then not copied. A null entry
            is a new block that starts as the identity (its output projections zero), so that a deeper transformer
            (``num_layers``) starts out computing what the trained one does.
        trainable_parameters: DiT only: train just the transformer parameters whose names match one of these
            shell patterns (``fnmatch``; for example ``["*audio*"]``: the speech path, that is ``audio_proj``, the
            slot, null and window embeddings and each block's ``audio_attn`` and ``norm_audio``), every other
            weight frozen; a pattern that matches no parameter is an error. None: train them all. The optimizer,
            gradient clipping and EMA see only these.
        lr_scales: learning-rate multipliers by parameter name: shell pattern -> factor (> 0), the names as the run's
            module holds them (``transformer.text_pool_proj.weight``, so ``"*text_pool*"`` reaches a switch's new
            layers); a parameter takes the first pattern it matches, others the plain ``learning_rate``; the warmup
            and cosine schedule scale every group alike. For layers a fine-tune adds at zero, which at the plain
            rate of a trained network hardly move. A pattern that matches no trained parameter is an error.
        size, num_frames, fps, max_characters: synthetic clips (``num_frames = 4 k + 1``, ``size`` divisible by 16).
        data_seed: scene seed of sample 0 (sample i is ``data_seed + i``, so resuming skips rendered samples); with
            ``data_dir``, the seed of the epoch permutations, clip windows and edit draws.
        latent_cache, latent_cache_clips, latent_cache_max_frames: DiT runs on the synthetic world can encode
            ``latent_cache_clips`` whole clips (at most ``latent_cache_max_frames`` frames) once with the frozen VAE
            and audio encoder into the folder ``latent_cache`` and train on windows of them
            (:mod:`talkgen.training.latent_cache`); None: encode every batch.
        latent_cache_stills: keyframe runs (``num_frames: 1``): cache each clip's first frame alone (one frame
            rendered and encoded instead of the clip, so many more clips fit the same time), captioned as its clip.
        text_encoder_path: a pretrained tiny T5 folder (``talkgen train text``'s ``final/``, see
            :mod:`talkgen.training.text`) the DiT run trains against (frozen); None: the preset's random one.
        audio_encoder_path: a pretrained built-in audio encoder folder (``talkgen train audio``'s ``final/``) the
            DiT run starts from; None: a randomly initialised one.
        data_dir: shards written by ``talkgen synth dataset`` or ``talkgen prepare`` (None: render the synthetic
            world on the fly). See :mod:`talkgen.training.data`.
        steps, batch_size, learning_rate, weight_decay, adam_beta1/2, adam_eps, warmup_steps, max_grad_norm:
            optimisation (AdamW, linear warmup + cosine decay to 0 at ``steps``, global-norm gradient clipping).
        ema_decay: EMA of the trained weights (0 disables EMA).
        text_only_share: share of samples trained as text-only video (audio nulled), MoCha's joint training.
        edit_share: share of samples trained as edits (source video + new speech -> re-spoken video), for
            mask-free lip-sync; needs edit pairs (the synthetic world, or ``talkgen synth dataset --edit-pairs``).
        source_mouth_dropout: share of edit samples whose source latents are zeroed on the latent cells over the
            mouths (boxes widened by ``mouth_margin``), so that the mouth comes from the speech and not from the
            footage (which, in the world's edit pairs, shares the new line's timing); an exported model then hides
            those cells when it dubs (``hide_source_mouth`` in its model_index.json).
        edit_repeat: with a latent cache, each edit clip appears this many times per epoch (1: as drawn), to train
            dubbing more without re-encoding the cache (whose ``edit_share`` is fixed when it is built).
        silent_edit_share: with a latent cache, share of its edit clips in which one character who speaks in the
            source is silent in the re-spoken clip (each of its lines replaced by silence, so its mouth stays
            closed): dubbing a silent track must close a mouth the footage moved.
        head_motion: how much the synthetic world's heads sway and nod, 0 to 1 (0: still heads, so the mouths move
            with the lips alone; a curriculum can start there and add the motion back, for example through
            ``latent_cache_extra``); recorded in a latent cache's identity when not 1.
        latent_cache_extra, latent_cache_extra_share: a second complete latent cache (built by a run of its own,
            for example of silent edits; same size, fps, characters and frozen encoders) from which this share of
            samples is drawn, so a lesson can be added without re-encoding the main cache.
        motion_share: share of (non-edit) samples conditioned on their first ``motion_latent_frames`` latent frames
            as motion latents, as long takes continue a window.
        text_dropout, audio_dropout, reference_dropout: per-condition dropout to the learned/empty null.
        sigma_sampling, logit_mean, logit_std, shift: how training sigmas are drawn (shift as in Wan / SD3).
        mouth_weight, mouth_margin: the reconstruction (VAE) and velocity (DiT) losses weigh the synthetic world's
            mouth boxes, widened by ``mouth_margin`` of their size, ``1 + mouth_weight`` times (0: plain MSE;
            batches without mouth boxes, such as footage shards, use plain MSE). See
            :mod:`talkgen.training.weighting`.
        loss_space: DiT only: ``"velocity"`` (the flow-matching MSE on velocities, which weighs each sample's clean
            latent error by ``1 / sigma^2``, so nearly clean inputs dominate) or ``"sample"`` (the MSE on the clean
            latents the velocity implies, every noise level alike: where the input is mostly noise, which is where
            only text and speech say what the mouth does, counts as much as where the input already shows it).
        articulation_weight, articulation_components: DiT runs on a latent cache with edit pairs: the clean latents'
            error on the mouth cells, projected on the ``articulation_components`` latent directions the lips move
            in (principal directions of the cache's edit-minus-source differences there, which are articulation
            alone), is added to the loss times this weight (0: off). The lips' movement is ~5% of the mouth cells'
            movement in latent units (head sway and nods are the rest), so without it what the speech decides
            barely counts.
        edit_mouth_weight: DiT only: the mouth cells of edit samples weigh this much more again (0: as every
            sample). An edit's mouth differs from its source's by a small fraction of the latents' spread, so
            copying the footage's mouth costs little under the plain weights; this makes the change count.
        crop_size: VAE training on random square crops of this many pixels (half near a mouth); None: whole frames.
        mouth_crop: DiT runs on a latent cache: each window cropped to a square of this many latent cells (even)
            around one of its mouths, the same square in every frame, its reference and its source, so that a step
            costs a fraction of a whole frame's and the mouths are a large share of what it learns; 0: whole frames.
        kl_weight: VAE KL term weight. seed: seed of the model init and of the loop's random draws.
        log_every, checkpoint_every: in steps (checkpoint 0 = only at the end). mixed_precision: accelerate's.
        cpu: force the CPU even when an accelerator is visible (exact-resume tests, debugging).
        train_audio_encoder: train the built-in audio encoder with the DiT (else it stays frozen).
        gradient_checkpointing: recompute transformer blocks in the backward pass (less memory, ~30% slower).
        validate_every: every this many steps (0: never) compute a fixed-noise validation loss on
            ``validation_samples`` held-out synthetic clips and write a validation clip to
            ``output_dir/validation/`` (DiT: sampled with ``validation_steps`` steps; VAE: reconstruction).
        tensorboard: also log to ``output_dir/tensorboard`` (needs the ``tensorboard`` package).
    """

    task: str = "dit"
    preset: str = "tiny"
    transformer_overrides: dict[str, Any] = field(default_factory=dict)
    vae_overrides: dict[str, Any] = field(default_factory=dict)
    text_encoder_overrides: dict[str, Any] = field(default_factory=dict)
    audio_encoder_overrides: dict[str, Any] = field(default_factory=dict)
    output_dir: str = "runs/tiny"
    resume_from: str | None = None
    vae_path: str | None = None
    foundation_dir: str | None = None
    audio_encoder_dir: str | None = None
    init_from: str | None = None
    init_blocks: list[int | None] | None = None
    init_speech_gain: float = 1.0
    trainable_parameters: list[str] | None = None
    lr_scales: dict[str, float] | None = None
    size: int = 128
    num_frames: int = 25
    fps: float = 25.0
    max_characters: int = 3
    data_seed: int = 0
    data_dir: str | None = None
    latent_cache: str | None = None
    latent_cache_clips: int = 1024
    latent_cache_max_frames: int = 81
    latent_cache_stills: bool = False
    audio_encoder_path: str | None = None
    text_encoder_path: str | None = None
    codec_clips: int = 64
    codec_stats_scale: str = "global"
    text_len: int = 64
    steps: int = 1000
    batch_size: int = 2
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    warmup_steps: int = 100
    max_grad_norm: float = 1.0
    ema_decay: float = 0.999
    text_only_share: float = 0.2
    edit_share: float = 0.0
    edit_repeat: int = 1
    source_mouth_dropout: float = 0.0
    silent_edit_share: float = 0.0
    head_motion: float = 1.0
    latent_cache_extra: str | None = None
    latent_cache_extra_share: float = 0.0
    motion_share: float = 0.0
    motion_latent_frames: int = 1
    text_dropout: float = 0.1
    audio_dropout: float = 0.1
    reference_dropout: float = 0.5
    sigma_sampling: str = "logit_normal"
    logit_mean: float = 0.0
    logit_std: float = 1.0
    shift: float = 1.0
    kl_weight: float = 1e-6
    mouth_weight: float = 0.0
    loss_space: str = "velocity"
    articulation_weight: float = 0.0
    articulation_components: int = 16
    edit_mouth_weight: float = 0.0
    crop_size: int | None = None
    mouth_crop: int = 0
    mouth_margin: float = 0.5
    seed: int = 0
    log_every: int = 1
    checkpoint_every: int = 500
    mixed_precision: str = "no"
    cpu: bool = False
    train_audio_encoder: bool = True
    gradient_checkpointing: bool = False
    validate_every: int = 0
    validation_samples: int = 2
    validation_steps: int = 8
    tensorboard: bool = True

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        from talkgen.models.presets import get_preset

        get_preset(self.preset)
        for component in COMPONENTS:
            value = getattr(self, f"{component}_overrides")
            if value is None:
                value = {}
            if not isinstance(value, dict | MappingProxyType):
                raise ConfigError(f"{component}_overrides must be a mapping, got {type(value).__name__}")
            object.__setattr__(self, f"{component}_overrides", MappingProxyType(dict(value)))
        if self.size < 16 or self.size % 16:
            raise ConfigError(f"size must be a positive multiple of 16 pixels, got {self.size}")
        if self.num_frames < 1 or (self.num_frames - 1) % 4:
            raise ConfigError(f"num_frames must be 4 k + 1 (causal VAE), got {self.num_frames}")
        if self.fps <= 0:
            raise ConfigError(f"fps must be positive, got {self.fps}")
        if not 1 <= self.max_characters <= 3:
            raise ConfigError(f"max_characters must be 1-3, got {self.max_characters}")
        for name in ("steps", "batch_size", "text_len", "log_every", "validation_samples", "validation_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "checkpoint_every", "data_seed", "seed", "validate_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.crop_size is not None and (self.crop_size < 16 or self.crop_size % 16):
            raise ConfigError(f"crop_size must be a multiple of 16 pixels or null, got {self.crop_size}")
        if min(self.mouth_weight, self.mouth_margin, self.edit_mouth_weight) < 0:
            raise ConfigError(
                "mouth_weight, edit_mouth_weight and mouth_margin must be >= 0, got"
                f" {self.mouth_weight}, {self.edit_mouth_weight}, {self.mouth_margin}"
            )
        if self.edit_mouth_weight > 0 and (self.task != "dit" or self.edit_share <= 0):
            raise ConfigError("edit_mouth_weight weighs the mouths of edit samples: a DiT run with edit_share > 0")
        if self.weight_decay < 0 or self.adam_eps <= 0 or self.max_grad_norm <= 0 or self.kl_weight < 0:
            raise ConfigError("weight_decay and kl_weight must be >= 0; adam_eps and max_grad_norm must be > 0")
        for name in ("adam_beta1", "adam_beta2", "ema_decay"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        for name in (
            "text_only_share",
            "edit_share",
            "source_mouth_dropout",
            "silent_edit_share",
            "latent_cache_extra_share",
            "motion_share",
            "text_dropout",
            "audio_dropout",
            "reference_dropout",
        ):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}")
        if self.sigma_sampling not in SIGMA_SAMPLINGS:
            choices = ", ".join(SIGMA_SAMPLINGS)
            raise ConfigError(f"sigma_sampling must be one of {choices}, got {self.sigma_sampling!r}")
        if self.logit_std <= 0 or self.shift <= 0:
            raise ConfigError(f"logit_std and shift must be positive, got {self.logit_std}, {self.shift}")
        latent_frames = (self.num_frames - 1) // 4 + 1
        if self.motion_share > 0 and not 1 <= self.motion_latent_frames < latent_frames:
            raise ConfigError(
                f"motion_latent_frames must lie in [1, {latent_frames - 1}] for {self.num_frames} frames"
                f" ({latent_frames} latent frames), got {self.motion_latent_frames}"
            )
        if self.latent_cache is not None and (self.task != "dit" or self.data_dir or self.foundation_dir):
            raise ConfigError("latent_cache is for DiT runs on the synthetic world: unset data_dir and foundation_dir")
        if self.latent_cache_stills and (self.latent_cache is None or self.num_frames != 1):
            raise ConfigError(
                f"latent_cache_stills caches first frames for keyframe runs: set latent_cache and num_frames: 1"
                f" (got latent_cache {self.latent_cache!r}, num_frames {self.num_frames})"
            )
        if self.mouth_crop and (self.mouth_crop < 2 or self.mouth_crop % 2 or self.latent_cache is None):
            raise ConfigError(
                "mouth_crop is an even number of latent cells >= 2 that crops latent cache windows (set"
                f" latent_cache), or 0 for whole frames; got {self.mouth_crop}"
            )
        check_head_motion(self.head_motion)
        if self.head_motion != 1.0 and self.data_dir:
            raise ConfigError("head_motion shapes the synthetic world; footage (data_dir) moves as it was filmed")
        if self.silent_edit_share > 0 and (self.latent_cache is None or self.edit_share <= 0):
            raise ConfigError("silent_edit_share shapes a latent cache's edit clips: set latent_cache and edit_share")
        if (self.latent_cache_extra is None) != (self.latent_cache_extra_share == 0) or (
            self.latent_cache_extra is not None and self.latent_cache is None
        ):
            raise ConfigError(
                "latent_cache_extra and latent_cache_extra_share go together, beside a latent_cache: set both (a"
                " built cache folder and a share above 0) or neither"
            )
        if self.init_from is not None and (self.task != "dit" or self.foundation_dir):
            raise ConfigError("init_from (trained DiT weights) needs task: dit and no foundation_dir")
        if self.init_speech_gain != 1.0 and (self.init_from is None or not self.init_speech_gain > 0):
            raise ConfigError(
                f"init_speech_gain scales the speech attention of an init_from transformer: set init_from and a gain"
                f" above 0 (got {self.init_speech_gain})"
            )
        if self.init_blocks is not None:
            if self.init_from is None or not self.init_blocks:
                raise ConfigError("init_blocks names blocks of the init_from transformer: set init_from, one a layer")
            if not all(b is None or (isinstance(b, int) and not isinstance(b, bool)) for b in self.init_blocks):
                raise ConfigError(
                    f"init_blocks must list block numbers of the init_from transformer, or null for a new block; got"
                    f" {self.init_blocks!r}"
                )
        if self.articulation_weight < 0:
            raise ConfigError(f"articulation_weight must be >= 0, got {self.articulation_weight}")
        if self.articulation_weight > 0 and (self.task != "dit" or not self.latent_cache or self.edit_share <= 0):
            raise ConfigError(
                "articulation_weight reads the lips' directions from a latent cache's edit pairs: a DiT run with"
                " latent_cache and edit_share > 0"
            )
        if self.loss_space not in LOSS_SPACES:
            raise ConfigError(f"loss_space must be one of {', '.join(LOSS_SPACES)}, got {self.loss_space!r}")
        if self.trainable_parameters is not None:
            names = self.trainable_parameters
            if self.task != "dit" or not isinstance(names, list) or not names:
                raise ConfigError(
                    "trainable_parameters lists patterns of transformer parameter names (e.g. ['*audio*']) for a DiT"
                    " run; leave it null to train every parameter"
                )
            if not all(isinstance(n, str) and n.strip() for n in names):
                raise ConfigError(f"trainable_parameters must be non-empty name patterns, got {names!r}")
        if self.lr_scales is not None and not (
            isinstance(self.lr_scales, dict)
            and self.lr_scales
            and all(
                isinstance(k, str) and k.strip() and isinstance(v, int | float) and not isinstance(v, bool) and v > 0
                for k, v in self.lr_scales.items()
            )
        ):
            raise ConfigError(
                f"lr_scales maps parameter name patterns to positive factors (e.g. {{'*text_pool*': 10}}),"
                f" got {self.lr_scales!r}"
            )
        if self.codec_clips < 1:
            raise ConfigError(f"codec_clips must be >= 1, got {self.codec_clips}")
        if self.codec_stats_scale not in ("global", "channel"):
            raise ConfigError(f"codec_stats_scale must be global or channel, got {self.codec_stats_scale!r}")
        if not 1 <= self.edit_repeat <= 16:
            raise ConfigError(f"edit_repeat must be 1..16 (each edit clip's copies per epoch), got {self.edit_repeat}")
        if self.latent_cache_clips < 1 or self.latent_cache_max_frames < self.num_frames:
            raise ConfigError(
                f"latent_cache_clips must be >= 1 and latent_cache_max_frames >= num_frames ({self.num_frames}), got"
                f" {self.latent_cache_clips} and {self.latent_cache_max_frames}"
            )
        for name in (
            "data_dir",
            "vae_path",
            "foundation_dir",
            "audio_encoder_dir",
            "init_from",
            "latent_cache",
            "latent_cache_extra",
            "audio_encoder_path",
            "text_encoder_path",
        ):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str | Path):
                raise ConfigError(f"{name} must be a folder path or null, got {type(value).__name__}")
            if value is not None:
                object.__setattr__(self, name, str(value))
        if self.mixed_precision not in MIXED_PRECISIONS:
            raise ConfigError(f"mixed_precision must be one of {', '.join(MIXED_PRECISIONS)}")

    def component_config(self, component: str) -> dict[str, Any]:
        """The preset's kwargs for ``component`` with this run's overrides applied (a fresh dict).

        Overrides that name another ``kind`` (of autoencoder or audio encoder) replace the preset's kwargs whole.
        """
        from talkgen.models.presets import get_preset

        merged = get_preset(self.preset).config(component)
        overrides = dict(getattr(self, f"{component}_overrides"))
        if "kind" in overrides and overrides["kind"] != merged.get("kind", overrides["kind"]):
            return overrides
        merged.update(overrides)
        return merged

    def to_dict(self) -> dict[str, Any]:
        """Plain-data view (for YAML/JSON)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = dict(value) if isinstance(value, MappingProxyType) else value
        return out

    def replace(self, **changes: Any) -> TrainConfig:
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a mapping; unknown keys are a :class:`ConfigError` naming them."""
        if not isinstance(data, dict):
            raise ConfigError(f"a training config must be a mapping, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown training config keys: {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"invalid training config: {exc}") from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        """Load a YAML file (a flat mapping of the fields above)."""
        import yaml

        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"training config {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from None
        try:
            return cls.from_dict(data or {})
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
