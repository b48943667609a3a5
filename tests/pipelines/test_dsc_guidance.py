from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from talkgen.pipelines.dsc_guidance import (
    DSCFGConfig,
    ds_cfg,
    edit_sigmas,
    latent_frame_groups,
    latent_spatial_map,
    progressive_init,
    set_edit_timesteps,
    spatial_map,
    temporal_weight,
)


def test_spatial_map_matches_hand_computed_values():
    # w_peak 4, w_base 1 -> b = 0.25; centre at (1.5, 0.5) on a 2x3 grid of unit pixels (centres at +0.5), sigma 1.
    cfg = DSCFGConfig(w_peak=4.0, w_base=1.0)
    g = spatial_map(np.array([[1.5, 0.5]]), 1.0, 2, 3, cfg.base_ratio)
    assert g.shape == (1, 2, 3)
    e = math.exp(-0.5)  # d^2 = 1
    e2 = math.exp(-1.0)  # d^2 = 2
    expected = [[0.25 + 0.75 * e, 1.0, 0.25 + 0.75 * e], [0.25 + 0.75 * e2, 0.25 + 0.75 * e, 0.25 + 0.75 * e2]]
    torch.testing.assert_close(g[0], torch.tensor(expected), rtol=0, atol=1e-6)
    # w(t) G is w_peak at the mouth centre at t = T and tends to w_base far away.
    far = spatial_map(np.array([[0.5, 0.5]]), 1.0, 1, 100, cfg.base_ratio)[0, 0, -1]
    assert cfg.temporal_weight(1.0) * g[0, 0, 1] == pytest.approx(4.0)
    assert cfg.temporal_weight(1.0) * far == pytest.approx(1.0, abs=1e-6)


def test_spatial_map_no_mouth_several_mouths_and_pixel_size():
    base = 0.2
    centers = np.array([[[np.nan, np.nan]], [[0.5, 0.5]]], dtype=np.float32)
    g = spatial_map(centers, 2.0, 2, 2, base)
    assert torch.all(g[0] == base)
    assert g[1, 0, 0] == pytest.approx(1.0)
    two = spatial_map(np.array([[[0.5, 0.5], [3.5, 0.5]]]), 0.5, 1, 4, 0.0)
    assert two[0, 0, 0] == pytest.approx(1.0) and two[0, 0, 3] == pytest.approx(1.0)
    assert two[0, 0, 1] == pytest.approx(math.exp(-2.0), abs=1e-6)
    # Latent grid: 8-pixel cells evaluated at pixel 4, 12...; mouth at pixel (12, 4) -> cell (0, 1).
    lat = spatial_map(np.array([[12.0, 4.0]]), 8.0, 2, 2, 0.0, pixel_size=8.0)
    assert lat[0, 0, 1] == pytest.approx(1.0)
    assert lat[0, 1, 0] == pytest.approx(math.exp(-(64 + 64) / 128), abs=1e-6)
    empty = spatial_map(np.zeros((3, 0, 2)), 1.0, 2, 2, 0.3)
    assert empty.shape == (3, 2, 2) and torch.allclose(empty, torch.full((3, 2, 2), 0.3))


def test_latent_map_groups_frames_like_the_causal_vae():
    assert [list(g) for g in latent_frame_groups(9, 4)] == [[0], [1, 2, 3, 4], [5, 6, 7, 8]]
    centers = np.full((9, 1, 2), np.nan, dtype=np.float32)
    centers[3] = (4.0, 4.0)  # only frame 3 has a mouth -> only latent frame 1 gets a peak
    m = latent_spatial_map(centers, 8.0, 2, 2, 0.25, spatial_factor=8, temporal_factor=4)
    assert m.shape == (3, 2, 2)
    assert torch.all(m[0] == 0.25) and torch.all(m[2] == 0.25)
    assert m[1, 0, 0] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        latent_frame_groups(8, 4)


def test_temporal_weight_and_config_validation():
    assert temporal_weight(1.0, 4.0) == 4.0
    assert temporal_weight(0.25, 4.0, 1.5) == pytest.approx(4.0 * 0.125)
    assert temporal_weight(0.0, 4.0) == 0.0
    with pytest.raises(ValueError):
        temporal_weight(1.5, 4.0)
    with pytest.raises(ValueError):
        DSCFGConfig(w_peak=1.0, w_base=2.0)
    with pytest.raises(ValueError):
        DSCFGConfig(sigma_px=-1.0)


def test_ds_cfg_combination():
    gen = torch.Generator().manual_seed(0)
    va, vn = torch.randn(2, 3, 2, 2, 2, generator=gen), torch.randn(2, 3, 2, 2, 2, generator=gen)
    g = torch.rand(2, 2, 2, generator=gen)
    out = ds_cfg(va, vn, g, 3.0)
    torch.testing.assert_close(out, vn + 3.0 * g[None, None] * (va - vn))
    torch.testing.assert_close(ds_cfg(va, vn, torch.ones(2, 2, 2), 1.0), va)


def test_progressive_init_and_strength_zero():
    gen = torch.Generator().manual_seed(0)
    z, eps = torch.randn(1, 4, 3, 2, 2, generator=gen), torch.randn(1, 4, 3, 2, 2, generator=gen)
    assert progressive_init(z, eps, 0.0) is z
    torch.testing.assert_close(progressive_init(z, eps, 0.92), 0.08 * z + 0.92 * eps)
    torch.testing.assert_close(progressive_init(z, eps, 1.0), eps)
    with pytest.raises(ValueError):
        progressive_init(z, eps, 1.2)


@pytest.mark.parametrize("shift", [1.0, 3.0, 5.0])
@pytest.mark.parametrize("strength", [0.3, 0.92, 1.0])
def test_scheduler_starts_at_strength(shift, strength):
    scheduler = FlowMatchEulerDiscreteScheduler(shift=shift)
    timesteps = set_edit_timesteps(scheduler, 4, strength)
    assert len(timesteps) == 4
    sigmas = scheduler.sigmas.numpy()
    assert sigmas[0] == pytest.approx(strength, abs=1e-5)
    assert np.all(np.diff(sigmas) < 0) and sigmas[-1] == 0.0
    assert len(edit_sigmas(4, strength, shift)) == 4
    with pytest.raises(ValueError):
        edit_sigmas(4, 0.0)
