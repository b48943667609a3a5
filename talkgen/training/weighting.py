"""Loss weighting on the synthetic world's mouth boxes: the lips are under 4% of a frame, so they are up-weighted.

A weight map is 1 everywhere plus ``mouth_weight`` inside each character's mouth box (widened by ``margin`` of the
box size), at pixel resolution for the VAE's reconstruction loss or at latent resolution for the DiT's velocity
loss (a latent cell is marked when any of its pixels, in any of the video frames it covers, is marked). The masks
are :func:`talkgen.models.latents.mouth_mask` and :func:`~talkgen.models.latents.latent_mouth_mask` (dubbing hides
the same cells).
"""

from __future__ import annotations

import math

import torch


def weighted_mse(prediction: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean squared error with a broadcastable weight map, normalised by the weights' mean (None: plain MSE)."""
    err = (prediction.float() - target.float()).pow(2)
    if weight is None:
        return err.mean()
    weight = weight.to(err.device, err.dtype).expand_as(err)
    return (err * weight).sum() / weight.sum().clamp(min=math.ulp(1.0))
