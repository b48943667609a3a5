"""The tiny preset's patch codec: exact at full rank, Wan's frame layout, fitted reconstruction, save/load."""

from __future__ import annotations

import math

import pytest
import torch

from talkgen.models.patch_codec import PatchPCAAutoencoder, load_autoencoder


def test_full_rank_codec_is_exact_and_keeps_the_causal_frame_layout():
    codec = PatchPCAAutoencoder(z_dim=4 * 3 * 8 * 8)
    video = torch.rand(2, 3, 9, 16, 24) * 2 - 1
    latents = codec.encode(video).latent_dist.mode()
    assert latents.shape == (2, 4 * 3 * 64, 3, 2, 3)  # latent 0 = frame 0, then frames 1-4 and 5-8
    torch.testing.assert_close(codec.decode(latents).sample, video, rtol=0, atol=1e-5)
    torch.testing.assert_close(codec.encode(video).latent_dist.sample(), latents)  # zero variance
    # latent 1 depends only on frames 1-4
    changed = video.clone()
    changed[:, :, 5:] = 0
    again = codec.encode(changed).latent_dist.mode()
    torch.testing.assert_close(again[:, :, :2], latents[:, :, :2])
    assert not torch.allclose(again[:, :, 2], latents[:, :, 2])
    with pytest.raises(ValueError, match="4 k \\+ 1"):
        codec.encode(torch.zeros(1, 3, 8, 16, 16))


def test_fit_finds_the_principal_components_and_reconstructs_held_out_clips(tmp_path):
    gen = torch.Generator().manual_seed(0)
    # clips that live in a 10-dimensional patch subspace (plus a little noise)
    basis = torch.randn(10, 768, generator=gen)

    def clip() -> torch.Tensor:
        patches = torch.randn(3 * 2 * 2, 10, generator=gen) @ basis * 0.05
        codec = PatchPCAAutoencoder(z_dim=768)
        groups = patches.reshape(1, 3, 2, 2, 768) + 0.001 * torch.randn(1, 3, 2, 2, 768, generator=gen)
        return codec._ungroup(groups)[0]  # (3, 9, 16, 16), frame 0 the mean of its group

    def psnr(codec, video) -> float:
        return 10 * math.log10(4 / float((codec(video[None]).sample[0] - video).pow(2).mean()))

    codec = PatchPCAAutoencoder(z_dim=12)
    held_out = clip()
    unfitted = psnr(codec, held_out)  # a random 12-dimensional basis
    stats = codec.fit([clip() for _ in range(8)])
    assert stats["explained"] > 0.9 and stats["psnr_db"] > 35  # frame 0 (a group's mean) is a little off-subspace
    assert psnr(codec, held_out) > 35 > unfitted + 10
    assert len(set(codec.config.latents_std)) == 1  # one global scale: the loss stays a pixel-space MSE
    torch.testing.assert_close(codec.components @ codec.components.T, torch.eye(12), atol=1e-4, rtol=0)
    codec.save_pretrained(tmp_path / "codec")
    loaded = load_autoencoder(tmp_path / "codec")
    assert isinstance(loaded, PatchPCAAutoencoder)
    torch.testing.assert_close(loaded.components, codec.components, rtol=0, atol=0)
    assert loaded.config.latents_std == codec.config.latents_std


def test_pipelines_read_the_codec_scale_factors():
    from talkgen.pipelines.pipeline_talking import build_tiny_pipeline

    codec = PatchPCAAutoencoder(z_dim=8)
    assert 2 ** len(codec.config.temperal_downsample) == 8 and 2 ** sum(codec.config.temperal_downsample) == 4
    assert codec.config.latents_std == [1.0] * 8
    pipe = build_tiny_pipeline(num_layers=1)
    assert isinstance(pipe.vae, PatchPCAAutoencoder)
    assert (pipe.vae_scale_factor_spatial, pipe.vae_scale_factor_temporal) == (8, 4)
    with pytest.raises(ValueError, match="temperal_downsample"):
        PatchPCAAutoencoder(z_dim=8, patch_size=4)


def test_channel_stats_give_every_principal_component_unit_variance():
    from talkgen.models.latents import normalize_latents

    gen = torch.Generator().manual_seed(1)
    scales = torch.tensor([8.0, 2.0, 0.5, 0.1])  # components of very different variance, as in rendered clips
    basis = torch.linalg.qr(torch.randn(768, 4, generator=gen))[0].T

    def clip() -> torch.Tensor:
        patches = (torch.randn(3 * 2 * 2, 4, generator=gen) * scales) @ basis
        return PatchPCAAutoencoder(z_dim=768)._ungroup(patches.reshape(1, 3, 2, 2, 768))[0]

    clips = [clip() for _ in range(64)]
    codec = PatchPCAAutoencoder(z_dim=4)
    codec.fit(clips, stats_scale="channel")
    stds = torch.tensor(codec.config.latents_std)
    assert stds.max() / stds.min() > 5  # the raw components differ widely in scale
    z = torch.cat([normalize_latents(codec, codec.encode(c[None]).latent_dist.mode()) for c in clips])
    per_channel = z.transpose(0, 1).reshape(4, -1).std(dim=1)  # over the patches the fit saw
    torch.testing.assert_close(per_channel, torch.ones(4), atol=0.05, rtol=0)
    with pytest.raises(ValueError, match="global or channel"):
        codec.fit(clips, stats_scale="pixel")
