"""DiT training: rectified-flow matching on frozen-VAE latents with text, speech and reference conditions.

Flow convention (diffusers ``FlowMatchEulerDiscreteScheduler``): ``x_t = (1 - sigma) x_0 + sigma eps``, timestep
``= 1000 sigma``, and the model predicts the velocity ``eps - x_0``. A share of samples (``text_only_share``) is
text-only video with the audio replaced by the learned null (MoCha's joint training); text, audio and the
reference frame are each dropped to their null at their own rate, for guidance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from talkgen.errors import ConfigError
from talkgen.models.latents import normalize_latents
from talkgen.training.config import TrainConfig
from talkgen.training.dit_init import init_transformer, train_only
from talkgen.training.loop import TrainingTask

NUM_TRAIN_TIMESTEPS = 1000
TEXT_CACHE_SIZE = 4096  # captions whose frozen text-encoder states a run keeps


def sample_sigmas(
    batch_size: int,
    generator: torch.Generator,
    sampling: str = "logit_normal",
    logit_mean: float = 0.0,
    logit_std: float = 1.0,
    shift: float = 1.0,
) -> torch.Tensor:
    """(B,) training sigmas in (0, 1): uniform or logit-normal (SD3), then ``shift s / (1 + (shift - 1) s)``."""
    if sampling == "uniform":
        sigmas = torch.rand(batch_size, generator=generator)
    elif sampling == "logit_normal":
        sigmas = torch.sigmoid(torch.randn(batch_size, generator=generator) * logit_std + logit_mean)
    else:
        raise ValueError(f"unknown sigma sampling {sampling!r}")
    return shift * sigmas / (1 + (shift - 1) * sigmas)


def flow_matching_pair(
    latents: torch.Tensor, noise: torch.Tensor, sigmas: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy input and velocity target: ``x_t = (1 - sigma) x_0 + sigma eps``, ``target = eps - x_0``.

    Args:
        latents: (B, C, F, H, W) clean x_0. noise: eps, same shape. sigmas: (B,) in [0, 1].
    """
    s = sigmas.to(latents.dtype).view(-1, *([1] * (latents.ndim - 1)))
    return (1 - s) * latents + s * noise, noise - latents


def implied_clean_latents(
    noisy: torch.Tensor, velocity: torch.Tensor, sigmas: torch.Tensor, min_sigma: float, prediction_type: str
) -> torch.Tensor:
    """The clean latents a transformer's velocity stands for: ``x_0 = x_t - sigma v``, with sigma clamped at
    ``min_sigma`` for a ``sample``-predicting transformer (as it divides when it returns a velocity).

    Args:
        noisy: (B, C, F, H, W) x_t. velocity: the transformer's output, same shape. sigmas: (B,).
    """
    scale = sigmas.clamp(min=min_sigma) if prediction_type == "sample" else sigmas
    return noisy - scale.to(velocity.dtype).view(-1, *([1] * (velocity.ndim - 1))) * velocity


def module_config(module: nn.Module):
    """The transformer config of a (possibly accelerate-wrapped) :class:`DiTTrainModule`."""
    return getattr(module, "module", module).transformer.config


