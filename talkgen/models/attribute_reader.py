"""A small convolutional reader of a character's colours (skin, shirt, hair, hat) from one frame.

The keyframe transformer draws a take's first frame from the prompt, and one draw in ten paints a part in a
neighbouring colour (a tan skin read as brown, a red hat as orange). This network reads which of the colours the
prompt can name each part has, so that scene generation can draw a few first frames and keep the one that reads most
like its prompt (:mod:`talkgen.pipelines.keyframe`). It sees a frame resized to ``size`` x ``size``: five
convolutions, then the mean and the maximum of each channel over the frame, then one linear layer with a softmax
head per part. Hair and hat heads have one class more, ``none`` (bald; no hat).

Its vocabulary (``skin_tones``, ``colours``) is config, so a folder says which words it reads. Trained by
:mod:`talkgen.training.attribute_reader` on single-character stills of the synthetic world passed through the
model's own codec and softened (``scripts/fit_attribute_reader.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

PARTS = ("skin", "shirt", "hair", "hat")
NONE = "none"  # the hair and hat heads' extra class: bald, no hat


class AttributeReaderNet(ModelMixin, ConfigMixin):
    """Frames -> logits over each part's colour names (see the module docstring).

    Args:
        skin_tones: names the skin head reads. colours: names the shirt, hair and hat heads read (hair and hat
            also read ``none``). size: side the frames are resized to. width: channels of the convolutions.
    """

    @register_to_config
    def __init__(
        self, skin_tones: list[str] | None = None, colours: list[str] | None = None, size: int = 64, width: int = 48
    ) -> None:
        super().__init__()
        if not skin_tones or not colours:
            raise ValueError("an attribute reader needs its skin_tones and colours (the words it reads)")
        if size % 4 or size < 16:
            raise ValueError(f"size must be a multiple of 4 and >= 16, got {size}")
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1), nn.GELU(),
            nn.Conv2d(w, w, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(w, w, 3, padding=1), nn.GELU(),
            nn.Conv2d(w, w, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(w, w, 3, padding=1), nn.GELU(),
        )  # fmt: skip
        self.head = nn.Linear(2 * w, sum(len(v) for v in self.vocabulary().values()))

    def vocabulary(self) -> dict[str, list[str]]:
        """Each part's class names, in head order."""
        colours = list(self.config.colours)
        return {
            "skin": list(self.config.skin_tones),
            "shirt": colours,
            "hair": [*colours, NONE],
            "hat": [*colours, NONE],
        }

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> (B, 3, size, size) on the model's device (area-resized)."""
        x = images.to(self.device, self.head.weight.dtype)
        size = self.config.size
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="area")
        return x

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, size, size) in [-1, 1] -> (B, K) logits, the parts' heads concatenated (:meth:`vocabulary`)."""
        h = self.body(images.to(self.head.weight.dtype))
        return self.head(torch.cat([h.mean((2, 3)), h.amax((2, 3))], dim=1)).float()

    def log_probs(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 3, H, W) in [-1, 1] -> {part: (B, classes) log-probabilities}."""
        sizes = [len(v) for v in self.vocabulary().values()]
        logits = self(self.prepare(images)).split(sizes, dim=1)
        return {part: F.log_softmax(x, dim=1) for part, x in zip(PARTS, logits, strict=True)}

    @torch.no_grad()
    def agreement(self, images: torch.Tensor, wanted: dict[str, str]) -> torch.Tensor:
        """(B,) log-probability that each of ``images`` (B, 3, H, W) in [-1, 1] shows every part as ``wanted``
        says (``{part: name}``, names from :meth:`vocabulary`; parts it does not name are not read)."""
        vocabulary = self.vocabulary()
        unknown = [f"{p} {n}" for p, n in wanted.items() if p not in vocabulary or n not in vocabulary[p]]
        if unknown:
            raise ValueError(f"the attribute reader does not know {', '.join(unknown)}")
        scores = torch.zeros(images.shape[0])
        if not wanted:
            return scores
        for part, table in self.log_probs(images).items():
            if part in wanted:
                scores += table[:, vocabulary[part].index(wanted[part])].cpu()
        return scores
