"""The mouth painter: its mask and crops, painting only inside the box, fitting and storing it in a pipeline folder,
and how generated takes use it (faces tall enough, voiced frames only)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from talkgen.models.mouth_painter import MouthPainterNet, box_mask, crop_grid


class _Fixed(MouthPainterNet):
    """A painter that draws a given crop (None: the input crop itself)."""

    def __init__(self, value: float | None = None) -> None:
        super().__init__(size=16, width=8)
        self.value = value

    def draw(self, crops: torch.Tensor, jaw: torch.Tensor) -> torch.Tensor:
        return crops.float() if self.value is None else torch.full_like(crops, self.value)


def test_box_mask_is_one_inside_the_box_and_zero_outside_it():
    mask = box_mask(32)
    assert mask.shape == (32, 32) and mask[16, 16] == 1.0 and mask[0].max() == 0.0 and mask[:, 0].max() == 0.0
    inside = (torch.arange(32) + 0.5) / 32 - 0.5
    assert (mask[16][inside.abs() > 0.5 / 1.6] == 0).all()  # nothing beyond the box's edge


def test_crop_grid_samples_the_square_region_about_the_box():
    frame = torch.arange(64.0)[None, None, None, :].expand(1, 1, 64, 64)  # value = x
    box = torch.tensor([[20.0, 30.0, 30.0, 40.0]])  # centre (25, 35), height 10 -> region 16 px
    crop = torch.nn.functional.grid_sample(frame, crop_grid(box, 8, 64, 64), align_corners=False)
    np.testing.assert_allclose(crop[0, 0, 0].numpy(), 25 - 8 + 1 + 2 * np.arange(8) - 0.5, atol=1e-4)


def test_paint_changes_only_the_mouth_box_of_frames_with_a_box_and_a_jaw():
    ys, xs = np.mgrid[:48, :64]
    ramp = np.stack([2 * xs, 3 * ys, xs + ys], axis=-1)  # bilinear resampling reproduces a ramp
    frames = np.repeat(ramp[None], 4, axis=0).astype(np.uint8)
    boxes = np.array([[20, 10, 36, 26]] * 4, np.float32)
    boxes[2] = np.nan
    jaw = np.array([0.1, 0.5, 0.5, np.nan], np.float32)
    same = _Fixed(None).eval().paint(frames, boxes, jaw)
    assert np.abs(same.astype(int) - frames).max() <= 1  # drawing the crop itself changes (almost) nothing
    black = _Fixed(-1.0).eval().paint(frames, boxes, jaw)
    assert (black[:2, 18, 28] == 0).all()  # the box's centre painted
    np.testing.assert_array_equal(black[2:], frames[2:])  # no box; no jaw
    changed = (black != frames).any(axis=(0, 3))
    rows, cols = np.nonzero(changed)  # the box (x 20-36, y 10-26) and at most a pixel of its bilinear edge
    assert rows.min() >= 9 and rows.max() <= 27 and cols.min() >= 19 and cols.max() <= 37
    with pytest.raises(ValueError, match="T, H, W, 3"):
        _Fixed().paint(frames[0], boxes, jaw)
    with pytest.raises(ValueError, match="multiple of 4"):
        MouthPainterNet(size=30)


def test_forward_keeps_the_input_outside_the_box():
    net = MouthPainterNet(size=16, width=8).eval()
    crops = torch.rand(2, 3, 16, 16) * 2 - 1
    out = net(crops, torch.tensor([0.0, 0.7]))
    outside = net.mask == 0
    torch.testing.assert_close(out[:, :, outside], crops[:, :, outside])
    assert out.shape == crops.shape and out.abs().max() <= 1.0


def test_retime_paints_the_mouths_of_tall_faces_only_and_shuts_silent_ones():
    from talkgen.pipelines import retime

    class Recorder:
        def __init__(self) -> None:
            self.calls = []

        def paint(self, frames, boxes, jaw):
            self.calls.append(jaw.copy())
            self.boxes = boxes.copy()
            return frames

    frames = np.random.default_rng(1).integers(0, 256, (10, 96, 96, 3), dtype=np.uint8)
    tall = np.tile(np.array([30, 30, 60, 60], np.float32), (10, 1))
    short = np.tile(np.array([30, 30, 45, 45], np.float32), (10, 1))
    speech = np.zeros(16000 * 10 // 25, np.float32)
    speech[: len(speech) // 2] = np.sin(np.arange(len(speech) // 2) * 0.3)  # voiced, then silent
    jaw = np.linspace(0.1, 0.9, 10)[None]
    painter = Recorder()
    retime.retime_footage(frames, tall[:, None], jaw, [speech], 25.0, widen=retime.WIDEN, painter=painter)
    (painted,) = painter.calls
    np.testing.assert_allclose(painted[:3], jaw[0, :3])  # voiced: the jaw
    np.testing.assert_array_equal(painted[-3:], 0.0)  # silent: shut
    half = 15 * retime.PAINT_GROW  # about the located box (30-60) grown about its centre
    grown = np.tile([45 - half, 45 - half, 45 + half, 45 + half], (10, 1))
    np.testing.assert_allclose(painter.boxes, grown, atol=1e-4)
    assert retime.PAINT_GROW > 1.0
    retime.retime_footage(frames, short[:, None], jaw, [speech], 25.0, widen=retime.WIDEN, painter=painter)
    assert len(painter.calls) == 1  # a face below PAINT_MIN_HEIGHT is re-timed, not painted


def test_add_mouth_painter_writes_a_component_the_talking_pipeline_loads(tmp_path):
    from dummies import add_to_dummy_folder

    from talkgen.errors import WeightsError
    from talkgen.pipelines.loading import load_pipeline
    from talkgen.training.mouth_painter import add_mouth_painter

    folder = tmp_path / "model"
    fit, index = add_to_dummy_folder(
        folder, lambda f: add_mouth_painter(f, clips=10, steps=3, width=8, size=16), "mouth_painter"
    )
    assert fit.crops > 0 and np.isfinite(fit.l1) and -1.0 <= fit.truth_correlation <= 1.0
    assert index["mouth_painter"] == ["talkgen.models.mouth_painter", "MouthPainterNet"]
    pipe, _ = load_pipeline("talking", folder)
    assert isinstance(pipe.mouth_painter, MouthPainterNet) and pipe.mouth_painter.config.size == 16
    dub, _ = load_pipeline("lipsync", folder)
    assert dub.mouth_painter is None  # dubs re-time the footage's own mouths
    with pytest.raises(WeightsError, match="not a pipeline folder"):
        add_mouth_painter(tmp_path / "nowhere", clips=10, steps=1)
