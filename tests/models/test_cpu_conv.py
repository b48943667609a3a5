"""Batch-1 CPU Conv3d through oneDNN (talkgen.models.cpu_conv): same numbers as the plain path, scoped, fallbacks."""

from __future__ import annotations

import threading
from contextlib import nullcontext

import pytest
import torch
from diffusers import AutoencoderKLWan

from talkgen.models.cpu_conv import OneDNNConv3dMode, fast_cpu_conv3d, takes_onednn_path

TINY_VAE = {
    "base_dim": 8,
    "z_dim": 4,
    "dim_mult": [1, 2, 2, 2],
    "num_res_blocks": 1,
    "attn_scales": [],
    "temperal_downsample": [False, True, True],
    "latents_mean": [0.0] * 4,
    "latents_std": [1.0] * 4,
}


@pytest.fixture(scope="module")
def tiny_vae() -> AutoencoderKLWan:
    torch.manual_seed(0)
    return AutoencoderKLWan(**TINY_VAE).eval()


@pytest.fixture
def video() -> torch.Tensor:
    """(1, 3, 9, 16, 16) pixels in [-1, 1]: 9 frames at 16x16."""
    return torch.rand(1, 3, 9, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1


@pytest.fixture
def latents() -> torch.Tensor:
    """(1, 4, 3, 2, 2) latents of 9 frames at 16x16."""
    return torch.randn(1, 4, 3, 2, 2, generator=torch.Generator().manual_seed(2))


def _assert_close(fast: torch.Tensor, plain: torch.Tensor) -> None:
    assert fast.shape == plain.shape and fast.dtype == plain.dtype
    assert (fast - plain).abs().max() <= 1e-4 * plain.abs().max().clamp_min(1.0)


@torch.no_grad()
def test_decode_matches_plain_path_and_uses_onednn(tiny_vae, latents):
    plain = tiny_vae.decode(latents, return_dict=False)[0]
    with fast_cpu_conv3d() as mode:
        fast = tiny_vae.decode(latents, return_dict=False)[0]
    assert isinstance(mode, OneDNNConv3dMode)
    assert mode.fast_calls > 0
    _assert_close(fast, plain)


@torch.no_grad()
def test_encode_matches_plain_path_and_uses_onednn(tiny_vae, video):
    plain = tiny_vae.encode(video).latent_dist.mode()
    with fast_cpu_conv3d("cpu") as mode:
        fast = tiny_vae.encode(video).latent_dist.mode()
    assert mode.fast_calls > 0
    _assert_close(fast, plain)


@torch.no_grad()
def test_rerouted_conv_matches_native_kernel():
    conv = torch.nn.Conv3d(6, 5, 3, stride=(1, 2, 2), padding=(0, 1, 1), groups=1)
    x = torch.randn(1, 6, 4, 9, 11, generator=torch.Generator().manual_seed(3))
    with fast_cpu_conv3d() as mode:
        fast = conv(x)
    assert mode.fast_calls == 1 and mode.native_calls == 0
    assert fast.is_contiguous()
    _assert_close(fast, conv(x))


@torch.no_grad()
def test_float64_and_batches_fall_back(tiny_vae, latents):
    conv = torch.nn.Conv3d(4, 4, 3)
    with fast_cpu_conv3d() as mode:
        conv(torch.randn(2, 4, 3, 6, 6))  # batch 2: ATen already picks oneDNN
        conv(torch.randn(4, 3, 6, 6))  # unbatched
        torch.nn.Conv3d(4, 4, (3, 1, 1))(torch.randn(1, 4, 3, 6, 6))  # 1x1 spatial: native is as fast
    assert mode.fast_calls == 0 and mode.native_calls == 3

    vae64 = AutoencoderKLWan(**TINY_VAE).eval().double()
    vae64.load_state_dict(tiny_vae.state_dict())
    plain = vae64.decode(latents.double(), return_dict=False)[0]
    with fast_cpu_conv3d() as mode:
        again = vae64.decode(latents.double(), return_dict=False)[0]
    assert mode.fast_calls == 0 and mode.native_calls > 0
    assert torch.equal(again, plain)


def test_autograd_falls_back_and_keeps_gradients():
    conv = torch.nn.Conv3d(3, 2, 3)
    x = torch.randn(1, 3, 3, 5, 5)
    with fast_cpu_conv3d() as mode:
        conv(x).sum().backward()
    assert mode.fast_calls == 0 and mode.native_calls == 1
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0


@pytest.mark.filterwarnings("ignore:TF32 acceleration")
def test_other_devices_and_disabled_onednn_fall_back():
    assert isinstance(fast_cpu_conv3d("cuda"), nullcontext)
    assert isinstance(fast_cpu_conv3d(torch.device("meta")), nullcontext)
    weight = torch.empty(2, 3, 3, 3, 3, device="meta")
    assert not takes_onednn_path(torch.empty(1, 3, 3, 5, 5, device="meta"), weight)
    assert takes_onednn_path(torch.empty(1, 3, 3, 5, 5), torch.empty(2, 3, 3, 3, 3))
    assert not takes_onednn_path(torch.empty(1, 3, 3, 5, 5), torch.empty(2, 3, 3, 3, 3), padding="same")
    with torch.backends.mkldnn.flags(enabled=False):
        assert not takes_onednn_path(torch.empty(1, 3, 3, 5, 5), torch.empty(2, 3, 3, 3, 3))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@torch.no_grad()
def test_cuda_input_falls_back():
    conv = torch.nn.Conv3d(3, 2, 3).cuda()
    x = torch.randn(1, 3, 3, 5, 5, device="cuda")
    with OneDNNConv3dMode() as mode:
        out = conv(x)
    assert mode.fast_calls == 0 and mode.native_calls == 1
    assert torch.equal(out, conv(x))


@torch.no_grad()
def test_mode_is_scoped_to_block_and_thread():
    conv = torch.nn.Conv3d(3, 2, 3)
    x = torch.randn(1, 3, 3, 5, 5)
    with pytest.raises(RuntimeError, match="boom"):
        with fast_cpu_conv3d() as mode:
            conv(x)
            raise RuntimeError("boom")
    conv(x)  # after the block, even one left by an exception: not seen
    assert (mode.fast_calls, mode.native_calls) == (1, 0)

    with fast_cpu_conv3d() as mode:
        worker = threading.Thread(target=conv, args=(x,))  # another thread does not see this thread's mode
        worker.start()
        worker.join()
    assert (mode.fast_calls, mode.native_calls) == (0, 0)

    with fast_cpu_conv3d() as outer:
        with fast_cpu_conv3d() as inner:
            conv(x)
        conv(x)
    assert inner.fast_calls == 1 and outer.fast_calls == 1  # the inner mode's own call does not reach the outer
