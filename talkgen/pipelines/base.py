"""What the talking-character and lip-sync pipelines share: their six components and text encoding."""

from __future__ import annotations

from collections.abc import Callable

import torch
from diffusers import DiffusionPipeline

from talkgen.models.text_encoder import encode_prompts


class TalkgenPipeline(DiffusionPipeline):
    """Base of talkgen's pipelines: vae, text_encoder, tokenizer, audio_encoder, transformer, scheduler, and the
    optional mouth_head (speech -> mouth opening, :class:`~talkgen.models.mouth_head.SpeechMouthHead`; dubbing
    re-times the footage's mouths with it), keyframe_transformer (scenes draw a take's first frame with it when
    no reference image is given; the dubbing pipeline is loaded without it) and mouth_locator (frames -> mouth
    boxes, :class:`~talkgen.models.mouth_locator.MouthLocatorNet`; scenes re-time their generated mouths with it
    and the mouth head) and attribute_reader (frame -> the colours of its character,
    :class:`~talkgen.models.attribute_reader.AttributeReaderNet`; a take draws several first frames and keeps the
    one that reads most like its prompt, :mod:`talkgen.pipelines.keyframe`) and mouth_painter (redraws a mouth at the
    jaw opening its speech asks for, :class:`~talkgen.models.mouth_painter.MouthPainterNet`; scenes paint the
    voiced mouths of their larger faces with it, :func:`~talkgen.pipelines.retime.retime_footage`).

    Subclasses keep their own ``__init__`` (diffusers reads the components from its signature) and call
    :meth:`_register_components` from it; ``max_text_length`` lives in their config.
    """

    model_cpu_offload_seq = "text_encoder->audio_encoder->transformer->vae"
    _callback_tensor_inputs = ["latents"]
    _optional_components = [
        "mouth_head", "keyframe_transformer", "mouth_locator", "attribute_reader", "mouth_painter",
    ]  # fmt: skip

    def _register_components(
        self, vae, text_encoder, tokenizer, audio_encoder, transformer, scheduler, mouth_head=None,
        keyframe_transformer=None, mouth_locator=None, attribute_reader=None, mouth_painter=None,
    ) -> None:  # fmt: skip
        self.register_modules(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            audio_encoder=audio_encoder,
            transformer=transformer,
            scheduler=scheduler,
            mouth_head=mouth_head,
            keyframe_transformer=keyframe_transformer,
            mouth_locator=mouth_locator,
            attribute_reader=attribute_reader,
            mouth_painter=mouth_painter,
        )
        self.vae_scale_factor_temporal = 2 ** sum(vae.config.temperal_downsample) if vae is not None else 4
        self.vae_scale_factor_spatial = 2 ** len(vae.config.temperal_downsample) if vae is not None else 8

    def encode_text(self, prompts: list[str], device: torch.device) -> torch.Tensor:
        """B prompts -> (B, L, D) text states (zeros past each prompt)."""
        states, _ = encode_prompts(self.text_encoder, self.tokenizer, prompts, self.config.max_text_length, device)
        return states.to(self.transformer.dtype)

    @property
    def interrupt(self) -> bool:
        """Set ``pipe._interrupt = True`` (from a step callback, say) to skip the remaining steps of a call."""
        return bool(getattr(self, "_interrupt", False))

    def check_callback_inputs(self, callback: Callable | None, tensor_inputs: list[str] | None) -> list[str]:
        """The tensors a step callback receives: ``tensor_inputs`` (default ``["latents"]``), or a diffusers
        ``PipelineCallback``'s own; each must be one of ``_callback_tensor_inputs``."""
        from diffusers.callbacks import MultiPipelineCallbacks, PipelineCallback

        if isinstance(callback, (PipelineCallback, MultiPipelineCallbacks)):
            tensor_inputs = callback.tensor_inputs
        names = list(tensor_inputs or ["latents"])
        unknown = [k for k in names if k not in self._callback_tensor_inputs]
        if unknown:
            raise ValueError(f"callback_on_step_end_tensor_inputs {unknown} not in {self._callback_tensor_inputs}")
        return names

    def _scheduler_step(
        self,
        velocity: torch.Tensor,
        t: torch.Tensor,
        i: int,
        latents: torch.Tensor,
        callback: Callable | None,
        tensor_inputs: list[str] | None = None,
    ) -> torch.Tensor:
        """One scheduler step from ``velocity``, then ``callback(pipe, i, t, {"latents": ...})`` if given (diffusers'
        ``callback_on_step_end`` contract: the callback may return replaced tensors)."""
        latents = self.scheduler.step(velocity.float(), t, latents, return_dict=False)[0]
        if callback is not None:
            tensors = {"latents": latents}
            result = callback(self, i, t, {k: tensors[k] for k in tensor_inputs or ["latents"]}) or {}
            latents = result.get("latents", latents)
        return latents
