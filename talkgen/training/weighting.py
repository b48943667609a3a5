"""Loss weighting on the synthetic world's mouth boxes: the lips are under 4% of a frame, so they are up-weighted.

A weight map is 1 everywhere plus ``mouth_weight`` inside each character's mouth box (widened by ``margin`` of the
box size), at pixel resolution for the VAE's reconstruction loss or at latent resolution for the DiT's velocity
loss (a latent cell is marked when any of its pixels, in any of the video frames it covers, is marked). The masks
are :func:`talkgen.models.latents.mouth_mask` and :func:`~talkgen.models.latents.latent_mouth_mask` (dubbing hides
the same cells).
:func:`articulation_error` weighs the error along the latent directions the lips move in.
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


def articulation_error(error: torch.Tensor, cells: torch.Tensor | None, basis: torch.Tensor) -> torch.Tensor:
    """Mean squared clean-latent error along the lips' directions, over the mouth cells.

    Args:
        error: (B, C, F, h, w) predicted minus true clean latents. cells: (B, 1, F, h, w) {0, 1} mouth cells (None:
            no mouths in the batch, the term is 0). basis: (C, k) orthonormal directions.
    """
    if cells is None or cells.sum() == 0:
        return error.new_zeros(())
    along = torch.einsum("bcfhw,ck->bkfhw", error.float(), basis.to(error.device, torch.float32))
    return (along.pow(2) * cells).sum() / (cells.sum() * basis.shape[1])
