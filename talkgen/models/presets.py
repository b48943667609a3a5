"""Model presets: architecture shapes of every component, by name.

- ``tiny``: the embedded default (``models/talkgen-tiny/``), sized for CPU training and inference of 128x128 video
  at 25 fps: a <= 15M-parameter transformer over 96x16x16 latents of a fixed principal-component patch codec
  (:class:`~talkgen.models.patch_codec.PatchPCAAutoencoder`, 8x spatial, 4x temporal, fitted in seconds), a 2-layer
  T5 encoder with the file-free ByT5 tokenizer, and the built-in audio encoder.
- ``wan-1.3b``: Wan2.1-T2V-1.3B shapes (transformer, VAE, UMT5-XXL text states), for the foundation track and for
  GPU benchmarks; weights come from local directories (see :meth:`TalkingCharacterTransformer3DModel.from_wan`).

Presets are frozen; the ``*_config`` fields are returned as fresh dict copies by :meth:`ModelPreset.config`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from talkgen.errors import ConfigError


def _frozen(mapping: dict[str, Any]) -> MappingProxyType:
    return MappingProxyType(mapping)


@dataclass(frozen=True)
class ModelPreset:
    """Shapes of one model family.

    Attributes:
        name: registry key. description: one line for ``--help`` and model cards.
        transformer: kwargs of :class:`~talkgen.models.transformer_talking.TalkingCharacterTransformer3DModel`.
        vae: ``{"kind": "wan" | "patch_pca", ...}``: kwargs of diffusers ``AutoencoderKLWan`` (the default kind) or
            of :class:`~talkgen.models.patch_codec.PatchPCAAutoencoder`.
        text_encoder: kwargs of transformers ``T5Config`` (tiny; built from scratch) or ``{}`` (UMT5 from a dir).
        audio_encoder: ``{"kind": "builtin" | "wav2vec2" | "whisper", ...}`` with the builtin encoder's kwargs.
        height, width, num_frames, fps: default video shape. text_len: text tokens fed to the transformer.
    """

    name: str
    description: str
    transformer: MappingProxyType
    vae: MappingProxyType
    text_encoder: MappingProxyType
    audio_encoder: MappingProxyType
    height: int
    width: int
    num_frames: int
    fps: float
    text_len: int
    vae_scale_factor_spatial: int = 8
    vae_scale_factor_temporal: int = 4
    extra: MappingProxyType = field(default_factory=lambda: _frozen({}))

    def config(self, component: str) -> dict[str, Any]:
        """A mutable deep copy of one component's kwargs (``transformer``, ``vae``, ``text_encoder``...)."""
        if component not in ("transformer", "vae", "text_encoder", "audio_encoder"):
            raise ConfigError(
                f"unknown component {component!r}; expected transformer, vae, text_encoder, audio_encoder"
            )
        return copy.deepcopy(dict(getattr(self, component)))

    def latent_shape(self, num_frames: int | None = None, height: int | None = None, width: int | None = None):
        """(F, H, W) latent shape for a video of ``num_frames`` x ``height`` x ``width`` (defaults: the preset's)."""
        num_frames = self.num_frames if num_frames is None else num_frames
        height = self.height if height is None else height
        width = self.width if width is None else width
        r, s = self.vae_scale_factor_temporal, self.vae_scale_factor_spatial
        if (num_frames - 1) % r or height % (2 * s) or width % (2 * s):
            raise ConfigError(
                f"video shape {num_frames}x{height}x{width} must have num_frames = {r} k + 1 and height/width"
                f" divisible by {2 * s}"
            )
        return (num_frames - 1) // r + 1, height // s, width // s