class DiTTrainModule(nn.Module):
    """The trained part of the DiT run: the transformer and (optionally trainable) built-in audio encoder."""

    def __init__(self, transformer: nn.Module, audio_encoder: nn.Module) -> None:
        super().__init__()
        self.transformer = transformer
        self.audio_encoder = audio_encoder
        self.audio_trainable = any(p.requires_grad for p in audio_encoder.parameters())

    def train(self, mode: bool = True) -> DiTTrainModule:
        """As ``nn.Module.train``, but a frozen audio encoder stays in eval mode (no dropout in its features)."""
        super().train(mode)
        if not self.audio_trainable:
            self.audio_encoder.eval()
        return self

    def forward(
        self,
        noisy_latents: torch.Tensor,
        timestep: torch.Tensor,
        text_states: torch.Tensor,
        audio_streams: torch.Tensor | None,
        fps: float,
        num_frames: int,
        condition_latents: dict[str, torch.Tensor | None],
        null_conditions: dict[str, torch.Tensor],
        audio_features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, C, F, H, W) noisy latents -> (B, C, F, H, W) predicted velocity.

        Args:
            audio_streams: (B, S, N) speech at 16 kHz, or None with ``audio_features``. condition_latents:
                ``reference`` / ``source`` / ``motion`` latents (or None). null_conditions: per-sample (B,) masks of
                conditions replaced by their null. audio_features: (B, S, num_frames, C_audio) features of a frozen
                encoder computed beforehand (the latent cache), used instead of encoding ``audio_streams``.
        """
        if audio_features is not None:
            audio = audio_features
        else:
            with torch.set_grad_enabled(torch.is_grad_enabled() and self.audio_trainable):
                audio = self.audio_encoder(audio_streams, fps, num_frames)  # (B, S, T, C_audio)
        return self.transformer(
            noisy_latents,
            timestep,
            text_states,
            audio_embeds=audio,
            reference_latents=condition_latents.get("reference"),
            source_latents=condition_latents.get("source"),
            motion_latents=condition_latents.get("motion"),
            null_conditions=null_conditions,
            return_dict=False,
        )[0]


def _check_shapes(transformer: dict, vae: dict, text: dict, audio: dict) -> None:
    if transformer.get("in_channels") != vae.get("z_dim"):
        raise ConfigError(f"transformer in_channels {transformer.get('in_channels')} != vae z_dim {vae.get('z_dim')}")
    if transformer.get("text_dim") != text.get("d_model"):
        raise ConfigError(f"transformer text_dim {transformer.get('text_dim')} != text d_model {text.get('d_model')}")
    if transformer.get("audio_dim") != audio.get("out_dim"):
        raise ConfigError(
            f"transformer audio_dim {transformer.get('audio_dim')} != audio encoder out_dim {audio.get('out_dim')}"
        )


def _audio_encoder(config: TrainConfig, audio_cfg: dict) -> nn.Module:
    """The built-in encoder (trained with ``train_audio_encoder``) or a frozen Wav2Vec2 / Whisper from a local dir."""
    from talkgen.models.audio_encoder import BuiltinAudioEncoder, Wav2Vec2AudioEncoder, WhisperAudioEncoder

    kind = audio_cfg.pop("kind", "builtin")
    if kind == "builtin":
        if config.audio_encoder_path:
            folder = Path(config.audio_encoder_path)
            if not (folder / "config.json").is_file():
                raise ConfigError(
                    f"audio_encoder_path {folder} is not a built-in audio encoder folder (config.json + safetensors"
                    " from `talkgen train audio`, its final/ folder)"
                )
            encoder = BuiltinAudioEncoder.from_pretrained(folder, local_files_only=True, use_safetensors=True)
        else:
            encoder = BuiltinAudioEncoder(**audio_cfg)
        return encoder.requires_grad_(config.train_audio_encoder)
    loaders = {"wav2vec2": Wav2Vec2AudioEncoder.from_dir, "whisper": WhisperAudioEncoder.from_dir}
    if kind not in loaders:
        raise ConfigError(f"preset {config.preset!r}: unknown audio encoder kind {kind!r}")
    if not config.audio_encoder_dir:
        raise ConfigError(
            f"preset {config.preset!r} uses a {kind} audio encoder: set audio_encoder_dir to a local {kind} folder"
            " (config.json + model.safetensors)"
        )
    return loaders[kind](config.audio_encoder_dir, layers=audio_cfg.get("layers")).requires_grad_(False)


def _audio_dim(encoder: nn.Module) -> int:
    return int(getattr(encoder, "feature_dim", None) or encoder.config.out_dim)


def _foundation_transformer(config: TrainConfig, tcfg: dict) -> nn.Module:
    """The preset's talking transformer initialised from ``foundation_dir/transformer`` (new layers at init)."""
    from talkgen.models.transformer_talking import TalkingCharacterTransformer3DModel

    keys = ("audio_dim", "max_audio_streams", "audio_block_indices", "audio_window_neighbors")
    return TalkingCharacterTransformer3DModel.from_wan(
        config.foundation_dir, vae_scale_factor_temporal=tcfg.get("vae_scale_factor_temporal", 4),
        **{k: tcfg[k] for k in keys if k in tcfg},
    )  # fmt: skip


