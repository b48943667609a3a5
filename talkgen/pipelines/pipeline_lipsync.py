"""LipSyncPipeline: mask-free lip-sync editing of existing footage to new speech (OmniSync-style).

Components are those of :class:`~talkgen.pipelines.pipeline_talking.TalkingCharacterPipeline` (``vae``,
``text_encoder``, ``tokenizer``, ``audio_encoder``, ``transformer``, ``scheduler``: diffusers
``FlowMatchEulerDiscreteScheduler``), registered and saved as one folder. The transformer sees the source video as
its ``source_latents`` condition in every pass; no mask enters the model.

One call:

1. fit the lengths of footage and new audio (:func:`~talkgen.pipelines.mouth.fit_length`: pad, trim, loop);
2. locate the mouths (a :class:`~talkgen.pipelines.mouth.MouthLocator` or a given track) and keep the chosen face;
3. VAE-encode the source at the processing size;
4. progressive noise init ``x = (1 - tau) z_src + tau eps``, the scheduler starting at ``sigma = tau``;
5. denoise with the new audio, DS-CFG on the audio term (both passes in one batch);
6. decode, resize back, match colours and blend into the source inside the edit region
   (:func:`~talkgen.pipelines.mouth.edit_mask`); frames without a face are the source frames.

Face crops (default where the track knows face boxes and the model its ``face_size``): each face is dubbed on its
own, in a fixed square crop where it fills ``face_crop`` of the side, resized to the size the model was trained at,
with its own speech track (steps 3-6 run once per face), then pasted back inside that face's edit region. The
model then sees every face at the framing it learned on, and a face hears only its own voice (on the synthetic
two-shot dub, speaker attribution 0.92 instead of 0.72: ``benchmarks/bench_face_crop.py``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import numpy as np
import torch
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler
from diffusers.utils.torch_utils import randn_tensor

from talkgen import SPEECH_RATE
from talkgen.models.cpu_conv import fast_cpu_conv3d
from talkgen.models.latents import denormalize_latents, latent_mouth_mask, mouth_mask, normalize_latents
from talkgen.models.mouth_head import SpeechMouthHead
from talkgen.models.mouth_locator import MouthLocatorNet
from talkgen.models.patch_codec import PatchPCAAutoencoder
from talkgen.models.presets import ModelPreset
from talkgen.pipelines.base import TalkgenPipeline
from talkgen.pipelines.defaults import DUB_GUIDANCE, DUB_STEPS, FACE_CROP
from talkgen.pipelines.dsc_guidance import (
    DSCFGConfig,
    ds_cfg,
    latent_spatial_map,
    progressive_init,
    set_edit_timesteps,
)
from talkgen.pipelines.face_crops import (
    OUTPUT_TYPES,
    FaceCrops,
    LipSyncPipelineOutput,
    as_output,
    resize_frames,
)
from talkgen.pipelines.mouth import (
    FaceChoice,
    LengthPlan,
    MediaPipeMouthLocator,
    MouthLocator,
    MouthTrack,
    audio_frames,
    blend,
    colour_drift,
    edit_mask,
    faces_left_to_right,
    fit_audio,
    fit_length,
    grow_boxes,
    keep_faces,
    match_colour,
    select_faces,
    silent_frames,
)
from talkgen.pipelines.retime import retime_footage

logger = logging.getLogger(__name__)

DRIFT_WARNING = 8.0  # mean colour difference (0-255) inside the edit region worth a warning


def _as_video(video: object) -> np.ndarray:
    arr = np.asarray(video.detach().cpu().numpy() if hasattr(video, "detach") else video)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[0] < 1:
        raise ValueError(f"video must be (T, H, W, 3) RGB with T >= 1, got {arr.shape}")
    if arr.dtype != np.uint8:
        raise ValueError(f"video must be uint8, got {arr.dtype}")
    return np.ascontiguousarray(arr)


class LipSyncPipeline(FaceCrops, TalkgenPipeline):
    """Re-time the lips of existing footage to new speech; only the mouth region changes by default."""

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
        default_strength: float = 0.92,
        window_frames: int | None = None,
        face_size: int | None = None,
        hide_source_mouth: float | None = None,
        reference_anchor: float | None = None,  # read by the generation pipeline (one model_index.json for both)
        keyframe_draws: int | None = None,  # likewise
    ) -> None:
        super().__init__()
        self._register_components(
            vae, text_encoder, tokenizer, audio_encoder, transformer, scheduler, mouth_head, keyframe_transformer,
            mouth_locator, attribute_reader, mouth_painter,
        )  # fmt: skip
        if not 0.0 <= default_strength <= 1.0:
            raise ValueError(f"default_strength must lie in [0, 1], got {default_strength}")
        if face_size is not None and face_size < 16:
            raise ValueError(f"face_size must be >= 16 pixels or None, got {face_size}")
        if hide_source_mouth is not None and not 0.0 <= hide_source_mouth <= 2.0:
            raise ValueError(f"hide_source_mouth must be a margin in [0, 2] or None, got {hide_source_mouth}")
        self.register_to_config(
            max_text_length=max_text_length,
            default_strength=default_strength,
            window_frames=window_frames,
            face_size=face_size,
            hide_source_mouth=hide_source_mouth,
        )

    # ------------------------------------------------------------------------------------------- sizes
    @property
    def size_multiple(self) -> int:
        """Processing height and width are multiples of this (VAE factor x patch size)."""
        return self.vae_scale_factor_spatial * self.transformer.config.patch_size[1]

    def processing_size(self, height: int, width: int, max_side: int | None = None) -> tuple[int, int]:
        """Default processing size for a source of ``height`` x ``width``: the aspect kept, sides rounded down to
        :attr:`size_multiple`, the longer side at most ``max_side`` (None: the source's)."""
        m = self.size_multiple
        scale = 1.0 if max_side is None else min(1.0, max_side / max(height, width))
        return max(m, int(height * scale) // m * m), max(m, int(width * scale) // m * m)

    # ------------------------------------------------------------------------------------------- encoders
    @torch.no_grad()
    def encode_video(self, frames: np.ndarray, height: int, width: int, device: torch.device) -> torch.Tensor:
        """uint8 (T, H, W, 3) frames, T = r k + 1 -> normalised (1, C, F, h, w) latents at ``height`` x ``width``."""
        pixels = torch.from_numpy(frames).to(device).permute(0, 3, 1, 2).float().div(255.0)
        pixels = resize_frames(pixels, height, width) * 2 - 1
        video = pixels.clamp(-1, 1).permute(1, 0, 2, 3)[None].to(self.vae.dtype)  # (1, 3, T, H, W)
        with fast_cpu_conv3d(self.vae.device):
            latents = self.vae.encode(video).latent_dist.mode()
        return normalize_latents(self.vae, latents).to(self.transformer.dtype)

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor, height: int, width: int) -> np.ndarray:
        """Normalised (1, C, F, h, w) latents -> uint8 (T, height, width, 3) frames (resized from the VAE's size)."""
        raw = denormalize_latents(self.vae, latents).to(self.vae.dtype)
        with fast_cpu_conv3d(self.vae.device):
            video = self.vae.decode(raw, return_dict=False)[0]  # (1, 3, T, H, W)
        frames = ((video[0].float().clamp(-1, 1) + 1) / 2).permute(1, 0, 2, 3)  # (T, 3, H, W)
        frames = resize_frames(frames, height, width).clamp(0, 1)
        return (frames * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()

    # ------------------------------------------------------------------------------------------- guidance
    def guided_velocity(
        self,
        latents: torch.Tensor,
        timestep: torch.Tensor,
        weight: float,
        spatial: torch.Tensor,
        prompt_embeds: torch.Tensor,
        audio_embeds: torch.Tensor,
        source_latents: torch.Tensor,
    ) -> torch.Tensor:
        """DS-CFG velocity of one step; the audio and null-audio passes of all B windows run as one batch of 2 B.

        Args:
            latents, source_latents: (B, C, F, h, w). timestep: (1,). weight: ``w(t)``. spatial: (F, h, w) or
            (B, F, h, w) map. prompt_embeds: (B, L, D). audio_embeds: (B, 1, T, C_audio).
        """
        dev = latents.device
        b = latents.shape[0]
        if weight == 1.0 and bool((spatial == 1).all()):  # v_null + 1 * 1 * (v_audio - v_null) = v_audio: one pass
            return self.transformer(
                hidden_states=latents,
                timestep=timestep.expand(b),
                encoder_hidden_states=prompt_embeds,
                audio_embeds=audio_embeds,
                source_latents=source_latents,
                return_dict=False,
            )[0]
        v = self.transformer(
            hidden_states=latents.repeat(2, 1, 1, 1, 1),
            timestep=timestep.expand(2 * b),
            encoder_hidden_states=prompt_embeds.repeat(2, 1, 1),
            audio_embeds=audio_embeds.repeat(2, 1, 1, 1),
            source_latents=source_latents.repeat(2, 1, 1, 1, 1),
            null_conditions={"audio": torch.tensor([False] * b + [True] * b, device=dev)},
            return_dict=False,
        )[0]
        v_audio, v_null = v.chunk(2)
        return ds_cfg(v_audio, v_null, spatial, weight)

    def _locate(self, video: np.ndarray, plan: LengthPlan, mouths, face: FaceChoice) -> MouthTrack:
        if mouths is None:
            mouths = MediaPipeMouthLocator()
        if isinstance(mouths, MouthTrack):
            track = mouths
        else:
            track = mouths.locate(video)
        if track.num_frames != len(video):
            raise ValueError(f"mouth track has {track.num_frames} frames for a {len(video)}-frame video")
        height, width = video.shape[1:3]
        if (track.width, track.height) != (width, height):
            track = track.scaled(width, height)
        return select_faces(track.take(plan.frame_index), face)

    def _spatial_map(self, track: MouthTrack, guidance: DSCFGConfig, height: int, width: int, frames: int):
        """(F_latent, h, w) DS-CFG map for the processing size; the track is padded like the frames."""
        scaled = track.scaled(width, height)
        pad = np.minimum(np.arange(frames), track.num_frames - 1)
        centers = scaled.centers[pad]
        if guidance.sigma_px is not None:
            sigmas = np.full(centers.shape[:2], guidance.sigma_px * width / track.width, dtype=np.float32)
        else:
            sigmas = guidance.sigma_scale * np.maximum(scaled.widths()[pad], 1.0)
        s, r = self.vae_scale_factor_spatial, self.vae_scale_factor_temporal
        return latent_spatial_map(centers, sigmas, height // s, width // s, guidance.base_ratio, s, r)

    # ------------------------------------------------------------------------------------------- sampling
    def edit_windows(self, latent_frames: int) -> list[int]:
        """Start latents of the windows an edit of ``latent_frames`` latents is denoised in.

        With ``config.window_frames`` (the clip length the model was trained on) the take is cut into windows of
        that many latents (the last one aligned to the end); each window is conditioned on its own source latents,
        so windows need no motion hand-off and run as one batch. None: one window.
        """
        if self.config.window_frames is None:
            return [0]
        size = (self.config.window_frames - 1) // self.vae_scale_factor_temporal + 1
        if latent_frames <= size:
            return [0]
        starts = list(range(0, latent_frames - size + 1, size))
        if starts[-1] != latent_frames - size:
            starts.append(latent_frames - size)
        return starts

    def _denoise(
        self,
        latents: torch.Tensor,
        strength: float,
        num_inference_steps: int,
        guidance: DSCFGConfig,
        prompt_embeds: torch.Tensor,
        audio_embeds: torch.Tensor,
        source_latents: torch.Tensor,
        spatial: torch.Tensor,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
    ) -> torch.Tensor:
        """Denoise (1, C, F, h, w) latents from ``sigma = strength`` to 0 with the scheduler and DS-CFG.

        Conditions: ``prompt_embeds`` (1, L, D), ``audio_embeds`` (1, 1, T, C), ``source_latents`` (1, C, F, h, w)
        and the DS-CFG ``spatial`` map (F, h, w). The take is denoised in the windows of :meth:`edit_windows`,
        stacked as one batch; where the last window overlaps the one before, its latents are kept.
        """
        device = latents.device
        frames = latents.shape[2]
        starts = self.edit_windows(frames)
        size = frames if len(starts) == 1 else (self.config.window_frames - 1) // self.vae_scale_factor_temporal + 1
        r = self.vae_scale_factor_temporal

        batched = {
            "prompt_embeds": prompt_embeds.expand(len(starts), -1, -1),
            "audio_embeds": torch.cat([audio_embeds[:, :, r * s : r * (s + size - 1) + 1] for s in starts]),
            "source_latents": torch.cat([source_latents[:, :, s : s + size] for s in starts]),
            "spatial": torch.stack([spatial[s : s + size] for s in starts]),
        }
        x = torch.cat([latents[:, :, s : s + size] for s in starts])
        timesteps = set_edit_timesteps(self.scheduler, num_inference_steps, strength, device=device)
        with self.progress_bar(total=len(timesteps)) as progress:
            for i, t in enumerate(timesteps):
                if self.interrupt:
                    continue
                weight = guidance.temporal_weight(min(1.0, float(self.scheduler.sigmas[i])))
                velocity = self.guided_velocity(
                    x.to(self.transformer.dtype), t.reshape(1).to(device), weight, **batched
                )
                x = self._scheduler_step(velocity, t, i, x, callback_on_step_end, callback_on_step_end_tensor_inputs)
                progress.update()
        out = latents.clone()
        for k, s in enumerate(starts):
            out[:, :, s : s + size] = x[k : k + 1]
        return out

    def hide_mouths(self, source_latents: torch.Tensor, track: MouthTrack, frames: int) -> torch.Tensor:
        """Zero the (1, C, F, h, w) source latents on the cells over the track's mouths (each box grown by the
        track's ``grow`` and widened by ``config.hide_source_mouth`` of its size), as the model was trained: its
        mouths then come from the speech, not the footage. The track is padded like the ``frames`` frames."""
        h, w = source_latents.shape[-2:]
        s = self.vae_scale_factor_spatial
        scaled = track.scaled(w * s, h * s)
        boxes = scaled.boxes[np.minimum(np.arange(frames), track.num_frames - 1)]  # (T, K, 4)
        grown = torch.from_numpy(grow_boxes(boxes, track.grow)).permute(1, 0, 2)[None]
        pixel = mouth_mask(grown, h * s, w * s, self.config.hide_source_mouth)
        cells = latent_mouth_mask(pixel, self.vae_scale_factor_temporal, s)
        return source_latents * (1 - cells).to(source_latents.device, source_latents.dtype)

    # ------------------------------------------------------------------------------------------- call steps
    def check_inputs(
        self,
        audio: np.ndarray,
        face: FaceChoice,
        edit_faces: list[int] | None,
        strength: float | None,
        fps: float,
        num_inference_steps: int,
        output_type: str,
    ) -> tuple[np.ndarray, list[int], float]:
        """Refuse what the call cannot run (``ValueError``); returns the (S, N) tracks, the faces to edit and the
        strength."""
        streams = np.asarray(audio, dtype=np.float32)
        streams = streams[None] if streams.ndim == 1 else streams
        if streams.ndim != 2 or not streams.shape[1] or not np.isfinite(streams).all():
            raise ValueError("audio must be a non-empty finite (N,) waveform, or (S, N) per-face tracks, at 16 kHz")
        per_face = len(streams) > 1
        if per_face and face != "all":
            raise ValueError("per-face audio tracks drive the faces left to right: give face='all'")
        if len(streams) > self.transformer.config.max_audio_streams:
            raise ValueError(
                f"{len(streams)} audio tracks; the model takes at most {self.transformer.config.max_audio_streams}"
            )
        edit_faces = list(range(len(streams))) if edit_faces is None else [int(k) for k in edit_faces]
        if not per_face and edit_faces != [0]:
            raise ValueError("edit_faces is for per-face audio tracks")
        if not edit_faces or any(not 0 <= k < len(streams) for k in edit_faces):
            raise ValueError(f"edit_faces must name tracks 0..{len(streams) - 1}, got {edit_faces}")
        strength = self.config.default_strength if strength is None else float(strength)
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must lie in [0, 1], got {strength}")
        if fps <= 0 or num_inference_steps < 1:
            raise ValueError("fps must be positive and num_inference_steps >= 1")
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {', '.join(OUTPUT_TYPES)}, got {output_type!r}")
        return streams, edit_faces, strength

    def edit_track(
        self, source: np.ndarray, plan: LengthPlan, mouths, face: FaceChoice, tracks: int, edit_faces: list[int]
    ) -> MouthTrack:
        """Mouths of the faces to re-time at each output frame (per-face tracks: faces left to right)."""
        track = self._locate(source, plan, mouths, face)
        if tracks == 1:
            return track
        track = faces_left_to_right(track)
        if track.num_faces < tracks:
            raise ValueError(
                f"{tracks} audio tracks for {track.num_faces} face slot(s): give one track per face"
                " (track the faces with max_faces >= tracks)"
            )
        return keep_faces(track, edit_faces)  # edit_faces name tracks, so they lie within the first `tracks` slots

    def fit_media(self, source: np.ndarray, streams: np.ndarray, fps: float, length_policy: str):
        """Fit footage and speech to one length: ``(plan, frames, wave, voices)``: the length plan, the output's
        source frames, the mixed output audio and the per-face speech (``[wave]`` for one track), at 16 kHz."""
        wave = np.clip(streams.sum(axis=0), -1.0, 1.0)  # what the output carries
        plan = fit_length(len(source), audio_frames(len(wave), SPEECH_RATE, fps), length_policy)
        wave = fit_audio(wave, plan.num_frames, fps, SPEECH_RATE)
        voices = [fit_audio(w, plan.num_frames, fps, SPEECH_RATE) for w in streams] if len(streams) > 1 else [wave]
        return plan, source[plan.frame_index], wave, voices

    def check_size(self, frames: np.ndarray, height: int | None, width: int | None) -> tuple[int, int]:
        """The processing size: ``height``/``width`` where given, else the frames' size rounded down."""
        default_h, default_w = self.processing_size(*frames.shape[1:3])
        height, width = height or default_h, width or default_w
        if height % self.size_multiple or width % self.size_multiple:
            raise ValueError(f"height and width must be multiples of {self.size_multiple}, got {height}x{width}")
        return height, width

    @torch.no_grad()
    def retime_source(
        self, frames: np.ndarray, track: MouthTrack, speech: list[np.ndarray], fps: float, device: torch.device
    ) -> np.ndarray:
        """``frames`` with each face's mouth (slot j of ``track``) re-timed to ``speech[j]`` (16 kHz, fitted to the
        frames) by the model's mouth head; the frames unchanged where the model has none."""
        if self.mouth_head is None:
            return frames
        features = self.encode_audio(speech, len(frames), fps, device)
        jaw = self.mouth_head(features.to(self.mouth_head.device))[0].float().cpu().numpy()  # (S, T)
        return retime_footage(frames, track.boxes, jaw, speech, fps)

    def encode_source(
        self, frames: np.ndarray, track: MouthTrack | None, height: int, width: int, device: torch.device
    ) -> tuple[torch.Tensor, int]:
        """Source latents of ``frames`` padded with the last one to ``r k + 1`` frames, and that frame count; with
        a ``track``, the mouths are hidden where the model asks for it (``hide_source_mouth``)."""
        r = self.vae_scale_factor_temporal
        padded = -(-(len(frames) - 1) // r) * r + 1
        latents = self.encode_video(frames[np.minimum(np.arange(padded), len(frames) - 1)], height, width, device)
        if track is not None and self.config.hide_source_mouth is not None:
            latents = self.hide_mouths(latents, track, padded)
        return latents, padded

    @torch.no_grad()
    def encode_audio(self, tracks: list[np.ndarray], num_frames: int, fps: float, device: torch.device):
        """Per-face (or one) 16 kHz tracks -> (1, S, T, C_audio) features of ``num_frames`` frames."""
        waves = torch.from_numpy(np.stack([fit_audio(w, num_frames, fps, SPEECH_RATE) for w in tracks]))[None]
        return self.audio_encoder(waves.to(device), fps, num_frames).to(device, self.transformer.dtype)

    def prepare_latents(
        self,
        source_latents: torch.Tensor,
        strength: float,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Progressive noise init ``(1 - tau) z_src + tau eps`` (``eps``: ``latents`` when given, else drawn)."""
        device = source_latents.device
        if latents is None:
            noise = randn_tensor(source_latents.shape, generator=generator, device=device, dtype=torch.float32)
        elif tuple(latents.shape) != tuple(source_latents.shape):
            raise ValueError(f"latents must have shape {tuple(source_latents.shape)}, got {tuple(latents.shape)}")
        else:
            noise = latents.to(device=device, dtype=torch.float32)
        return progressive_init(source_latents.float(), noise, strength)

    def compose(
        self, frames: np.ndarray, latents: torch.Tensor | None, mask: np.ndarray, colour_correction: bool
    ) -> np.ndarray:
        """Decode the edit, resize it back, match its colours and blend it into ``frames`` inside ``mask``."""
        if latents is None or not mask.any():
            return frames.copy()
        edited = self.decode_latents(latents, *frames.shape[1:3])[: len(frames)]
        if colour_correction:
            edited = match_colour(frames, edited, mask)
        return blend(frames, edited, mask)

    @torch.no_grad()
    def __call__(
        self,
        video: np.ndarray,
        audio: np.ndarray,
        mouths: MouthTrack | MouthLocator | None = None,
        prompt: str = "",
        strength: float | None = None,
        extent: str | float = "mouth",
        face: FaceChoice = "all",
        length_policy: str = "pad",
        fps: float = 25.0,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = DUB_STEPS,
        guidance: DSCFGConfig | None = None,
        colour_correction: bool = True,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "uint8",
        return_dict: bool = True,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
        edit_faces: list[int] | None = None,
        face_crop: float | None = FACE_CROP,
        retime: bool | None = None,
    ) -> LipSyncPipelineOutput | tuple:
        """Dub ``video`` with ``audio``.

        Args:
            video: uint8 (T, H, W, 3) RGB source frames. audio: (N,) new speech at 16 kHz, or (S, N) one track per
                face: track k drives face k, faces numbered left to right (``face`` must be ``"all"``); the output
                audio is their mix.
            mouths: a precomputed :class:`MouthTrack` of the T source frames, a :class:`MouthLocator` (default:
                MediaPipe face mesh, one face).
            prompt: optional text condition (the same in both guidance passes).
            strength: tau in [0, 1] (default: the ``default_strength`` of the config); 0 returns the source.
            extent: edit region, ``"mouth"`` (default; outside the feathered mouth region every pixel is the source
                pixel), ``"face"``, ``"frame"`` or a number in [0, 1].
            face: which face speaks: ``"all"``, a slot index or a pixel box ``(x0, y0, x1, y1)``.
            length_policy: ``pad`` (default, never drops speech), ``trim`` or ``loop`` (see ``fit_length``).
            fps: frame rate of ``video``. height, width: processing size (multiples of :attr:`size_multiple`;
                default: the source size rounded down).
            num_inference_steps: scheduler steps from ``sigma = strength`` to 0. guidance: DS-CFG settings (default
                ``DUB_GUIDANCE``: unguided, one pass per step; ``DSCFGConfig()`` is OmniSync's, peak 4).
            colour_correction: shift the edited region's mean colour to the source's per frame.
            generator: seeds the noise. latents: optional (1, C, F, h, w) noise ``eps``.
            output_type: ``uint8``, ``np`` (float in [0, 1]), ``pt``, ``pil`` (a list of images) or ``latent``.
                return_dict: else a tuple.
            callback_on_step_end: ``f(pipe, step, timestep, tensors) -> dict`` after each step (or a diffusers
                ``PipelineCallback``); it may return replaced tensors, or set ``pipe._interrupt`` to stop early.
            callback_on_step_end_tensor_inputs: the tensors it receives (``["latents"]``).
            edit_faces: with per-face tracks, the faces (left to right, from 0) whose mouths are re-timed (default:
                one per track); the others keep their pixels, and their tracks should be silence.
            face_crop: dub each face in its own square crop where its face box fills this share of the side (default
                0.7), at the model's ``face_size``, with its own track; used where the mouths come with face boxes
                (MediaPipe, ``--truth``), the model names its ``face_size``, the extent stays within the face and no
                ``latents`` are given. ``height``/``width`` then do not apply. None: one pass over the whole frame.
            retime: re-time the footage's own mouths to the new speech before the diffusion pass
                (:mod:`talkgen.pipelines.retime`); default (None): where the model has a ``mouth_head``. False: the
                diffusion pass sees the footage as it is.

        Returns:
            :class:`LipSyncPipelineOutput` (else ``(frames,)``); ``frames`` has
            ``fit_length(T, audio frames, length_policy).num_frames`` frames.
        """
        # 1. Check inputs; fit the lengths of footage and speech; the processing size.
        source = _as_video(video)
        streams, edit_faces, strength = self.check_inputs(
            audio, face, edit_faces, strength, fps, num_inference_steps, output_type
        )
        tensor_inputs = self.check_callback_inputs(callback_on_step_end, callback_on_step_end_tensor_inputs)
        if retime and self.mouth_head is None:
            raise ValueError("retime needs a model with a mouth_head (scripts/fit_mouth_head.py adds one)")
        self._interrupt = False
        guidance = guidance or DSCFGConfig(*DUB_GUIDANCE)
        plan, frames, wave, voices = self.fit_media(source, streams, fps, length_policy)
        proc_h, proc_w = self.check_size(frames, height, width)
        device = self._execution_device

        # 2. Mouths of the faces to re-time at each output frame; the edit region.
        track = self.edit_track(source, plan, mouths, face, len(streams), edit_faces)
        edit = strength > 0 and bool(track.has_face.any())
        if strength > 0 and not edit:
            logger.warning("no face found in any frame: the video is returned unchanged")
        mask = edit_mask(track, extent) if edit else np.zeros(frames.shape[:3], np.float32)
        logger.info("dub: %d frames, a mouth on %d, strength %.2f", plan.num_frames, track.has_face.sum(), strength)
        # per-face tracks: the edited faces' own; one track: every face says it
        per_face = [voices[k] for k in edit_faces] if len(voices) > 1 else voices * track.num_faces
        whole = not edit or latents is not None or output_type == "latent"
        crop = None if whole else self.crop_size(face_crop, extent, track)
        if crop is not None:  # steps 3-6 once per face, in its own crop, with its own speech
            call = functools.partial(
                self.__call__, prompt=prompt, strength=strength, extent=extent, length_policy="trim", fps=fps,
                num_inference_steps=num_inference_steps, guidance=guidance, colour_correction=colour_correction,
                generator=generator, callback_on_step_end=callback_on_step_end,
                callback_on_step_end_tensor_inputs=callback_on_step_end_tensor_inputs, face_crop=None, retime=retime,
            )  # fmt: skip
            result = self.dub_faces(frames, per_face, track, face_crop, crop, extent, call)
            return self._output(frames, result, mask, wave, plan, fps, output_type, return_dict)

        # 3. Re-time the footage's mouths to the new speech; encode it (padded with its last frame to r k + 1
        #    frames) and the speech.
        x = None
        if edit or output_type == "latent":
            source = (
                self.retime_source(frames, track, per_face, fps, device) if edit and retime is not False else frames
            )
            source_latents, padded = self.encode_source(source, track if edit else None, proc_h, proc_w, device)

            # 4. Progressive noise init; the scheduler starts at sigma = strength.
            x = self.prepare_latents(source_latents, strength, generator, latents)

            # 5. Denoise with the new speech and DS-CFG.
            if edit:
                x = self._denoise(
                    x, strength, num_inference_steps, guidance,
                    prompt_embeds=self.encode_text([prompt], device),
                    audio_embeds=self.encode_audio(voices, padded, fps, device),
                    source_latents=source_latents.to(self.transformer.dtype),
                    spatial=self._spatial_map(track, guidance, proc_h, proc_w, padded).to(device),
                    callback_on_step_end=callback_on_step_end, callback_on_step_end_tensor_inputs=tensor_inputs,
                )  # fmt: skip

        # 6. Decode, resize back, match colours, blend into the source.
        if output_type == "latent":
            self.maybe_free_model_hooks()
            if not return_dict:
                return (x,)
            silent = silent_frames(wave, plan.num_frames, fps, SPEECH_RATE)
            return LipSyncPipelineOutput(x, wave, mask, plan.frame_index, 0.0, silent)
        result = self.compose(frames, x, mask, colour_correction)
        return self._output(frames, result, mask, wave, plan, fps, output_type, return_dict)

    def _output(self, frames, result, mask, wave, plan: LengthPlan, fps: float, output_type: str, return_dict: bool):
        """The call's output: ``result`` frames as ``output_type``, with the fitted audio, mask and colour drift."""
        self.maybe_free_model_hooks()
        out_frames = as_output(result, output_type)
        if not return_dict:
            return (out_frames,)
        drift = colour_drift(frames, result, mask)
        if drift > DRIFT_WARNING:
            logger.warning("colour drift %.1f/255 inside the edit region", drift)
        silent = silent_frames(wave, plan.num_frames, fps, SPEECH_RATE)
        return LipSyncPipelineOutput(out_frames, wave, mask, plan.frame_index, drift, silent)


def build_tiny_lipsync_pipeline(
    seed: int = 0, num_layers: int | None = None, preset: str | ModelPreset = "tiny"
) -> LipSyncPipeline:
    """A lip-sync pipeline with the randomly initialised components of ``preset`` (see ``build_tiny_pipeline``)."""
    from talkgen.pipelines.pipeline_talking import build_tiny_pipeline

    talking = build_tiny_pipeline(seed=seed, num_layers=num_layers, preset=preset)
    return LipSyncPipeline(**talking.components, max_text_length=talking.config.max_text_length)