TINY = ModelPreset(
    name="tiny",
    description="CPU-sized talking-character model for 128x128 video (embedded default)",
    transformer=_frozen(
        {
            "patch_size": (1, 2, 2),
            "num_attention_heads": 4,
            "attention_head_dim": 64,
            "in_channels": 96,
            "out_channels": 96,
            "text_dim": 256,
            "freq_dim": 128,
            "ffn_dim": 768,
            "num_layers": 8,
            "cross_attn_norm": True,
            "qk_norm": "rms_norm_across_heads",
            "eps": 1e-6,
            "rope_max_seq_len": 1024,
            "audio_dim": 256,
            "max_audio_streams": 4,
            "audio_block_indices": None,
            "audio_window_neighbors": 1,
            "vae_scale_factor_temporal": 4,
            "prediction_type": "sample",  # x-prediction: 96-channel codec latents through a 256-wide model
        }
    ),
    vae=_frozen(
        {
            "kind": "patch_pca",  # talkgen.models.patch_codec: principal components of 8x8x4-frame patches
            "z_dim": 96,
            "patch_size": 8,
            "frames_per_latent": 4,
            "temperal_downsample": [False, True, True],
            "latents_mean": [0.0] * 96,
            "latents_std": [1.0] * 96,
        }
    ),
    text_encoder=_frozen(
        {
            "vocab_size": 384,
            "d_model": 256,
            "d_kv": 32,
            "d_ff": 512,
            "num_layers": 2,
            "num_heads": 4,
            "relative_attention_num_buckets": 32,
            "dropout_rate": 0.0,
            "feed_forward_proj": "gated-gelu",
            "is_encoder_decoder": False,
            "use_cache": False,
        }
    ),
    audio_encoder=_frozen({"kind": "builtin", "n_mels": 80, "hidden_dim": 192, "num_layers": 2, "out_dim": 256}),
    height=128,
    width=128,
    num_frames=9,
    fps=25.0,
    text_len=512,
)

WAN_1_3B = ModelPreset(
    name="wan-1.3b",
    description="Wan2.1-T2V-1.3B shapes with speech layers (foundation track; weights from local dirs)",
    transformer=_frozen(
        {
            "patch_size": (1, 2, 2),
            "num_attention_heads": 12,
            "attention_head_dim": 128,
            "in_channels": 16,
            "out_channels": 16,
            "text_dim": 4096,
            "freq_dim": 256,
            "ffn_dim": 8960,
            "num_layers": 30,
            "cross_attn_norm": True,
            "qk_norm": "rms_norm_across_heads",
            "eps": 1e-6,
            "rope_max_seq_len": 1024,
            "audio_dim": 768,
            "max_audio_streams": 4,
            "audio_block_indices": None,
            "audio_window_neighbors": 1,
            "vae_scale_factor_temporal": 4,
        }
    ),
    vae=_frozen({"base_dim": 96, "z_dim": 16, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2}),
    text_encoder=_frozen({}),
    audio_encoder=_frozen({"kind": "wav2vec2"}),
    height=480,
    width=832,
    num_frames=81,
    fps=16.0,
    text_len=512,
)

PRESETS: dict[str, ModelPreset] = {preset.name: preset for preset in (TINY, WAN_1_3B)}


def get_preset(name: str) -> ModelPreset:
    """The preset called ``name``; unknown names raise :class:`ConfigError` listing the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown model preset {name!r}; choose one of {', '.join(sorted(PRESETS))}") from None


def build_transformer(preset: str | ModelPreset):
    """A randomly initialised transformer with the preset's shapes."""
    from talkgen.models.transformer_talking import TalkingCharacterTransformer3DModel

    preset = get_preset(preset) if isinstance(preset, str) else preset
    return TalkingCharacterTransformer3DModel(**preset.config("transformer"))


def build_vae(preset: str | ModelPreset | dict):
    """A fresh autoencoder of a preset (or of a ``vae`` config dict): diffusers ``AutoencoderKLWan`` with random
    weights (kind ``wan``) or an unfitted :class:`~talkgen.models.patch_codec.PatchPCAAutoencoder` (``patch_pca``)."""
    if isinstance(preset, dict):
        config = dict(preset)
    else:
        config = (get_preset(preset) if isinstance(preset, str) else preset).config("vae")
    kind = config.pop("kind", "wan")
    if kind == "patch_pca":
        from talkgen.models.patch_codec import PatchPCAAutoencoder

        return PatchPCAAutoencoder(**config)
    if kind != "wan":
        raise ConfigError(f"unknown vae kind {kind!r}; expected wan or patch_pca")
    from diffusers import AutoencoderKLWan

    return AutoencoderKLWan(**config)
