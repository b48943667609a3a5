import numpy as np
import pytest
import torch

from talkgen.audio.features import align_to_fps, log_mel


def test_50hz_to_25fps_averages_pairs():
    feats = torch.arange(20, dtype=torch.float32).reshape(10, 2)
    out = align_to_fps(feats, feature_rate=50, fps=25)
    assert out.shape == (5, 2)
    np.testing.assert_allclose(out[:, 0], [1, 5, 9, 13, 17])


def test_features_on_another_device_stay_there():
    # A GPU user's speech features live on the GPU; the frame edges must be made beside them. The meta device has
    # no data, so this runs on any machine and fails the same way a CUDA tensor would beside a CPU one.
    out = align_to_fps(torch.zeros(10, 2, device="meta"), feature_rate=50, fps=25)
    assert out.device.type == "meta" and out.shape == (5, 2)


def test_100hz_to_24fps_is_area_weighted():
    feats = torch.arange(200, dtype=torch.float64).reshape(200, 1)  # 2 s
    out = align_to_fps(feats, feature_rate=100, fps=24)
    assert out.shape == (48, 1)
    # brute force: sample the piecewise-constant signal (value k on [k/100, (k+1)/100)) finely over each span
    fine = np.floor((np.arange(2 * 240_000) + 0.5) / 240_000 * 100)
    expected = fine.reshape(48, -1).mean(axis=1)
    np.testing.assert_allclose(out[:, 0].numpy(), expected, atol=1e-3)
    # exact check of frame 0: features 0..3 fully and 1/6 of feature 4
    assert out[0, 0].item() == pytest.approx((0 + 1 + 2 + 3 + 4 / 6) / (100 / 24))


def test_upsample_to_16fps_and_constant_signal():
    feats = torch.ones(3, 7, 4) * torch.arange(4.0)
    out = align_to_fps(feats, feature_rate=10, fps=16)
    assert out.shape == (3, 11, 4)  # 0.7 s at 16 fps -> 11.2 -> 11 frames
    torch.testing.assert_close(out, torch.ones(3, 11, 4) * torch.arange(4.0))


def test_num_frames_pads_with_last_feature():
    feats = torch.tensor([[1.0], [3.0]])
    out = align_to_fps(feats, feature_rate=25, fps=25, num_frames=4)
    np.testing.assert_allclose(out[:, 0], [1, 3, 3, 3])


def test_bad_inputs():
    with pytest.raises(ValueError):
        align_to_fps(torch.zeros(0, 3), 50, 25)
    with pytest.raises(ValueError):
        align_to_fps(torch.zeros(4, 3), 50, 0)
    with pytest.raises(ValueError, match="16 kHz"):
        log_mel(np.zeros(16000, np.float32), sample_rate=22050)


def test_log_mel_is_100hz_whisper_front_end():
    t = np.arange(32000) / 16000
    wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    mel = log_mel(wave)
    assert mel.shape == (80, 200)
    loud = log_mel(wave)[:, 50]
    quiet = log_mel(np.zeros_like(wave))[:, 50]
    assert loud.max() > quiet.max()


@pytest.mark.parametrize(
    "n_mels, bins, expected, mean",
    [
        (80, [9, 10, 11, 12, 43, 44], [1.04847, 1.23781, 1.32728, 1.1826, 0.73414, 0.89194], -0.50618),
        (128, [16, 17, 18, 19, 20, 70], [1.23358, 1.22657, 1.37443, 1.16432, 1.17647, 0.88481], -0.49056),
    ],
)
def test_log_mel_matches_whispers_own_front_end(n_mels, bins, expected, mean):
    # Reference: openai-whisper 20250625's log_mel_spectrogram of this signal (frame 50: its six strongest bins, at
    # 440 and 2000 Hz, and the mean of every bin), the features the shipped audio encoder was trained on.
    t = np.arange(16000) / 16000
    wave = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * np.sin(2 * np.pi * 2000 * t)).astype(np.float32)
    mel = log_mel(wave, n_mels=n_mels)
    assert mel.shape == (n_mels, 100)
    assert sorted(torch.topk(mel[:, 50], 6).indices.tolist()) == bins
    torch.testing.assert_close(mel[bins, 50], torch.tensor(expected), rtol=0, atol=2e-5)
    assert abs(float(mel.mean()) - mean) < 2e-5
    assert torch.equal(log_mel(np.zeros(16000, np.float32)), torch.full((80, 100), -1.5))  # log10(1e-10) scaled


def test_log_mel_of_a_few_samples_is_short_not_an_error():
    assert log_mel(np.zeros(100, np.float32)).shape == (80, 0)
    assert log_mel(np.full(180, 0.1, np.float32)).shape == (80, 1)  # too short for the STFT's padding
