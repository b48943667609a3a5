"""What the talking-character and lip-sync pipelines share: their six components and text encoding."""

from __future__ import annotations

from collections.abc import Callable

import torch
from diffusers import DiffusionPipeline

from talkgen.models.text_encoder import encode_prompts


class TalkgenPipeline(DiffusionPipeline):
    """Base of talkgen's pipelines: vae, text_encoder, tokenizer, audio_encoder, transformer, scheduler.

    Subclasses keep their own ``__init__`` (diffusers reads the components from its signature) and call
    :meth:`_register_components` from it; ``max_text_length`` lives in their config.
    """

    model_cpu_offload_seq = "text_encoder->audio_encoder->transformer->vae"
    _callback_tensor_inputs = ["latents"]

    def _register_components(self, vae, text_encoder, tokenizer, audio_encoder, transformer, scheduler) -> None:
        self.register_modules(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            audio_encoder=audio_encoder,
            transformer=transformer,
            scheduler=scheduler,
        )
        self.vae_scale_factor_temporal = 2 ** sum(vae.config.temperal_downsample) if vae is not None else 4
        self.vae_scale_factor_spatial = 2 ** len(vae.config.temperal_downsample) if vae is not None else 8

    def encode_text(self, prompts: list[str], device: torch.device) -> torch.Tensor:
        """B prompts -> (B, L, D) text states (zeros past each prompt)."""
        states, _ = encode_prompts(self.text_encoder, self.tokenizer, prompts, self.config.max_text_length, device)
        return states.to(self.transformer.dtype)

    def _scheduler_step(
        self, velocity: torch.Tensor, t: torch.Tensor, i: int, latents: torch.Tensor, callback: Callable | None
    ) -> torch.Tensor:
        """One scheduler step from ``velocity``, then ``callback(pipe, i, t, {"latents": ...})`` if given."""
        latents = self.scheduler.step(velocity.float(), t, latents, return_dict=False)[0]
        if callback is not None:
            result = callback(self, i, t, {"latents": latents}) or {}
            latents = result.get("latents", latents)
        return latents
