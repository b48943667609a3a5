"""Face crops of a dub, and the output of a dub.

Each face is dubbed on its own, in a fixed square crop where it fills ``face_crop`` of the side, resized to the size
the model was trained at, with its own speech track; the crop's result is resized back and pasted into that face's
edit region (:class:`FaceCrops`, a part of :class:`~talkgen.pipelines.pipeline_lipsync.LipSyncPipeline`).
:class:`LipSyncPipelineOutput` is what a dub returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.utils import BaseOutput

from talkgen.pipelines.mouth import EXTENTS, MouthTrack, blend, edit_mask, face_crop_box, parse_extent

OUTPUT_TYPES = ("uint8", "np", "pt", "pil", "latent")


@dataclass
class LipSyncPipelineOutput(BaseOutput):
    """Result of a dub.

    Attributes:
        frames: (T, H, W, 3) uint8 (``uint8``), float32 in [0, 1] (``np``), a (T, 3, H, W) float tensor (``pt``),
            T PIL images (``pil``) or the (1, C, F, h, w) edited latents (``latent``), at the source size.
        audio: (N,) float32 16 kHz new audio fitted to ``T / fps`` seconds.
        mask: float32 (T, H, W) blend weight of the edited frames (0 = source pixel).
        frame_index: int64 (T,) source frame shown at each output frame.
        colour_drift: largest mean-colour difference (0-255) inside the edit region, output vs source.
        silent: bool (T,) frames where the new audio is silent (below -45 dBFS): the mouth should be closed there.
    """

    frames: np.ndarray | torch.Tensor
    audio: np.ndarray
    mask: np.ndarray
    frame_index: np.ndarray
    colour_drift: float
    silent: np.ndarray


def as_output(frames: np.ndarray, output_type: str):
    """uint8 (T, H, W, 3) frames as ``output_type``: themselves, float [0, 1], a (T, 3, H, W) tensor, PIL images."""
    if output_type == "uint8":
        return frames
    if output_type == "np":
        return frames.astype(np.float32) / 255.0
    if output_type == "pil":
        from PIL import Image

        return [Image.fromarray(frame) for frame in frames]
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0


def resize_frames(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(T, 3, H, W) float -> (T, 3, height, width), antialiased bilinear (identity at the same size)."""
    if frames.shape[-2:] == (height, width):
        return frames
    return F.interpolate(frames, size=(height, width), mode="bilinear", antialias=True, align_corners=False)


def resize_uint8(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 (T, H, W, 3) frames resized (antialiased bilinear) to ``height`` x ``width``."""
    pixels = resize_frames(torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float(), height, width)
    return pixels.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


class FaceCrops:
    """The face-crop steps of a lip-sync pipeline; the pipeline provides ``config.face_size``,
    ``size_multiple`` and ``interrupt``."""

    def crop_size(self, face_crop: float | None, extent: str | float, track: MouthTrack) -> int | None:
        """Side (pixels) each face is dubbed at in its own crop, or None for one whole-frame pass: crops need
        ``face_crop``, the model's ``face_size``, face boxes in the track and an extent within the face."""
        if face_crop is None or self.config.face_size is None or track.faces is None:
            return None
        if parse_extent(extent) > EXTENTS["face"]:
            return None
        m = self.size_multiple
        return max(m, self.config.face_size // m * m)

    def dub_faces(
        self,
        frames: np.ndarray,
        tracks: list[np.ndarray],
        track: MouthTrack,
        face_crop: float,
        size: int,
        extent: str | float,
        call: Callable[..., LipSyncPipelineOutput],
    ) -> np.ndarray:
        """Dub each face of ``track`` (slot j, speech ``tracks[j]`` fitted to the frames) in its own crop.

        ``call(crop_frames, speech, mouths=crop_track, height=size, width=size)`` runs steps 3-6 on one crop; its
        frames are resized back and blended into ``frames`` inside that face's edit region (faces whose crops overlap
        keep each other's edits).
        """
        height, width = frames.shape[1:3]
        result = frames.copy()
        for j, speech in enumerate(tracks):
            if self.interrupt:
                break
            self._dub_pass = (j, len(tracks))
            face = track.select(slice(None), [j])
            box = face_crop_box(face.faces[:, 0], face_crop, height, width)
            if box is None:
                continue
            x0, y0, side = box
            crop = resize_uint8(frames[:, y0 : y0 + side, x0 : x0 + side], size, size)
            local = face.cropped(x0, y0, side, side).scaled(size, size)
            edited = resize_uint8(
                np.asarray(call(crop, speech, mouths=local, height=size, width=size).frames), side, side
            )
            pasted = result.copy()
            pasted[:, y0 : y0 + side, x0 : x0 + side] = edited
            result = blend(result, pasted, edit_mask(face, extent))
        self._dub_pass = (0, 1)
        return result

    @property
    def dub_pass(self) -> tuple[int, int]:
        """``(face, faces)`` of the running call: the face crop being dubbed and how many (``(0, 1)`` for one
        whole-frame pass), so that step callbacks can report progress over all of them."""
        return getattr(self, "_dub_pass", (0, 1))
