"""Speech -> mouth opening: a read-out of the built-in audio encoder's features.

The built-in audio encoder was pretrained to carry the synthetic world's per-frame mouth parameters linearly in its
features; this head reads the jaw opening of each video frame from the features of that frame and ``context``
frames either side: with ``hidden=0`` a linear map (a ridge regression, fitted in closed form), otherwise one hidden
layer of that width (fitted by gradient descent; both by :func:`talkgen.training.mouth_head.fit_mouth_head`).
Dubbing uses it to re-time the footage's own mouths to the new speech before the diffusion pass
(:mod:`talkgen.pipelines.retime`).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin


class SpeechMouthHead(ModelMixin, ConfigMixin):
    """Jaw opening per video frame from (B, S, T, feature_dim) speech features.

    Args:
        feature_dim: channels of the audio encoder's features. context: frames of features either side of a frame
            that its opening is read from. hidden: width of the hidden layer (GELU), 0 for a linear read-out.
    """

    @register_to_config
    def __init__(self, feature_dim: int = 256, context: int = 6, hidden: int = 0) -> None:
        super().__init__()
        if feature_dim < 1 or context < 0 or hidden < 0:
            raise ValueError(
                f"feature_dim must be >= 1, context and hidden >= 0, got {feature_dim}, {context}, {hidden}"
            )
        width = (2 * context + 1) * feature_dim
        self.inner = nn.Sequential(nn.Linear(width, hidden), nn.GELU()) if hidden else nn.Identity()
        self.proj = nn.Linear(hidden or width, 1)

    def windows(self, features: torch.Tensor) -> torch.Tensor:
        """(..., T, D) -> (..., T, (2 context + 1) D): the features of frames t - context .. t + context, earliest
        first (zeros past the ends)."""
        c = self.config.context
        padded = F.pad(features, (0, 0, c, c))
        length = features.shape[-2]
        return torch.cat([padded[..., k : k + length, :] for k in range(2 * c + 1)], dim=-1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, S, T, D) features -> (B, S, T) jaw opening (the world's jaw parameter, 0 closed to 1 open)."""
        if features.shape[-1] != self.config.feature_dim:
            raise ValueError(f"features have {features.shape[-1]} channels, the head reads {self.config.feature_dim}")
        return self.proj(self.inner(self.windows(features.to(self.proj.weight.dtype))))[..., 0]
