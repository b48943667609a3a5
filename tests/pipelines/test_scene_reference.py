"""Reference first frames from the characters' ``image:`` fields, and a tiny render that uses them."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from talkgen.errors import MediaError, ScriptError
from talkgen.pipelines.render_plan import (
    NEUTRAL_GREY,
    SceneRenderConfig,
    clip_references,
    load_reference_image,
    reference_frame,
    render_scene,
)
from talkgen.prompts import CachedTiming, estimate_timing, parse_yaml_scene, plan_scene

RED, BLUE = (255, 0, 0), (0, 0, 255)


def _png(path, colour, size=(40, 30)):
    Image.new("RGB", size, colour).save(path)
    return path


def _plan(tmp_path, ana_image=None, ben_image=None, mode="continuous", check_files=True):
    """Ana speaks first (Person1, left), Ben second; both in frame when ``mode`` is continuous."""
    ana = f"\n    image: {ana_image}" if ana_image else ""
    ben = f"\n    image: {ben_image}" if ben_image else ""
    text = (
        f"shot: {{mode: {mode}}}\ncharacters:\n  - name: Ana{ana}\n  - name: Ben{ben}\n"
        "lines:\n  - Ana: Hi.\n  - Ben: Hello.\n"
    )
    scene = parse_yaml_scene(text, str(tmp_path / "scene.yaml"), check_files=check_files)
    return plan_scene(scene, CachedTiming(estimate_timing))


def test_two_shot_puts_each_image_on_its_half(tmp_path):
    plan = _plan(tmp_path, _png(tmp_path / "red.png", RED), _png(tmp_path / "blue.jpg", BLUE))
    assert plan.clips[0].visible == ("Person1", "Person2")
    refs = clip_references(plan, 16, 32)
    assert len(refs) == len(plan.clips)
    frame = refs[0]
    assert frame.shape == (16, 32, 3) and frame.dtype == np.uint8
    np.testing.assert_array_equal(frame[:, :16], np.broadcast_to(RED, (16, 16, 3)))
    assert np.abs(frame[:, 16:].astype(int) - BLUE).max() <= 3  # JPEG


def test_close_ups_get_their_speakers_image_or_none(tmp_path):
    plan = _plan(tmp_path, _png(tmp_path / "red.png", RED), None, mode="cuts")
    refs = clip_references(plan, 16, 16)
    by_speaker = {clip.visible: ref for clip, ref in zip(plan.clips, refs, strict=True)}
    np.testing.assert_array_equal(by_speaker[("Person1",)], np.full((16, 16, 3), RED, np.uint8))
    assert by_speaker[("Person2",)] is None


def test_character_without_image_gets_a_grey_panel_in_a_two_shot(tmp_path):
    plan = _plan(tmp_path, None, _png(tmp_path / "blue.png", BLUE))
    frame = clip_references(plan, 16, 32)[0]
    np.testing.assert_array_equal(frame[:, :16], np.full((16, 16, 3), NEUTRAL_GREY, np.uint8))
    np.testing.assert_array_equal(frame[:, 16:], np.full((16, 16, 3), BLUE, np.uint8))


def test_no_image_means_no_reference(tmp_path):
    plan = _plan(tmp_path)
    assert clip_references(plan, 16, 16) == [None] * len(plan.clips)
    assert reference_frame([None, None], 16, 16) is None


def test_reference_is_cover_cropped_and_keeps_aspect():
    # 60x20: black | white | black thirds. Covering a square keeps the white middle third only.
    wide = np.zeros((20, 60, 3), np.uint8)
    wide[:, 20:40] = 255
    frame = reference_frame([Image.fromarray(wide)], 16, 16)
    assert frame[:, 2:-2].min() > 230
    # A tall image in one of three panels: scaled to the panel's width, centre rows kept.
    tall = np.zeros((90, 30, 3), np.uint8)
    tall[30:60] = 255
    frame = reference_frame([None, Image.fromarray(tall), None], 16, 48)
    assert (frame[:, :16] == NEUTRAL_GREY).all() and (frame[:, 32:] == NEUTRAL_GREY).all()
    assert frame[2:-2, 18:30].min() > 230


def test_unreadable_image_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not an image")
    with pytest.raises(MediaError, match=r"broken\.png.*\.png, \.jpg or \.webp"):
        load_reference_image(bad)
    truncated = tmp_path / "cut.png"
    _png(truncated, RED, (64, 64))
    truncated.write_bytes(truncated.read_bytes()[:60])
    with pytest.raises(MediaError, match=r"cut\.png"):
        load_reference_image(truncated)


def test_oversized_image_is_refused_before_decoding(tmp_path):
    huge = tmp_path / "huge.png"
    Image.new("1", (7000, 6000)).save(huge)  # 42 megapixels, a few kB on disk
    with pytest.raises(MediaError, match=r"huge\.png: 7000x6000 pixels .* 40 megapixels; resize it"):
        load_reference_image(huge)
    with pytest.raises(MediaError, match="more than the limit of 0.001 megapixels"):
        load_reference_image(_png(tmp_path / "small.png", RED), max_pixels=1000)


def test_render_scene_checks_images_before_any_work(tmp_path):
    bad = tmp_path / "bad.webp"
    bad.write_bytes(b"RIFF\0\0\0\0WEBPjunk")
    with pytest.raises(ScriptError, match=r"scene\.yaml:4:12: .*bad\.webp: not a readable"):
        _plan(tmp_path, bad)  # reading the script already refuses it, at its line
    plan = _plan(tmp_path, bad, check_files=False)  # a plan built without those checks: the render still checks

    class NoPipe:
        def __getattr__(self, name):
            raise AssertionError("the pipeline must not be touched")

    config = SceneRenderConfig(num_inference_steps=1, height=16, width=16)
    with pytest.raises(MediaError, match=r"bad\.webp"):
        render_scene(NoPipe(), plan, config, waves=[np.zeros(1600, np.float32)] * 2)


class _Recorder:
    """Wraps a pipeline and records the ``image`` of every call."""

    def __init__(self, pipe) -> None:
        self.pipe = pipe
        self.images: list = []

    def __getattr__(self, name):
        return getattr(self.pipe, name)

    def __call__(self, *args, **kwargs):
        self.images.append(kwargs.get("image"))
        return self.pipe(*args, **kwargs)


def test_tiny_render_with_a_reference_image(dummy_pipe, tmp_path):
    plan = _plan(tmp_path, _png(tmp_path / "red.png", RED), _png(tmp_path / "blue.png", BLUE))
    plain = _plan(tmp_path)
    config = SceneRenderConfig(seed=2, num_inference_steps=1, height=16, width=16, window_frames=25)
    waves = [np.full(round((pl.end - pl.start) * 16_000), 0.1, np.float32) for pl in plan.lines]
    recorder = _Recorder(dummy_pipe)
    with_image = render_scene(recorder, plan, config, waves=waves)
    assert with_image.frames.shape == (plan.num_frames, 16, 16, 3)
    assert len(recorder.images) == len(plan.clips) and all(im.shape == (16, 16, 3) for im in recorder.images)
    without = render_scene(dummy_pipe, plain, config, waves=waves)
    assert not np.allclose(with_image.frames, without.frames)  # the reference conditions the model
