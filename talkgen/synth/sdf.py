"""Anti-aliased signed-distance drawing on a batched canvas.

A canvas is a float tensor ``(T, 3, H, W)`` in [0, 1]. A :class:`Frame2D` holds per-frame placement of a local
coordinate system (pixels per unit, rotation, origin), each ``(T,)``. A shape is drawn by evaluating its signed
distance (local units, negative inside) over the union over frames of its pixel bounding box only, then blending
its colour with coverage ``clamp(0.5 - d * scale, 0, 1)`` (one pixel of anti-aliasing). All frames of a clip go
through the same few tensor ops per shape; bounding boxes come from numpy so no device sync is needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

Sdf = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Frame2D:
    """Per-frame placement of local coordinates: pixel = origin + scale * R(angle) @ (u, v); v points down.

    ``cx, cy, scale, angle`` are numpy float arrays of shape (T,); torch copies live on ``device``.
    """

    cx: np.ndarray
    cy: np.ndarray
    scale: np.ndarray
    angle: np.ndarray
    device: torch.device

    def __post_init__(self) -> None:
        t = len(self.cx)
        for name in ("cy", "scale", "angle"):
            if len(getattr(self, name)) != t:
                raise ValueError(f"Frame2D.{name} has {len(getattr(self, name))} frames, cx has {t}")
        c, s = np.cos(self.angle), np.sin(self.angle)
        self._cos, self._sin = c, s

        def dev(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.asarray(a, dtype=np.float32), device=self.device).view(-1, 1, 1)

        self.t_cx, self.t_cy, self.t_scale = dev(self.cx), dev(self.cy), dev(self.scale)
        self.t_cos_s, self.t_sin_s = dev(c / self.scale), dev(s / self.scale)

    @property
    def num_frames(self) -> int:
        return len(self.cx)

    def to_pixels(self, u: float, v: float) -> tuple[np.ndarray, np.ndarray]:
        """Pixel position (x, y), each (T,), of the local point (u, v)."""
        x = self.cx + self.scale * (self._cos * u - self._sin * v)
        y = self.cy + self.scale * (self._sin * u + self._cos * v)
        return x, y

    def pixel_boxes(self, box: tuple[float, float, float, float]) -> np.ndarray:
        """Per-frame pixel bounds (T, 4) ``[x0, y0, x1, y1]`` of the local box ``(u0, v0, u1, v1)``."""
        u0, v0, u1, v1 = box
        x, y = self.to_pixels((u0 + u1) / 2, (v0 + v1) / 2)
        hu, hv = (u1 - u0) / 2, (v1 - v0) / 2
        ac, as_ = np.abs(self._cos), np.abs(self._sin)
        ex = self.scale * (ac * hu + as_ * hv)
        ey = self.scale * (as_ * hu + ac * hv)
        return np.stack([x - ex, y - ey, x + ex, y + ey], axis=1)


class Canvas:
    """A batch of frames ``(T, 3, H, W)`` float32 in [0, 1] with shape drawing restricted to bounding boxes."""

    def __init__(self, background: torch.Tensor, num_frames: int) -> None:
        """``background``: (3, H, W) float in [0, 1]; it is copied into every frame."""
        if background.ndim != 3 or background.shape[0] != 3:
            raise ValueError(f"background must be (3, H, W), got {tuple(background.shape)}")
        self.height, self.width = int(background.shape[1]), int(background.shape[2])
        self.device = background.device
        self.pixels = background.unsqueeze(0).expand(num_frames, -1, -1, -1).contiguous()
        self._xs = torch.arange(self.width, device=self.device, dtype=torch.float32) + 0.5
        self._ys = torch.arange(self.height, device=self.device, dtype=torch.float32) + 0.5

    def crop(self, frame: Frame2D, box: tuple[float, float, float, float]) -> tuple[int, int, int, int] | None:
        """Integer pixel crop ``(x0, y0, x1, y1)`` covering the local box in every frame, or None if off-canvas."""
        b = frame.pixel_boxes(box)
        x0 = max(int(math.floor(b[:, 0].min())) - 1, 0)
        y0 = max(int(math.floor(b[:, 1].min())) - 1, 0)
        x1 = min(int(math.ceil(b[:, 2].max())) + 1, self.width)
        y1 = min(int(math.ceil(b[:, 3].max())) + 1, self.height)
        if x1 <= x0 or y1 <= y0:
            return None
        return x0, y0, x1, y1

    def local_grid(self, frame: Frame2D, crop: tuple[int, int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Local coordinates (u, v), each (T, h, w), of the pixel centres inside ``crop``."""
        x0, y0, x1, y1 = crop
        dx = self._xs[x0:x1].view(1, 1, -1) - frame.t_cx  # (T, 1, w)
        dy = self._ys[y0:y1].view(1, -1, 1) - frame.t_cy  # (T, h, 1)
        u = dx * frame.t_cos_s + dy * frame.t_sin_s
        v = dy * frame.t_cos_s - dx * frame.t_sin_s
        return u, v

    def draw(
        self,
        frame: Frame2D,
        box: tuple[float, float, float, float],
        sdf: Sdf,
        color: torch.Tensor | tuple[float, float, float],
        opacity: float = 1.0,
    ) -> None:
        """Blend ``color`` (3,) over the pixels where ``sdf(u, v) < 0`` (anti-aliased), within local ``box``."""
        crop = self.crop(frame, box)
        if crop is None:
            return
        u, v = self.local_grid(frame, crop)
        alpha = coverage(sdf(u, v), frame.t_scale)
        if opacity != 1.0:
            alpha = alpha * opacity
        x0, y0, x1, y1 = crop
        col = torch.as_tensor(color, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        region = self.pixels[:, :, y0:y1, x0:x1]
        region.lerp_(col.expand_as(region), alpha.unsqueeze(1))

    def to_uint8(self) -> torch.Tensor:
        """Frames as uint8 (T, H, W, 3)."""
        return (self.pixels.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def coverage(d: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Pixel coverage in [0, 1] of a shape with signed distance ``d`` (local units) at ``scale`` px/unit."""
    return (0.5 - d * scale).clamp_(0.0, 1.0)


def ellipse(
    u: torch.Tensor, v: torch.Tensor, cu: float, cv: float, a: float | torch.Tensor, b: float | torch.Tensor
) -> torch.Tensor:
    """Approximate signed distance to an axis-aligned ellipse centred (cu, cv) with half-axes (a, b).

    Uses ``k0 (k0 - 1) / k1`` with ``k0 = |p / r|``, ``k1 = |p / r^2|``, exact on the boundary; clamped by the
    bounding box so that very flat ellipses (a closed mouth) do not bleed past their ends.
    ``a``/``b`` may be per-frame tensors (T, 1, 1).
    """
    pu = (u - cu) / a
    pv = (v - cv) / b
    k0 = torch.sqrt(pu * pu + pv * pv)
    k1 = torch.sqrt((pu / a) ** 2 + (pv / b) ** 2)
    # k0 / k1 -> radius at the centre; the epsilons keep it finite there (exact centre pixels of odd sizes).
    r = torch.minimum(torch.as_tensor(a), torch.as_tensor(b))
    d = (k0 - 1.0) * ((k0 + 1e-4) / (k1 + 1e-4 / r))
    # The approximation underestimates distances beside very flat ellipses; the bounding box bounds them.
    return torch.maximum(d, torch.maximum((u - cu).abs() - a, (v - cv).abs() - b))


def circle(u: torch.Tensor, v: torch.Tensor, cu: float, cv: float, r: float) -> torch.Tensor:
    """Signed distance to a circle."""
    return torch.sqrt((u - cu) ** 2 + (v - cv) ** 2) - r


def rounded_box(
    u: torch.Tensor, v: torch.Tensor, cu: float, cv: float, hu: float, hv: float, r: float = 0.0
) -> torch.Tensor:
    """Signed distance to a box with half extents (hu, hv) and corner radius r."""
    qu = (u - cu).abs() - (hu - r)
    qv = (v - cv).abs() - (hv - r)
    outside = torch.sqrt(qu.clamp(min=0) ** 2 + qv.clamp(min=0) ** 2)
    inside = torch.maximum(qu, qv).clamp(max=0)
    return outside + inside - r


def segment(
    u: torch.Tensor, v: torch.Tensor, a: tuple[float, float], b: tuple[float, float], r: float
) -> torch.Tensor:
    """Signed distance to a capsule from point a to point b with radius r."""
    bu, bv = b[0] - a[0], b[1] - a[1]
    pu, pv = u - a[0], v - a[1]
    h = ((pu * bu + pv * bv) / (bu * bu + bv * bv + 1e-9)).clamp(0, 1)
    return torch.sqrt((pu - bu * h) ** 2 + (pv - bv * h) ** 2) - r


def intersect(*ds: torch.Tensor) -> torch.Tensor:
    """Signed distance of the intersection of shapes."""
    out = ds[0]
    for d in ds[1:]:
        out = torch.maximum(out, d)
    return out


def subtract(d: torch.Tensor, cut: torch.Tensor) -> torch.Tensor:
    """Signed distance of ``d`` minus ``cut``."""
    return torch.maximum(d, -cut)
