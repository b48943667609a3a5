from __future__ import annotations

import pytest
import torch

from talkgen.pipelines.guidance import GuidanceConfig, guidance_coefficients, multi_condition_cfg, needed_passes


def _preds() -> dict[str, torch.Tensor]:
    return {"uncond": torch.full((1, 2), 1.0), "text": torch.full((1, 2), 3.0), "text_audio": torch.full((1, 2), 7.0)}


def test_multi_condition_cfg_hand_computed():
    # 1 + 2 (3 - 1) + 0.5 (7 - 3) = 7
    assert torch.equal(multi_condition_cfg(_preds(), 2.0, 0.5), torch.full((1, 2), 7.0))
    # 1 + 5 (3 - 1) + 4 (7 - 3) = 27
    assert torch.equal(multi_condition_cfg(_preds(), 5.0, 4.0), torch.full((1, 2), 27.0))
    # no guidance: the fully conditional prediction
    assert torch.equal(multi_condition_cfg(_preds(), 1.0, 1.0), torch.full((1, 2), 7.0))


def test_coefficients_sum_to_one_and_zero_terms_skip_passes():
    assert guidance_coefficients(5.0, 4.0) == {"uncond": -4.0, "text": 1.0, "text_audio": 4.0}
    assert needed_passes(5.0, 4.0) == ("uncond", "text", "text_audio")
    assert needed_passes(5.0, 0.0) == ("uncond", "text")  # audio term off
    assert needed_passes(0.0, 0.0) == ("uncond",)  # both terms off
    assert needed_passes(1.0, 3.0) == ("text", "text_audio")  # text guidance off
    assert needed_passes(1.0, 1.0) == ("text_audio",)
    assert needed_passes(2.0, 2.0) == ("uncond", "text_audio")


def test_switched_off_term_ignores_its_pass():
    preds = _preds()
    del preds["text_audio"]
    # audio off: 1 + 3 (3 - 1) = 7, the audio pass is not needed
    assert torch.equal(multi_condition_cfg(preds, 3.0, 0.0), torch.full((1, 2), 7.0))
    with pytest.raises(ValueError, match="text_audio"):
        multi_condition_cfg(preds, 3.0, 1.0)


def test_schedule_is_text_dominant_early():
    config = GuidanceConfig(
        text_scale=5.0, audio_scale=4.0, early_text_scale=7.5, early_audio_scale=0.0, switch_sigma=0.98
    )
    assert config.scales(1.0) == (7.5, 0.0)
    assert config.scales(0.99) == (7.5, 0.0)
    assert config.scales(0.98) == (5.0, 4.0)
    assert config.scales(0.1) == (5.0, 4.0)
    assert config.passes(0.99) == ("uncond", "text")
    assert config.passes(0.5) == ("uncond", "text", "text_audio")
    assert GuidanceConfig.constant(3.0, 2.0).scales(1.0) == (3.0, 2.0)
    assert GuidanceConfig(early_text_scale=None, early_audio_scale=None).scales(1.0) == (5.0, 4.0)


def test_config_validation():
    with pytest.raises(ValueError, match="audio_scale"):
        GuidanceConfig(audio_scale=-1.0)
    with pytest.raises(ValueError, match="switch_sigma"):
        GuidanceConfig(switch_sigma=1.5)
    with pytest.raises(ValueError, match="finite"):
        GuidanceConfig(text_scale=float("nan"))
    with pytest.raises(ValueError, match="unknown"):
        GuidanceConfig.from_dict({"txt": 1.0})
    assert GuidanceConfig.from_dict({"text_scale": 2.0}).text_scale == 2.0
    with pytest.raises(AttributeError):
        GuidanceConfig().text_scale = 1.0  # frozen
