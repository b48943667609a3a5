"""The mouth locator: its training targets decode back to the boxes, detection's shapes and order, fitting and
storing it in a pipeline folder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from talkgen.models.mouth_locator import MouthLocatorNet, decode, loss, targets


def _perfect(boxes: np.ndarray, size: int) -> torch.Tensor:
    """The network output that reproduces ``targets(boxes)`` exactly (logits far from 0.5 at the centre cells)."""
    heat, reg, mask = targets(boxes, size)
    out = torch.zeros(1, 5, *heat.shape)
    out[0, 0] = torch.where(mask, 8.0, -8.0)
    out[0, 1:] = reg
    return out


def test_targets_decode_back_to_the_boxes_left_to_right():
    boxes = np.array([[70, 40, 90, 52], [10.5, 60, 30.5, 75], [np.nan] * 4], np.float32)
    found, scores = decode(_perfect(boxes, 128), 3, 0.3, 128)
    np.testing.assert_allclose(found[0, :2], boxes[[1, 0]], atol=1e-3)  # left to right
    assert np.isnan(found[0, 2]).all() and np.isnan(scores[0, 2]) and (scores[0, :2] > 0.99).all()
    none, _ = decode(_perfect(boxes[2:], 128), 3, 0.3, 128)
    assert np.isnan(none).all()


def test_the_loss_is_lowest_at_the_targets():
    boxes = np.array([[70, 40, 90, 52]], np.float32)
    heat, reg, mask = targets(boxes, 128)
    perfect = _perfect(boxes, 128)
    worse = perfect.clone()
    worse[0, 3] += 0.5  # a wider box
    value = loss(perfect, heat[None], reg[None], mask[None])
    assert value < loss(worse, heat[None], reg[None], mask[None]) and value < 0.1


def test_detect_scales_boxes_to_the_frames_and_checks_them():
    net = MouthLocatorNet(size=32, width=16).eval()
    boxes, scores = net.detect(np.zeros((3, 48, 64, 3), np.uint8), max_faces=2, threshold=0.0)
    assert boxes.shape == (3, 2, 4) and scores.shape == (3, 2)
    assert np.isfinite(boxes).all() and (boxes[..., 2] <= 64 * 4).all()  # threshold 0: every slot filled
    with pytest.raises(ValueError, match="T, H, W, 3"):
        net.detect(np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="multiple of 8"):
        MouthLocatorNet(size=30)


def test_add_mouth_locator_writes_a_component_the_talking_pipeline_loads(tmp_path):
    from dummies import add_to_dummy_folder

    from talkgen.errors import WeightsError
    from talkgen.pipelines.loading import load_pipeline
    from talkgen.training.mouth_locator import add_mouth_locator

    folder = tmp_path / "model"
    fit, index = add_to_dummy_folder(
        folder, lambda f: add_mouth_locator(f, clips=10, steps=3, width=16, drawn=0), "mouth_locator"
    )
    assert 0.0 <= fit.found <= 1.0 and fit.mouths > 0 and fit.drawn_found is None
    assert index["mouth_locator"] == ["talkgen.models.mouth_locator", "MouthLocatorNet"]
    pipe, _ = load_pipeline("talking", folder)
    assert isinstance(pipe.mouth_locator, MouthLocatorNet) and pipe.mouth_locator.config.width == 16
    dub, _ = load_pipeline("lipsync", folder)
    assert dub.mouth_locator is None  # dubbing finds mouths with its own locators
    with pytest.raises(WeightsError, match="not a pipeline folder"):
        add_mouth_locator(tmp_path / "nowhere", clips=10, steps=1)
