"""TalkingCharacterPipeline: prompt + per-character speech (+ optional reference image) -> talking video.

Components (registered, saved and loaded as one folder with ``model_index.json``): ``vae`` (diffusers
``AutoencoderKLWan``), ``text_encoder`` (``T5EncoderModel`` / UMT5) with its ``tokenizer``, ``audio_encoder`` (any
:class:`~talkgen.models.audio_encoder.AudioEncoderMixin` module), ``transformer``
(:class:`~talkgen.models.transformer_talking.TalkingCharacterTransformer3DModel`) and ``scheduler`` (diffusers
``FlowMatchEulerDiscreteScheduler``; the pipeline never steps latents itself), and optionally ``mouth_head`` (read by
the dubbing pipeline) and ``keyframe_transformer``: a smaller transformer of the same kind, without speech attention,
that draws a take's first frame from the prompt alone when no reference image is given; the take is then generated
with that frame as its reference (the video transformer animates a given first frame far better than it composes
one from text: ``models/talkgen-tiny/README.md``); with an ``attribute_reader`` a one-character take draws several
and keeps the one whose colours read most like its prompt (:mod:`talkgen.pipelines.keyframe`).

Long takes are generated in windows: each window after the first is conditioned on the last
``motion_latent_frames`` latents of the previous one (the transformer's ``motion_latents``), overlaps it by that many
latent frames, and the stitched latent sequence is decoded once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from diffusers.video_processor import VideoProcessor

from talkgen.models.cpu_conv import fast_cpu_conv3d
from talkgen.models.latents import denormalize_latents, normalize_latents
from talkgen.models.mouth_head import SpeechMouthHead
from talkgen.models.mouth_locator import MouthLocatorNet
from talkgen.models.patch_codec import PatchPCAAutoencoder
from talkgen.models.presets import ModelPreset
from talkgen.pipelines.base import TalkgenPipeline
from talkgen.pipelines.defaults import GENERATE_STEPS, KEYFRAME_STEPS, KEYFRAME_TEXT_SCALE
from talkgen.pipelines.guidance import GuidanceConfig, multi_condition_cfg, needed_passes
from talkgen.pipelines.keyframe import KeyframeMixin, check_draws

logger = logging.getLogger(__name__)

OUTPUT_TYPES = ("np", "pt", "pil", "latent")


@dataclass
class TalkingCharacterPipelineOutput(BaseOutput):
    """``frames``: (B, F, H, W, 3) floats in [0, 1] (``np``), a (B, F, 3, H, W) tensor (``pt``), B lists of PIL
    images (``pil``) or latents."""

    frames: np.ndarray | torch.Tensor


@dataclass(frozen=True)
class WindowPlan:
    """How a take of ``num_latent_frames`` latents splits into windows of ``window_latent_frames``.

    ``starts[k]`` is the global latent index of window k's first latent; windows overlap by ``overlap`` latents;
    ``padded_latent_frames`` >= ``num_latent_frames`` is what the windows cover (the excess is cropped).
    """

    num_latent_frames: int
    window_latent_frames: int
    overlap: int
    starts: tuple[int, ...]

    @property
    def padded_latent_frames(self) -> int:
        return self.starts[-1] + self.window_latent_frames


def plan_windows(num_latent_frames: int, window_latent_frames: int, overlap: int) -> WindowPlan:
    """Split ``num_latent_frames`` into windows of ``window_latent_frames`` that overlap by ``overlap`` latents."""
    if window_latent_frames < 1 or num_latent_frames < 1:
        raise ValueError("latent frame counts must be >= 1")
    if window_latent_frames >= num_latent_frames:
        return WindowPlan(num_latent_frames, num_latent_frames, 0, (0,))
    if not 1 <= overlap < window_latent_frames:
        raise ValueError(f"motion_latent_frames must lie in [1, {window_latent_frames - 1}], got {overlap}")
    stride = window_latent_frames - overlap
    count = 1 + math.ceil((num_latent_frames - window_latent_frames) / stride)
    return WindowPlan(num_latent_frames, window_latent_frames, overlap, tuple(k * stride for k in range(count)))


def _as_streams(audio: object, batch_size: int) -> torch.Tensor:
    """Audio as (B, S, N) float32: accepts (N,), (S, N), (B, S, N) arrays/tensors or a list of per-stream waves."""
    if isinstance(audio, list | tuple):
        waves = [torch.as_tensor(np.asarray(w), dtype=torch.float32).reshape(-1) for w in audio]
        if not waves:
            raise ValueError("audio needs at least one stream")
        length = max(w.shape[0] for w in waves)
        stacked = torch.stack([torch.nn.functional.pad(w, (0, length - w.shape[0])) for w in waves])
        audio = stacked
    tensor = torch.as_tensor(audio, dtype=torch.float32)
    if tensor.ndim == 1:
        tensor = tensor[None]
    if tensor.ndim == 2:
        tensor = tensor[None].expand(batch_size, -1, -1)
    if tensor.ndim != 3 or tensor.shape[0] != batch_size:
        raise ValueError(
            f"audio must be (N,), (streams, N), (batch={batch_size}, streams, N) or a list of waves, got"
            f" {tuple(tensor.shape)}"
        )
    return tensor


class TalkingCharacterPipeline(KeyframeMixin, TalkgenPipeline):
    """Speech + text (+ reference image) to talking-character video with multi-condition time-adaptive CFG."""

    def __init__(
        self,
        vae: AutoencoderKLWan | PatchPCAAutoencoder,
        text_encoder,
        tokenizer,
        audio_encoder,
        transformer,
        scheduler: FlowMatchEulerDiscreteScheduler,
        mouth_head: SpeechMouthHead | None = None,
        keyframe_transformer=None,
        mouth_locator: MouthLocatorNet | None = None,
        attribute_reader=None,
        mouth_painter=None,
        max_text_length: int = 64,
        window_frames: int | None = None,
        face_size: int | None = None,
        hide_source_mouth: float | None = None,
        default_strength: float | None = None,
        reference_anchor: float | None = None,
        keyframe_draws: int | None = None,
    ) -> None:
        super().__init__()
        if window_frames is not None and (window_frames < 5 or (window_frames - 1) % 4):
            raise ValueError(f"window_frames must be 4 k + 1 and >= 5, or None, got {window_frames}")
        _check_anchor(reference_anchor)
        self._register_components(
            vae, text_encoder, tokenizer, audio_encoder, transformer, scheduler, mouth_head, keyframe_transformer,
            mouth_locator, attribute_reader, mouth_painter,
        )  # fmt: skip
        # Read by the dubbing pipeline (one model_index.json for both): face_size, the frame size the model was
        # trained at (each face is dubbed at it); hide_source_mouth, the margin of the source mouths it was trained
        # to dub without (None: it sees them); default_strength, the dubs' noise level (None: the dubbing pipeline's).
        self.register_to_config(
            max_text_length=max_text_length,
            window_frames=window_frames,
            face_size=face_size,
            hide_source_mouth=hide_source_mouth,
        )
        if default_strength is not None:
            self.register_to_config(default_strength=default_strength)
        if reference_anchor is not None:  # the default of __call__'s reference_anchor for this model
            self.register_to_config(reference_anchor=reference_anchor)
        if keyframe_draws is not None:  # likewise for keyframe_draws
            check_draws(keyframe_draws)
            self.register_to_config(keyframe_draws=keyframe_draws)
        self.video_processor = VideoProcessor(vae_scale_factor=self.vae_scale_factor_spatial)

    # ------------------------------------------------------------------------------------------- encoders
    @torch.no_grad()
    def encode_image(self, image: object, batch_size: int, height: int, width: int, device: torch.device):
        """Reference image (H, W, 3) uint8 array / (B, 3, H, W) tensor in [0, 1] -> (B, C, 1, h, w) latents."""
        if isinstance(image, np.ndarray):
            if image.ndim != 3 or image.shape[-1] != 3:
                raise ValueError(f"image array must be (H, W, 3), got {image.shape}")
            scale = 255.0 if image.dtype == np.uint8 else 1.0
            image = torch.from_numpy(np.ascontiguousarray(image)).float().div(scale).permute(2, 0, 1)
        pixels = torch.as_tensor(image, dtype=torch.float32)
        if pixels.ndim == 3:
            pixels = pixels[None]
        if pixels.ndim != 4 or pixels.shape[1] != 3:
            raise ValueError(f"image must be (B, 3, H, W) in [0, 1], got {tuple(pixels.shape)}")
        if pixels.shape[0] == 1:
            pixels = pixels.expand(batch_size, -1, -1, -1)
        pixels = torch.nn.functional.interpolate(pixels, size=(height, width), mode="bilinear", antialias=True)
        pixels = (pixels * 2 - 1).clamp(-1, 1).to(device=device, dtype=self.vae.dtype)
        with fast_cpu_conv3d(self.vae.device):
            latents = self.vae.encode(pixels[:, :, None]).latent_dist.mode()
        return normalize_latents(self.vae, latents).to(self.transformer.dtype)

    @torch.no_grad()
    def encode_prompt(
        self, prompt: list[str], negative_prompt: list[str], device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """B prompts and B negative prompts -> ``(prompt_embeds, negative_prompt_embeds)``, each (B, L, D)."""
        return self.encode_text(prompt, device), self.encode_text(negative_prompt, device)

    @torch.no_grad()
    def encode_audio(self, audio: object, batch_size: int, fps: float, num_frames: int, device: torch.device):
        """Speech streams (see ``__call__``) -> (B, S, T, C_audio) features of ``num_frames`` video frames."""
        waves = _as_streams(audio, batch_size)
        return self.audio_encoder(waves, fps, num_frames).to(device, self.transformer.dtype)

    def prepare_latents(
        self,
        batch_size: int,
        num_latent_frames: int,
        height: int,
        width: int,
        device: torch.device,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, C, F, h, w) float32 starting noise: ``latents`` when given (checked), else drawn from ``generator``."""
        s = self.vae_scale_factor_spatial
        shape = (batch_size, self.transformer.config.in_channels, num_latent_frames, height // s, width // s)
        if latents is None:
            return randn_tensor(shape, generator=generator, device=device, dtype=torch.float32)
        if tuple(latents.shape) != shape:
            raise ValueError(f"latents must have shape {shape}, got {tuple(latents.shape)}")
        return latents.to(device=device, dtype=torch.float32)

    def decode_video(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised (B, C, F, h, w) latents -> (B, 3, T, H, W) video in [-1, 1]."""
        with fast_cpu_conv3d(self.vae.device):
            return self.vae.decode(denormalize_latents(self.vae, latents.to(self.vae.dtype)), return_dict=False)[0]

    def decode_latents(self, latents: torch.Tensor, output_type: str = "np"):
        """Normalised (B, C, F, h, w) latents -> video in ``output_type`` (``np``, ``pt`` or ``pil``)."""
        return self.video_processor.postprocess_video(self.decode_video(latents), output_type=output_type)

    @torch.no_grad()
    def retime_mouths(self, video: torch.Tensor, waves: torch.Tensor, audio_embeds: torch.Tensor, fps: float):
        """Generated takes with their mouths re-timed to their speech, as dubbing re-times footage
        (:mod:`talkgen.pipelines.retime`): the ``mouth_locator`` finds the mouths of each frame (the ones that persist
        through the take, :func:`~talkgen.pipelines.retime.mouth_tracks`), the ``mouth_head``
        reads each stream's jaw opening from its speech features, and each mouth takes the mouth of the take's frame
        whose opening is nearest the one its speech asks for (:func:`~talkgen.pipelines.retime.retime_generated`), or,
        with a ``mouth_painter`` and a face tall enough, is painted at that opening.

        Args:
            video: (B, 3, T, H, W) in [-1, 1]. waves: (B, S, N) the speech streams (16 kHz).
            audio_embeds: (B, S, T', D) their features, T' >= T. fps: frame rate.

        Returns:
            The video with the re-timed mouths (other pixels unchanged).
        """
        from talkgen.pipelines.retime import TRACK_CANDIDATES, retime_generated

        frames_t = video.shape[2]
        jaw = self.mouth_head(audio_embeds.to(self.mouth_head.device))[..., :frames_t].float().cpu().numpy()
        out = video.clone()
        for b in range(video.shape[0]):
            pixels = ((video[b].permute(1, 2, 3, 0).float().clamp(-1, 1) + 1) * 127.5).round().byte().cpu().numpy()
            boxes, scores = self.mouth_locator.detect(pixels, max_faces=waves.shape[1] + TRACK_CANDIDATES)
            speech = list(waves[b].float().cpu().numpy())
            new = retime_generated(pixels, boxes, jaw[b], speech, fps, scores=scores, painter=self.mouth_painter)
            changed = torch.from_numpy((new != pixels).any(axis=-1)).to(video.device)  # (T, H, W)
            redrawn = torch.from_numpy(new).to(video.device, video.dtype).permute(3, 0, 1, 2) / 127.5 - 1
            out[b] = torch.where(changed[None], redrawn, video[b])
        return out

    # ------------------------------------------------------------------------------------------- guidance
    def guided_velocity(
        self,
        latents: torch.Tensor,
        timestep: torch.Tensor,
        text_scale: float,
        audio_scale: float,
        prompt_embeds: torch.Tensor,
        negative_prompt_embeds: torch.Tensor,
        audio_embeds: torch.Tensor,
        reference_latents: torch.Tensor | None = None,
        motion_latents: torch.Tensor | None = None,
        batched: bool = True,
    ) -> torch.Tensor:
        """Guided velocity for one step; every needed pass goes through the transformer as one batch.

        Args:
            latents: (B, C, F, h, w). timestep: scalar tensor. text_scale, audio_scale: s_txt, s_aud at this step.
            prompt_embeds / negative_prompt_embeds: (B, L, D). audio_embeds: (B, S, T, C_audio).
            reference_latents: (B, C, 1, h, w) identity reference; motion_latents: (B, C, m, h, w) the previous
                window's last latents (both kept in every pass), or None.
            batched: run the passes as one forward (False: one forward each; same result, for tests).

        Returns:
            (B, C, F, h, w) velocity.
        """
        passes = needed_passes(text_scale, audio_scale)
        batch = latents.shape[0]
        text_of = {"uncond": negative_prompt_embeds, "text": prompt_embeds, "text_audio": prompt_embeds}

        def repeat(x: torch.Tensor | None, k: int) -> torch.Tensor | None:
            return None if x is None else x.repeat(k, *([1] * (x.ndim - 1)))

        def run(names: tuple[str, ...]) -> torch.Tensor:
            k = len(names)
            null_audio = torch.cat(
                [torch.full((batch,), name != "text_audio", dtype=torch.bool, device=latents.device) for name in names]
            )
            return self.transformer(
                hidden_states=repeat(latents, k),
                timestep=timestep.expand(batch * k),
                encoder_hidden_states=torch.cat([text_of[name] for name in names]),
                audio_embeds=repeat(audio_embeds, k),
                reference_latents=repeat(reference_latents, k),
                motion_latents=repeat(motion_latents, k),
                null_conditions={"audio": null_audio},
                return_dict=False,
            )[0]

        if batched:
            outputs = dict(zip(passes, run(passes).chunk(len(passes)), strict=True))
        else:
            outputs = {name: run((name,)) for name in passes}
        return multi_condition_cfg(outputs, text_scale, audio_scale)

    def retimes(self, retime: bool | None = None) -> bool:
        """Whether a call with this ``retime`` re-times its generated mouths (:meth:`retime_mouths`)."""
        return retime is not False and self.mouth_head is not None and self.mouth_locator is not None

    # ------------------------------------------------------------------------------------------- sampling
    def check_inputs(
        self,
        prompt: str | list[str],
        negative_prompt: str | list[str] | None,
        num_frames: int,
        height: int,
        width: int,
        fps: float,
        num_inference_steps: int,
        window_frames: int | None = None,
        output_type: str = "np",
        keyframe_steps: int = KEYFRAME_STEPS,
        keyframe_text_scale: float = KEYFRAME_TEXT_SCALE,
    ) -> None:
        """Refuse what the call cannot run, with the reason (``ValueError``)."""
        r, s = self.vae_scale_factor_temporal, self.vae_scale_factor_spatial
        p = self.transformer.config.patch_size[1]
        for name, frames in (("num_frames", num_frames), ("window_frames", window_frames)):
            if frames is not None and (frames < 1 or (frames - 1) % r):
                raise ValueError(f"{name} must be {r} k + 1 (causal VAE), got {frames}")
        if height % (s * p) or width % (s * p) or height <= 0 or width <= 0:
            raise ValueError(f"height and width must be positive multiples of {s * p}, got {height}x{width}")
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be >= 1, got {num_inference_steps}")
        if keyframe_steps < 1 or not keyframe_text_scale >= 0:
            raise ValueError(
                "keyframe_steps must be >= 1 and keyframe_text_scale >= 0,"
                f" got {keyframe_steps}, {keyframe_text_scale}"
            )
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {', '.join(OUTPUT_TYPES)}, got {output_type!r}")
        prompts = 1 if isinstance(prompt, str) else len(prompt)
        if isinstance(negative_prompt, list) and len(negative_prompt) != prompts:
            raise ValueError(f"negative_prompt has {len(negative_prompt)} entries for {prompts} prompts")

    def denoise_window(
        self,
        latents: torch.Tensor,
        num_inference_steps: int,
        guidance: GuidanceConfig,
        prompt_embeds: torch.Tensor,
        negative_prompt_embeds: torch.Tensor,
        audio_embeds: torch.Tensor,
        reference_latents: torch.Tensor | None,
        motion_latents: torch.Tensor | None,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
        progress=None,
    ) -> torch.Tensor:
        """Denoise one window's (B, C, F_w, h, w) noise with the scheduler; returns clean latents."""
        device, dtype = latents.device, self.transformer.dtype  # dtype once: each lookup walks the modules
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        for i, t in enumerate(self.scheduler.timesteps):
            if self.interrupt:
                continue
            text_scale, audio_scale = guidance.scales(float(self.scheduler.sigmas[i]))
            velocity = self.guided_velocity(
                latents.to(dtype), t.reshape(1).to(device), text_scale, audio_scale,
                prompt_embeds, negative_prompt_embeds, audio_embeds, reference_latents, motion_latents,
            )  # fmt: skip
            latents = self._scheduler_step(
                velocity, t, i, latents, callback_on_step_end, callback_on_step_end_tensor_inputs
            )
            if progress is not None:
                progress.update()
        return latents

    def resolved_window(self, num_frames: int, window_frames: int | None = None) -> int | None:
        """Video frames per window: ``window_frames``, else the model's trained length (capped at the take)."""
        if window_frames is None and self.config.window_frames is not None:
            return min(num_frames, self.config.window_frames)
        return window_frames

    def window_plan(self, num_frames: int, window_frames: int | None = None, motion_latent_frames: int = 1):
        """The :class:`WindowPlan` a take of ``num_frames`` video frames is denoised in (each window runs every
        step: progress over a take counts ``steps * len(plan.starts)``)."""
        r = self.vae_scale_factor_temporal
        latent_frames = (num_frames - 1) // r + 1
        window_frames = self.resolved_window(num_frames, window_frames)
        window = latent_frames if window_frames is None else (window_frames - 1) // r + 1
        return plan_windows(latent_frames, window, motion_latent_frames)

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        audio: object,
        image: object | None = None,
        negative_prompt: str | list[str] | None = None,
        keyframe: bool = True,
        keyframe_steps: int = KEYFRAME_STEPS,
        keyframe_text_scale: float = KEYFRAME_TEXT_SCALE,
        keyframe_draws: int | None = None,
        num_frames: int = 25,
        height: int = 128,
        width: int = 128,
        fps: float = 25.0,
        num_inference_steps: int = GENERATE_STEPS,
        guidance: GuidanceConfig | None = None,
        window_frames: int | None = None,
        motion_latent_frames: int = 1,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
        retime: bool | None = None,
        reference_anchor: float | None = None,
    ) -> TalkingCharacterPipelineOutput | tuple:
        """Generate a talking-character video.

        Args:
            prompt: one prompt or B prompts. audio: 16 kHz speech, one stream per character: (N,), (S, N),
                (B, S, N) or a list of S waves (zero-padded to the longest); it should cover ``num_frames / fps`` s.
            image: optional reference first frame ((H, W, 3) uint8 or (B, 3, H, W) in [0, 1]).
            negative_prompt: text of the unconditional pass (default: empty).
            keyframe: without ``image``, draw the reference first frame from the prompt with ``keyframe_transformer``
                when the pipeline has one (False: generate from text and speech alone). keyframe_steps,
                keyframe_text_scale: its sampling steps and text guidance (:meth:`draw_keyframe`). keyframe_draws:
                first frames drawn for a one-character prompt that names colours, the one the ``attribute_reader``
                reads most like them kept; None: the model's ``config.keyframe_draws``, else 1.
            num_frames: video frames, 4 k + 1. height, width: pixels (multiples of 16). fps: video frame rate.
            num_inference_steps: scheduler steps per window.
            guidance: CFG settings (default ``GuidanceConfig.default()``).
            window_frames: video frames per window (4 k + 1) for long takes; None: the pipeline's
                ``config.window_frames`` (the clip length the model was trained on), or one window when that is unset.
            motion_latent_frames: latent frames each window shares with (and is conditioned on from) the previous one.
            reference_anchor: share of the reference (the image or the drawn keyframe) blended into the motion
                latents each later window is conditioned on, in [0, 1]: windows that see only their predecessor's
                last frame wash out over a long take; 1 starts every window from the reference. None: the model's
                ``config.reference_anchor``, else 0.
            generator: seeds the noise. latents: optional (B, C, F_noise, h, w) starting noise, F_noise covering
                all windows (``plan_windows(...).padded_latent_frames``).
            output_type: ``np``, ``pt``, ``pil`` or ``latent``. return_dict: the output dataclass (else a 1-tuple).
            callback_on_step_end: ``f(pipe, step, timestep, tensors) -> dict`` after each step (or a diffusers
                ``PipelineCallback``); it may return replaced tensors, or set ``pipe._interrupt`` to stop early.
            callback_on_step_end_tensor_inputs: the tensors it receives (``["latents"]``).
            retime: re-time the generated mouths to the speech (:meth:`retime_mouths`); default (None): where the
                pipeline has a ``mouth_head`` and a ``mouth_locator``. Not for ``latent`` output.

        Returns:
            :class:`TalkingCharacterPipelineOutput` with ``frames`` (B, num_frames, H, W, 3) for ``np``.
        """
        # 1. Check inputs; plan the windows of a long take.
        guidance = guidance or GuidanceConfig.default()
        window_frames = self.resolved_window(num_frames, window_frames)
        self.check_inputs(
            prompt, negative_prompt, num_frames, height, width, fps, num_inference_steps, window_frames, output_type,
            keyframe_steps, keyframe_text_scale,
        )  # fmt: skip
        tensor_inputs = self.check_callback_inputs(callback_on_step_end, callback_on_step_end_tensor_inputs)
        if retime and not self.retimes():
            raise ValueError(
                "retime needs a model with a mouth_head and a mouth_locator (scripts/fit_mouth_head.py and"
                " scripts/fit_mouth_locator.py add them)"
            )
        if retime and output_type == "latent":
            raise ValueError("retime works on decoded frames: ask for np, pt or pil output, or leave retime unset")
        retime = self.retimes(retime) and output_type != "latent"
        self._interrupt = False
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        batch = len(prompts)
        negatives = negative_prompt if isinstance(negative_prompt, list) else [negative_prompt or ""] * batch
        device = self._execution_device
        r = self.vae_scale_factor_temporal
        plan = self.window_plan(num_frames, window_frames, motion_latent_frames)
        latent_frames = plan.num_latent_frames
        anchor = _check_anchor(self.config.get("reference_anchor") if reference_anchor is None else reference_anchor)

        # 2. Encode the prompts, the speech (every frame the windows cover) and the reference image.
        prompt_embeds, negative_prompt_embeds = self.encode_prompt(prompts, negatives, device)
        audio_embeds = self.encode_audio(audio, batch, fps, r * (plan.padded_latent_frames - 1) + 1, device)
        if image is not None:
            reference = self.encode_image(image, batch, height, width, device)
        elif self.draws_keyframe(image, keyframe):
            reference = self.pick_keyframe(
                prompts, prompt_embeds, negative_prompt_embeds, height, width, keyframe_steps, keyframe_text_scale,
                generator, keyframe_draws,
            )  # fmt: skip
        else:
            reference = None

        # 3. Noise for every window.
        noise = self.prepare_latents(batch, plan.padded_latent_frames, height, width, device, generator, latents)

        # 4. Denoise window by window; each later window is conditioned on the previous window's last latents.
        clean: torch.Tensor | None = None
        motion = None
        with self.progress_bar(total=num_inference_steps * len(plan.starts)) as progress:
            for start in plan.starts:
                out = self.denoise_window(
                    noise[:, :, start : start + plan.window_latent_frames],
                    num_inference_steps, guidance, prompt_embeds, negative_prompt_embeds,
                    audio_embeds[:, :, r * start : r * (start + plan.window_latent_frames - 1) + 1],
                    reference, motion, callback_on_step_end, tensor_inputs, progress,
                )  # fmt: skip
                clean = out if clean is None else torch.cat([clean, out[:, :, plan.overlap :]], dim=2)
                if plan.overlap:
                    motion = out[:, :, -plan.overlap :]
                    if anchor and reference is not None:
                        motion = torch.lerp(motion, reference.to(motion.dtype).expand_as(motion), anchor)
                    motion = motion.to(self.transformer.dtype)
        clean = clean[:, :, :latent_frames]

        # 5. Decode; re-time the mouths to the speech.
        if output_type == "latent":
            frames = clean
        else:
            video = self.decode_video(clean)
            if retime:
                video = self.retime_mouths(video, _as_streams(audio, batch), audio_embeds, fps)
            frames = self.video_processor.postprocess_video(video, output_type=output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames,)
        return TalkingCharacterPipelineOutput(frames=frames)


def _check_anchor(anchor: float | None) -> float:
    """``reference_anchor`` as a float (None: 0), or a ``ValueError`` naming it."""
    if anchor is None:
        return 0.0
    if not 0.0 <= float(anchor) <= 1.0:
        raise ValueError(
            f"reference_anchor must lie in [0, 1] (0: no anchor, 1: every window from the reference), got {anchor}"
        )
    return float(anchor)


def build_tiny_pipeline(
    seed: int = 0, num_layers: int | None = None, preset: str | ModelPreset = "tiny"
) -> TalkingCharacterPipeline:
    """A pipeline with randomly initialised components of ``preset`` (a name or a :class:`ModelPreset`;
    ``num_layers`` overrides the depth)."""
    from talkgen.models.audio_encoder import BuiltinAudioEncoder
    from talkgen.models.presets import build_vae, get_preset
    from talkgen.models.text_encoder import build_tiny_text_encoder
    from talkgen.models.transformer_talking import TalkingCharacterTransformer3DModel

    spec = get_preset(preset) if isinstance(preset, str) else preset
    config = spec.config("transformer")
    if num_layers is not None:
        config["num_layers"] = num_layers
    audio_config = spec.config("audio_encoder")
    audio_config.pop("kind", None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = TalkingCharacterTransformer3DModel(**config).eval()
        vae = build_vae(spec).eval()
        text_encoder, tokenizer = build_tiny_text_encoder(spec.config("text_encoder"))
        audio_encoder = BuiltinAudioEncoder(**audio_config).eval()
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    return TalkingCharacterPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        audio_encoder=audio_encoder,
        transformer=transformer,
        scheduler=scheduler,
        max_text_length=spec.text_len,
    )
