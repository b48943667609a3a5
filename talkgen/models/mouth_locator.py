"""A small convolutional mouth finder for the synthetic cartoon world (and its generated frames).

MediaPipe's face mesh finds the world's rendered faces but almost never the model's own generated ones (6 of 60
frames of ``samples/generated/dialogue.mp4``), so scene generation could not re-time the mouths it draws. This
network finds them. It is a CenterNet-style detector at stride 8: from a frame resized to ``size`` x ``size`` it
predicts, for each 8 x 8 cell, the logit that a mouth centre lies in it, the centre's offset within the cell and the
mouth box's width and height (log, in cells). Mouth boxes follow the world's ground truth: each holds every mouth
shape the face can make (``MouthTrack.grow`` 1.0).

Trained by :mod:`talkgen.training.mouth_locator` on rendered world frames, some passed through the model's own codec
and blurred, so that the codec's and the generator's soft frames look familiar (``scripts/fit_mouth_locator.py``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

STRIDE = 8
CHANNELS = 5  # centre logit, offset x, offset y, log width, log height
THRESHOLD = 0.2  # least centre probability of a mouth: generated frames are soft and their centres score lower


class MouthLocatorNet(ModelMixin, ConfigMixin):
    """Frames -> per-cell mouth centre logits, offsets and box sizes (see the module docstring).

    Args:
        size: side the frames are resized to. width: channels of the deeper layers.
    """

    @register_to_config
    def __init__(self, size: int = 128, width: int = 64) -> None:
        super().__init__()
        if size % STRIDE:
            raise ValueError(f"size must be a multiple of {STRIDE}, got {size}")
        w = width

        def block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation), nn.GroupNorm(8, cout), nn.SiLU()
            )

        self.body = nn.Sequential(
            block(3, w // 2, 2),
            block(w // 2, w, 2),
            block(w, w, 2),
            block(w, w, 1, 2),
            block(w, w, 1, 4),
            block(w, w, 1, 2),
        )
        self.head = nn.Conv2d(w, CHANNELS, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, size, size) in [-1, 1] -> (B, 5, size / 8, size / 8)."""
        return self.head(self.body(images.to(self.head.weight.dtype))).float()

    def prepare(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 (T, H, W, 3) -> (T, 3, size, size) in [-1, 1] on the model's device."""
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device).permute(0, 3, 1, 2).float()
        size = self.config.size
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        return x.div(127.5).sub(1.0)

    @torch.no_grad()
    def detect(
        self, frames: np.ndarray, max_faces: int = 3, threshold: float = THRESHOLD, batch: int = 64
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mouth boxes of every frame, left to right.

        Args:
            frames: uint8 (T, H, W, 3) RGB.
            max_faces: most mouths kept per frame (the highest scores). threshold: least centre probability.
            batch: frames per forward pass.

        Returns:
            ``(boxes, scores)``: float32 (T, max_faces, 4) ``[x0, y0, x1, y1]`` pixels of the frames, sorted by
            centre x, NaN in unused slots; float32 (T, max_faces) probabilities (NaN likewise).
        """
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames must be (T, H, W, 3), got {frames.shape}")
        height, width = frames.shape[1:3]
        # prepared a batch at a time: a long take is never held whole as float frames
        found = [
            self.find(self.prepare(frames[s : s + batch]), max_faces, threshold) for s in range(0, len(frames), batch)
        ]
        boxes, scores = _joined(found, max_faces)
        boxes *= np.array([width, height, width, height], dtype=np.float32) / self.config.size
        return boxes, scores

    @torch.no_grad()
    def find(
        self, images: torch.Tensor, max_faces: int = 3, threshold: float = THRESHOLD, batch: int = 64
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`detect` of prepared images (N, 3, size, size) in [-1, 1]; boxes in pixels of a ``size`` frame."""
        size = self.config.size
        batches = (self(images[s : s + batch]).cpu() for s in range(0, len(images), batch))
        return _joined([decode(out, max_faces, threshold, size) for out in batches], max_faces)


def _joined(parts: list[tuple[np.ndarray, np.ndarray]], max_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """The boxes and scores of consecutive batches, joined (empty arrays for none)."""
    if not parts:
        return np.full((0, max_faces, 4), np.nan, np.float32), np.full((0, max_faces), np.nan, np.float32)
    return np.concatenate([b for b, _ in parts]), np.concatenate([s for _, s in parts])


def decode(out: torch.Tensor, max_faces: int, threshold: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(B, 5, g, g) network output -> boxes (B, max_faces, 4) in pixels of a ``size`` frame, left to right, and
    their scores (NaN where fewer mouths pass ``threshold``); a mouth is a local maximum of the centre map."""
    heat = torch.sigmoid(out[:, 0])
    peaks = heat * (heat == F.max_pool2d(heat[:, None], 3, 1, 1)[:, 0])
    g = heat.shape[-1]
    cell = size / g
    boxes = np.full((len(out), max_faces, 4), np.nan, dtype=np.float32)
    scores = np.full((len(out), max_faces), np.nan, dtype=np.float32)
    top = peaks.flatten(1).topk(min(max_faces, g * g), dim=1)
    for i in range(len(out)):
        found = []
        for score, index in zip(top.values[i].tolist(), top.indices[i].tolist(), strict=True):
            if score < threshold:
                break
            y, x = divmod(index, g)
            cx = (x + float(out[i, 1, y, x])) * cell
            cy = (y + float(out[i, 2, y, x])) * cell
            w, h = (float(torch.exp(out[i, c, y, x].clamp(-4, 4))) * cell for c in (3, 4))
            found.append((cx, [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], score))
        for k, (_, box, score) in enumerate(sorted(found)):
            boxes[i, k], scores[i, k] = box, score
    return boxes, scores


def targets(boxes: np.ndarray, size: int, sigma: float = 0.8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training targets of one frame's mouth boxes (K, 4) in pixels of a ``size`` frame (NaN rows skipped).

    Returns ``(heat, regression, mask)``: the Gaussian centre map (g, g) (1 at each centre's cell), the offsets and
    log sizes (4, g, g) at the centre cells, and where they apply (g, g) bool.
    """
    g = size // STRIDE
    heat = torch.zeros(g, g)
    reg = torch.zeros(4, g, g)
    mask = torch.zeros(g, g, dtype=torch.bool)
    ys, xs = torch.meshgrid(torch.arange(g, dtype=torch.float32), torch.arange(g, dtype=torch.float32), indexing="ij")
    for box in np.asarray(boxes, dtype=np.float32):
        if not np.isfinite(box).all() or box[2] <= box[0] or box[3] <= box[1]:
            continue
        cx, cy = (box[0] + box[2]) / 2 / STRIDE, (box[1] + box[3]) / 2 / STRIDE
        x, y = min(max(int(cx), 0), g - 1), min(max(int(cy), 0), g - 1)
        heat = torch.maximum(heat, torch.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2)))
        reg[:, y, x] = torch.tensor(
            [cx - x, cy - y, np.log((box[2] - box[0]) / STRIDE), np.log((box[3] - box[1]) / STRIDE)]
        )
        mask[y, x] = True
    return heat, reg, mask


def loss(out: torch.Tensor, heat: torch.Tensor, reg: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """CenterNet's focal loss on the centre map plus L1 on the offsets and sizes at the centre cells."""
    p = torch.sigmoid(out[:, 0]).clamp(1e-4, 1 - 1e-4)
    pos = heat >= 1.0
    focal_pos = -((1 - p) ** 2 * torch.log(p))[pos].sum()
    focal_neg = -(((1 - heat) ** 4) * p**2 * torch.log(1 - p))[~pos].sum()
    n = max(int(pos.sum()), 1)
    l1 = (out[:, 1:] - reg).abs().sum(dim=1)[mask].sum()
    return (focal_pos + focal_neg + l1) / n