def _load_text_encoder(folder: Path, text_cfg: dict):
    """A pretrained tiny T5 (``talkgen train text``'s ``final/``) whose width matches the preset's."""
    from transformers import ByT5Tokenizer, T5EncoderModel

    if not (folder / "config.json").is_file():
        raise ConfigError(
            f"text_encoder_path: {folder} holds no text encoder (config.json); name the final/ folder of a"
            " `talkgen train text` run"
        )
    # float32 whatever the folder stores (a float16 pipeline folder such as models/talkgen-tiny/text_encoder)
    encoder = T5EncoderModel.from_pretrained(str(folder), dtype=torch.float32)
    if encoder.config.d_model != text_cfg.get("d_model", encoder.config.d_model):
        raise ConfigError(
            f"text_encoder_path: {folder} is {encoder.config.d_model} wide, the preset's text encoder"
            f" {text_cfg['d_model']}; pretrain it with this preset"
        )
    return encoder.eval(), ByT5Tokenizer()


def _load_vae(folder: Path, channels: int) -> nn.Module:
    from talkgen.models.patch_codec import load_autoencoder

    vae = load_autoencoder(folder)
    if vae.config.z_dim != channels:
        raise ConfigError(f"VAE at {folder} has z_dim {vae.config.z_dim}, expected {channels}")
    return vae


