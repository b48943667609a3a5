"""A small convolutional mouth painter: redraws the mouth inside a face's mouth box at a given jaw opening.

The video transformer's generated mouths are faint (a soft reddish smear 10-30 RGB units off the skin), so
re-timing them (:mod:`talkgen.pipelines.retime`) moves and stretches mouths that a viewer barely sees and that read
differently a pixel further up or down. The painter draws a crisp one instead, as the world draws them: from a crop
of the frame around the mouth box (the face's colours, where its lips sit) and the jaw opening the speech asks for
(the mouth head's reading, in the world's units: 0 shut, ~1 wide open) it paints the crop's mouth box, and only the
box (a feathered mask), so everything around it stays the frame's own.

Crops are ``size`` x ``size`` samples of a square ``REGION`` times the box's height about its centre. The network
is a small U-Net (two stride-2 levels) whose input is the crop and a plane holding the jaw opening; its output is the
crop's RGB, composited into the crop through the box's mask (:func:`box_mask`).

Trained by :mod:`talkgen.training.mouth_painter` on rendered world frames: each crop of a frame is painted from a
softened crop of another frame of the same face (the model's codec with its first components kept, blurred, with
noise), so the painter learns the face's colours from the crop and the mouth from the jaw alone
(``scripts/fit_mouth_painter.py``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

REGION = 1.6  # the crop's side, in mouth-box heights (the re-timing's moved region, retime.REGION_GROW)
MASK_FEATHER = 0.08  # the box mask fades over this share of the crop's side


def box_mask(size: int, region: float = REGION, feather: float = MASK_FEATHER) -> torch.Tensor:
    """(size, size) float mask of the mouth box in a crop of ``region`` box heights: 1 inside the box's central part,
    fading to 0 at its edge (the box is square in the crop: its width is scaled like its height)."""
    centre = (torch.arange(size, dtype=torch.float32) + 0.5) / size - 0.5  # crop units, -0.5..0.5
    edge = 0.5 / region
    ramp = ((edge - centre.abs()) / feather).clamp(0.0, 1.0)
    return ramp[:, None] * ramp[None, :]


def _square(boxes: torch.Tensor, region: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The crops' centres and sides ``(cx, cy, side)``, each (N,) pixels, of ``boxes`` (N, 4) ``[x0, y0, x1, y1]``."""
    boxes = boxes.float()
    return (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2, region * (boxes[:, 3] - boxes[:, 1])


def crop_grid(boxes: torch.Tensor, size: int, height: int, width: int, region: float = REGION) -> torch.Tensor:
    """Sampling grid (N, size, size, 2) for :func:`torch.nn.functional.grid_sample` of the crops about ``boxes``
    (N, 4) ``[x0, y0, x1, y1]`` pixels of ``height`` x ``width`` frames (align_corners=False coordinates)."""
    cx, cy, side = _square(boxes, region)
    steps = (torch.arange(size, dtype=torch.float32, device=boxes.device) + 0.5) / size - 0.5  # (size,)
    xs = cx[:, None] + side[:, None] * steps[None]  # pixels (N, size)
    ys = cy[:, None] + side[:, None] * steps[None]
    gx = (2 * xs / width - 1)[:, None, :].expand(-1, size, -1)
    gy = (2 * ys / height - 1)[:, :, None].expand(-1, -1, size)
    return torch.stack([gx, gy], dim=-1)


class MouthPainterNet(ModelMixin, ConfigMixin):
    """(crop, jaw) -> the crop with its mouth box repainted (see the module docstring).

    Args:
        size: crop side in samples. width: channels of the first level (the deeper levels have 2x and 3x).
        region: crop side in mouth-box heights.
    """

    @register_to_config
    def __init__(self, size: int = 32, width: int = 32, region: float = REGION) -> None:
        super().__init__()
        if size % 4 or size < 8:
            raise ValueError(f"size must be a multiple of 4 and >= 8, got {size}")
        w = width

        def block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(8, cout), nn.SiLU())

        self.enc1 = nn.Sequential(block(4, w), block(w, w))
        self.enc2 = nn.Sequential(block(w, 2 * w, 2), block(2 * w, 2 * w))
        self.mid = nn.Sequential(block(2 * w + 1, 3 * w, 2), block(3 * w, 3 * w), block(3 * w, 3 * w))
        self.dec2 = nn.Sequential(block(3 * w + 2 * w, 2 * w), block(2 * w, 2 * w))
        self.dec1 = nn.Sequential(block(2 * w + w, w), block(w, w))
        self.out = nn.Conv2d(w, 3, 3, padding=1)
        self.register_buffer("mask", box_mask(size, region), persistent=False)

    def draw(self, crops: torch.Tensor, jaw: torch.Tensor) -> torch.Tensor:
        """(N, 3, size, size) crops in [-1, 1] and (N,) jaw openings -> (N, 3, size, size) the painted crops in
        [-1, 1] before compositing (only their mouth box is used)."""
        dtype = self.out.weight.dtype
        x = crops.to(dtype)
        n, _, size, _ = x.shape
        plane = jaw.to(dtype).reshape(n, 1, 1, 1)
        e1 = self.enc1(torch.cat([x, plane.expand(n, 1, size, size)], dim=1))
        e2 = self.enc2(e1)
        m = self.mid(torch.cat([e2, plane.expand(n, 1, *e2.shape[-2:])], dim=1))
        d2 = self.dec2(torch.cat([F.interpolate(m, size=e2.shape[-2:], mode="nearest"), e2], dim=1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, size=e1.shape[-2:], mode="nearest"), e1], dim=1))
        return torch.tanh(self.out(d1)).float()

    def forward(self, crops: torch.Tensor, jaw: torch.Tensor) -> torch.Tensor:
        """(N, 3, size, size) crops in [-1, 1] and (N,) jaw openings -> (N, 3, size, size) painted crops in [-1, 1]
        (the input outside the mouth box, blended through :func:`box_mask` at its edge)."""
        return self.mask * self.draw(crops, jaw) + (1 - self.mask) * crops.float()

    @torch.no_grad()
    def paint(self, frames: np.ndarray, boxes: np.ndarray, jaw: np.ndarray, batch: int = 256) -> np.ndarray:
        """``frames`` (uint8 (T, H, W, 3)) with one face's mouth repainted at each frame's ``jaw`` (T,) opening inside
        its box (``boxes`` (T, 4) pixels; frames whose box or jaw is not finite are unchanged), each from its own
        crop. Returns a copy."""
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames must be (T, H, W, 3), got {frames.shape}")
        boxes = np.asarray(boxes, dtype=np.float32).reshape(len(frames), 4)
        jaw = np.asarray(jaw, dtype=np.float32).reshape(len(frames))
        out = np.array(frames, copy=True)
        todo = np.flatnonzero(np.isfinite(boxes).all(axis=1) & np.isfinite(jaw) & (boxes[:, 3] > boxes[:, 1]))
        for start in range(0, len(todo), batch):
            rows = todo[start : start + batch]
            image = torch.from_numpy(frames[rows]).to(self.device).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
            box = torch.from_numpy(boxes[rows]).to(self.device)
            grid = crop_grid(box, self.config.size, *frames.shape[1:3], self.config.region)
            crops = F.grid_sample(image, grid, align_corners=False)
            drawn = self.draw(crops, torch.from_numpy(jaw[rows]).to(self.device))
            mask = self.mask.expand(len(rows), 1, -1, -1)
            layer = _paste(torch.cat([drawn * mask, mask], dim=1), box, *frames.shape[1:3], self.config.region)
            frame = image * (1 - layer[:, 3:]) + layer[:, :3]  # the box's feathered mask over the frame
            out[rows] = ((frame.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        return out


def _paste(layer: torch.Tensor, boxes: torch.Tensor, height: int, width: int, region: float) -> torch.Tensor:
    """Crop-space ``layer`` (N, C, s, s) sampled back onto (N, C, height, width) frames about ``boxes`` (N, 4)
    (zeros outside each crop)."""
    n = len(boxes)
    cx, cy, side = _square(boxes, region)
    px = torch.arange(width, dtype=torch.float32, device=boxes.device) + 0.5
    py = torch.arange(height, dtype=torch.float32, device=boxes.device) + 0.5
    gx = (2 * (px[None] - cx[:, None]) / side[:, None])[:, None, :].expand(n, height, width)  # the crop's -1..1
    gy = (2 * (py[None] - cy[:, None]) / side[:, None])[:, :, None].expand(n, height, width)
    return F.grid_sample(layer, torch.stack([gx, gy], dim=-1), align_corners=False, padding_mode="zeros")