class DiTTask(TrainingTask):
    """Flow-matching task: builds the transformer, audio encoder (trained), tiny T5 and VAE (frozen)."""

    name = "dit"

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        from talkgen.models.text_encoder import build_tiny_text_encoder, load_umt5

        tcfg, vcfg = config.component_config("transformer"), config.component_config("vae")
        text_cfg, audio_cfg = config.component_config("text_encoder"), config.component_config("audio_encoder")
        torch.manual_seed(config.seed)
        audio_encoder = _audio_encoder(config, audio_cfg)
        if config.foundation_dir:
            transformer = _foundation_transformer(config, tcfg)
            self.text_encoder, self.tokenizer = load_umt5(config.foundation_dir)
            self.vae = _load_vae(Path(config.foundation_dir) / "vae", transformer.config.in_channels)
            _check_shapes(
                dict(transformer.config),
                {"z_dim": self.vae.config.z_dim},
                {"d_model": self.text_encoder.config.d_model},
                {"out_dim": _audio_dim(audio_encoder)},
            )
        else:
            if not text_cfg:
                raise ConfigError(
                    f"preset {config.preset!r} has no built-in text encoder: set foundation_dir to a local Wan2.1"
                    " diffusers folder (transformer/, vae/, text_encoder/, tokenizer/)"
                )
            _check_shapes(tcfg, vcfg, text_cfg, {"out_dim": _audio_dim(audio_encoder)})
            from talkgen.models.transformer_talking import TalkingCharacterTransformer3DModel

            transformer = TalkingCharacterTransformer3DModel(**tcfg)
            if config.init_from:
                init_transformer(transformer, Path(config.init_from), config.init_blocks, config.init_speech_gain)
            if config.text_encoder_path:
                self.text_encoder, self.tokenizer = _load_text_encoder(Path(config.text_encoder_path), text_cfg)
            else:
                self.text_encoder, self.tokenizer = build_tiny_text_encoder(text_cfg)
            if config.vae_path:
                self.vae = _load_vae(Path(config.vae_path), tcfg["in_channels"])
            else:
                from talkgen.models.presets import build_vae

                self.vae = build_vae(vcfg)
        if config.trainable_parameters is not None:
            train_only(transformer, config.trainable_parameters)
        if config.gradient_checkpointing:
            transformer.enable_gradient_checkpointing()
        self.module = DiTTrainModule(transformer, audio_encoder)
        self.text_encoder.requires_grad_(False).eval()
        self.vae.requires_grad_(False).eval()
        self._null_text: torch.Tensor | None = None
        self.articulation: torch.Tensor | None = None  # (C, k) the lips' latent directions (articulation_weight)
        self._text_cache: dict[str, torch.Tensor] = {}

    def to(self, device: torch.device) -> None:
        self.text_encoder.to(device)
        self.vae.to(device)
        self._null_text = None
        self._text_cache.clear()

    @torch.no_grad()
    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) in [-1, 1] -> (B, z, F, H/8, W/8) latents normalised as Wan's pipeline expects."""
        from talkgen.models.cpu_conv import fast_cpu_conv3d

        with fast_cpu_conv3d(self.vae.device):  # batch-1 CPU clips take oneDNN (exact up to float32 rounding)
            z = self.vae.encode(video.to(self.vae.device, self.vae.dtype)).latent_dist.mode()
        return normalize_latents(self.vae, z)

    @torch.no_grad()
    def encode_text(self, captions: list[str]) -> torch.Tensor:
        """Captions -> (B, text_len, D) T5 states (zeros past each caption).

        The encoder is frozen, so each caption's states are kept (up to ``TEXT_CACHE_SIZE`` captions): a latent
        cache repeats its captions every epoch.
        """
        from talkgen.models.text_encoder import encode_prompts

        missing = [c for c in dict.fromkeys(captions) if c not in self._text_cache]
        if missing and len(self._text_cache) + len(missing) > TEXT_CACHE_SIZE:
            self._text_cache.clear()  # full: start over with this batch's captions (all of them, cached or not)
            missing = list(dict.fromkeys(captions))
        if missing:
            states, mask = encode_prompts(self.text_encoder, self.tokenizer, missing, self.config.text_len)
            for caption, state, keep in zip(missing, states, mask, strict=True):
                self._text_cache[caption] = state[: int(keep.sum())].clone()
        first = self._text_cache[captions[0]]
        out = first.new_zeros(len(captions), self.config.text_len, first.shape[-1])
        for i, caption in enumerate(captions):
            state = self._text_cache[caption]
            out[i, : len(state)] = state
        return out

    def null_text(self) -> torch.Tensor:
        """(1, text_len, D) states of the empty prompt (the text condition's null, as in CFG)."""
        if self._null_text is None:
            self._null_text = self.encode_text([""])
        return self._null_text

    def batches(self, start_step: int, process_index: int, num_processes: int):
        """Windows of the latent cache (built first when incomplete) when ``latent_cache`` is set, else the default."""
        if not self.config.latent_cache:
            return super().batches(start_step, process_index, num_processes)
        from talkgen.training.latent_cache import (
            LatentCache,
            MixedLatentCache,
            build_latent_cache,
            cached_batches,
            weights_id,
        )

        encoder = self.module.audio_encoder
        if any(p.requires_grad for p in encoder.parameters()):
            raise ConfigError("latent_cache stores audio features: set train_audio_encoder: false (a frozen encoder)")
        encoders = weights_id(self.vae, encoder)
        device = self.vae.device

        def encode_audio(streams: torch.Tensor, frames: int) -> torch.Tensor:
            encoder.eval()  # frozen: no dropout in cached features
            return encoder(streams[None].to(device), self.config.fps, frames)[0].cpu()

        build_latent_cache(self.config, lambda v: self.encode_video(v).cpu(), encode_audio, encoders, progress=True)
        cache = (MixedLatentCache if self.config.latent_cache_extra else LatentCache)(self.config, encoders)
        if self.config.articulation_weight > 0:
            main = getattr(cache, "main", cache)
            self.articulation = main.articulation_basis(self.config.articulation_components).to(device)
        return cached_batches(self.config, cache, start_step, process_index, num_processes)

    def mouth_cells(self, batch: dict[str, Any], latents: torch.Tensor) -> torch.Tensor | None:
        """(B, 1, F, h, w) {0, 1} latent cells covering a mouth (boxes widened by ``mouth_margin``), or None when
        the batch has no mouth boxes (footage shards)."""
        if batch.get("mouth_mask") is not None:
            return batch["mouth_mask"].to(latents.device, latents.dtype)
        if batch.get("mouth_box") is None:
            return None
        from talkgen.models.latents import latent_mouth_mask, mouth_mask

        size = batch["video"].shape[-2:]
        pixel = mouth_mask(batch["mouth_box"], size[0], size[1], self.config.mouth_margin)
        return latent_mouth_mask(pixel, 4, size[0] // latents.shape[-2]).to(latents.device, latents.dtype)

    def loss_weight(
        self, batch: dict[str, Any], latents: torch.Tensor, edit: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(B, 1, F, h, w) weights: ``1 + mouth_weight`` on latent cells covering a mouth, ``edit_mouth_weight``
        more on those of edit samples, or None (plain MSE); and the mouth cells of the edit samples (all zero
        when the batch holds none; None without mouth boxes), whose velocity error is logged."""
        cfg = self.config
        mask = self.mouth_cells(batch, latents) if cfg.mouth_weight > 0 or edit.any() else None
        if mask is None:
            return None, None
        edit_cells = mask * edit.to(mask.device, mask.dtype).view(-1, 1, 1, 1, 1)
        if cfg.mouth_weight <= 0 and cfg.edit_mouth_weight <= 0:
            return None, edit_cells
        return 1.0 + cfg.mouth_weight * mask + cfg.edit_mouth_weight * edit_cells, edit_cells

    def hide_source_mouths(
        self, batch: dict[str, Any], source: torch.Tensor, edit: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, int]:
        """Zero the source latents over the mouths of a ``source_mouth_dropout`` share of the edit samples;
        returns the source and how many were hidden. Draws nothing when the share is 0 (older runs resume exactly)."""
        if self.config.source_mouth_dropout <= 0:
            return source, 0
        hide = edit & (torch.rand(len(edit), generator=generator) < self.config.source_mouth_dropout)
        cells = self.mouth_cells(batch, source)
        if cells is None or not hide.any():
            return source, 0
        keep = 1.0 - cells * hide.to(source.device, source.dtype).view(-1, 1, 1, 1, 1)
        return source * keep, int(hide.sum())

    def loss(self, module, batch: dict[str, Any], generator: torch.Generator):
        from talkgen.training.weighting import articulation_error, weighted_mse

        cfg = self.config
        device = self.vae.device
        cached = "latents" in batch
        latents = batch["latents"].to(device) if cached else self.encode_video(batch["video"])
        b = latents.shape[0]
        edit = batch.get("edit", torch.zeros(b, dtype=torch.bool))
        if cached:
            source = batch["source_latents"].to(device)
            reference = batch["reference_latents"].to(device)
        else:
            source = torch.zeros_like(latents)
            if edit.any():
                source[edit.to(device)] = self.encode_video(batch["source_video"][edit])
            reference = latents[:, :, :1]
        sigmas = sample_sigmas(b, generator, cfg.sigma_sampling, cfg.logit_mean, cfg.logit_std, cfg.shift)
        noise = torch.randn(latents.shape, generator=generator).to(device, latents.dtype)
        source, hidden = self.hide_source_mouths(batch, source, edit, generator)
        text_only = ~edit & (torch.rand(b, generator=generator) < cfg.text_only_share)
        drop_audio = text_only | (torch.rand(b, generator=generator) < cfg.audio_dropout)
        drop_text = ~text_only & (torch.rand(b, generator=generator) < cfg.text_dropout)
        # Edits run without a reference frame, as LipSyncPipeline does; motion continues a window (long takes).
        drop_reference = edit | (torch.rand(b, generator=generator) < cfg.reference_dropout)
        use_motion = ~edit & (torch.rand(b, generator=generator) < cfg.motion_share)
        noisy, target = flow_matching_pair(latents, noise, sigmas.to(device))
        text = self.encode_text(batch["caption"])
        text = torch.where(drop_text.to(device)[:, None, None], self.null_text().to(text.dtype), text)
        if cached:  # text-only samples: the audio is the learned null (drop_audio), as for the waveform path below
            audio, features = None, batch["audio_features"].to(device)
        else:
            audio = batch["audio_streams"] * (~text_only).to(batch["audio_streams"].dtype)[:, None, None]
            features = None
        motion = latents[:, :, : cfg.motion_latent_frames] if use_motion.any() else None
        num_frames = 4 * (latents.shape[2] - 1) + 1
        prediction = module(
            noisy,
            (sigmas * NUM_TRAIN_TIMESTEPS).to(device),
            text,
            audio,
            cfg.fps,
            num_frames,
            {"reference": reference, "source": source if edit.any() else None, "motion": motion},
            {
                "audio": drop_audio.to(device),
                "reference": drop_reference.to(device),
                "source": (~edit).to(device),
                "motion": (~use_motion).to(device),
            },
            audio_features=features,
        )
        weight, edit_cells = self.loss_weight(batch, latents, edit)
        clean = None
        if cfg.loss_space == "sample" or self.articulation is not None:  # the clean latents the velocity implies
            tcfg = module_config(module)
            clean = implied_clean_latents(noisy, prediction, sigmas.to(device), tcfg.min_sigma, tcfg.prediction_type)
        if cfg.loss_space == "sample":  # the clean latents' error at every noise level alike
            loss = weighted_mse(clean, latents, weight)
        else:
            loss = weighted_mse(prediction, target, weight)
        extras = {}
        if self.articulation is not None:
            term = articulation_error(clean - latents, self.mouth_cells(batch, latents), self.articulation)
            loss = loss + cfg.articulation_weight * term
            extras["articulation_mse"] = float(term)
        extras |= {"sigma_mean": float(sigmas.mean()), "text_only": int(text_only.sum()), "edit": int(edit.sum())}
        extras["motion"] = int(use_motion.sum())
        if edit_cells is not None and edit_cells.sum() > 0:  # how well edits learn their mouths' change
            err = (prediction.detach().float() - target.float()).pow(2).mean(1, keepdim=True)
            extras["edit_mouth_mse"] = float((err * edit_cells).sum() / edit_cells.sum())
        if cfg.source_mouth_dropout > 0:
            extras["source_mouth_hidden"] = hidden
        return loss, extras

    @torch.no_grad()
    def validate(self, module, batch: dict[str, Any], clip_path: Path | None) -> dict[str, float]:
        """Velocity MSE at fixed sigmas and noise with every condition on (no reference: text + speech to video);
        the clip is sampled from the first clip's caption and speech with ``validation_steps`` steps."""
        from talkgen.training.validation import VALIDATION_SEED, fixed_sigmas, side_by_side, write_validation_clip

        cfg = self.config
        device = self.vae.device
        latents = self.encode_video(batch["video"])
        b = latents.shape[0]
        sigmas = fixed_sigmas(b)
        noise = torch.randn(latents.shape, generator=torch.Generator().manual_seed(VALIDATION_SEED))
        noisy, target = flow_matching_pair(latents, noise.to(device, latents.dtype), sigmas.to(device))
        keep = torch.zeros(b, dtype=torch.bool, device=device)
        prediction = module(
            noisy,
            (sigmas * NUM_TRAIN_TIMESTEPS).to(device),
            self.encode_text(batch["caption"]),
            batch["audio_streams"],
            cfg.fps,
            cfg.num_frames,
            {},
            {"audio": keep},
        )
        numbers = {"val_loss": F.mse_loss(prediction.float(), target.float()).item()}
        if clip_path is not None:
            from diffusers import FlowMatchEulerDiscreteScheduler

            from talkgen.pipelines.pipeline_talking import TalkingCharacterPipeline
            from talkgen.training.export import SCHEDULER_SHIFT

            pipe = TalkingCharacterPipeline(
                vae=self.vae,
                text_encoder=self.text_encoder,
                tokenizer=self.tokenizer,
                audio_encoder=module.audio_encoder,
                transformer=module.transformer,
                scheduler=FlowMatchEulerDiscreteScheduler(shift=SCHEDULER_SHIFT),
                max_text_length=cfg.text_len,
            )
            pipe.set_progress_bar_config(disable=True)
            out = pipe(
                batch["caption"][0],
                batch["audio_streams"][0].numpy(),
                num_frames=cfg.num_frames,
                height=cfg.size,
                width=cfg.size,
                fps=cfg.fps,
                num_inference_steps=cfg.validation_steps,
                generator=torch.Generator(device=device).manual_seed(VALIDATION_SEED),
                output_type="np",
            )
            frames = side_by_side(out.frames[0], batch["video"][0])
            write_validation_clip(clip_path, frames, cfg.fps, batch["audio_streams"][0])
        return numbers

    def export(self, module: nn.Module, directory: Path) -> None:
        module.transformer.save_pretrained(directory / "transformer")
        if hasattr(module.audio_encoder, "save_pretrained"):  # frozen Wav2Vec2/Whisper stay where they are
            module.audio_encoder.save_pretrained(directory / "audio_encoder")

    def save_frozen(self, directory: Path) -> None:
        """Save the frozen VAE, T5 and tokenizer (``vae/``, ``text_encoder/``, ``tokenizer/``) under ``directory``.

        Foundation runs record their source folders in ``sources.json`` instead of copying gigabytes of weights.
        """
        if self.config.foundation_dir:
            from talkgen.fs import write_json

            cfg = self.config
            write_json(
                directory / "sources.json",
                {"foundation_dir": cfg.foundation_dir, "audio_encoder_dir": cfg.audio_encoder_dir},
            )
            return
        self.vae.save_pretrained(directory / "vae")
        self.text_encoder.save_pretrained(directory / "text_encoder")
        self.tokenizer.save_pretrained(directory / "tokenizer")
