"""The app in a real browser: Debian chromium (/usr/bin/chromium) headless, driven by playwright."""

from __future__ import annotations

import re

import pytest
from app_browser import CHROMIUM, check_script

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]
PLAY = """async v => { v.muted = true; await v.play(); await new Promise(r => setTimeout(r, 500));
  return {time: v.currentTime, duration: v.duration, error: v.error && v.error.code, tracks: v.textTracks.length}; }"""


@pytest.fixture(scope="module")
def page(app_url, tmp_path_factory):
    pytest.importorskip("playwright")
    from app_browser import chromium

    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(app_url)
        yield page


def _expect():
    from playwright.sync_api import expect

    return expect


def test_page_loads_with_a_sample_and_its_shot_plan(page):
    expect = _expect()
    expect(page.get_by_role("tab", name="Script")).to_be_visible()
    expect(page.locator("#shot-plan textarea")).to_have_value(re.compile(r"^scene 1/1: Coffee break"))
    expect(page.locator("#script-status")).to_contain_text("ok: 1 scene(s), 4 clip(s)")


def test_unknown_speaker_error_shows_its_line_in_the_page(page, bad_script):
    text, line = bad_script
    check_script(page, text)
    status = page.locator("#script-status")
    _expect()(status).to_contain_text(f"Line {line}, column 5: unknown speaker 'Bob'")
    assert "declare it under `characters:`" in status.inner_text()
    assert re.search(rf">\s*{line} \|\s+- Bob: It makes a sound", status.locator("pre").inner_text())


def test_attach_a_reference_image_to_a_character(page, short_script, tmp_path):
    from PIL import Image

    expect = _expect()
    image = tmp_path / "mara.png"
    Image.new("RGB", (48, 64), (200, 40, 40)).save(image)
    check_script(page, short_script)
    expect(page.locator("#shot-plan textarea")).to_have_value(re.compile(r"scene 1/1: Hello"))
    page.locator("#character-image input[type=file]").set_input_files(str(image))
    expect(page.locator("#character-image")).to_contain_text(re.compile(r"mara\s*\.png"))  # name, extension: two spans
    page.locator("#attach-image").click()
    expect(page.locator("#attach-status")).to_contain_text("reference image attached to Mara")
    expect(page.locator(".cm-content").first).to_contain_text(re.compile(r'image: ".*/image-[0-9a-f]+\.png"'))
    expect(page.locator("#characters")).to_contain_text(re.compile(r"image-[0-9a-f]+\.png"))
    expect(page.locator("#script-status")).to_contain_text("ok: 1 scene(s)")


def test_oversized_upload_is_refused(page, oversized_file):
    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#eval-video input[type=file]").set_input_files(str(oversized_file))
    _expect()(page.get_by_text(re.compile(r"exceed the maximum allowed size of 1(\.0)? Mb"))).to_be_visible()
    assert page.locator("#eval-video video").count() == 0


def test_generate_a_sample_scene_on_tiny_weights_and_play_it(page, short_script):
    expect = _expect()
    check_script(page, short_script)
    expect(page.locator("#shot-plan textarea")).to_have_value(re.compile(r"scene 1/1: Hello"))
    page.get_by_role("tab", name="Generate").click()
    untrained = page.get_by_label("Untrained random weights (for testing)").first
    untrained.check()  # checked by default only where no model is installed; the untrained run is the fast one
    expect(untrained).to_be_checked()
    page.get_by_label("Steps").first.fill("1")
    page.keyboard.press("Enter")
    page.get_by_label("Size (pixels)").click()
    page.get_by_role("option", name="32", exact=True).click()
    page.locator("#generate-button").click()
    expect(page.locator("#generate-status")).to_contain_text("untrained random weights", timeout=90_000)
    played = page.locator("#generate-video video").evaluate(PLAY)
    assert played["error"] is None and played["time"] > 0 and played["duration"] > 1.0, played
    assert played["tracks"] == 1  # the subtitles
    expect(page.locator("#generate-files")).to_contain_text("manifest")


def test_upload_a_short_clip_and_dub_it(page, short_clip):
    expect = _expect()
    page.get_by_role("tab", name="Dubbing").click()
    page.get_by_label("Untrained random weights (for testing)").last.check()
    page.locator("#dub-footage input[type=file]").set_input_files(str(short_clip))
    expect(page.locator("#dub-footage-status")).to_contain_text("face(s) found", timeout=60_000)
    page.locator("#dub-text textarea").fill("Hi.")
    page.get_by_label("Steps").last.fill("1")
    page.keyboard.press("Enter")
    page.get_by_label("Processing size (longer side)").click()
    page.get_by_role("option", name="32", exact=True).click()
    page.locator("#dub-button").click()
    expect(page.locator("#dub-status")).to_contain_text("untrained random weights", timeout=90_000)
    assert "mouth edited on 0 " not in page.locator("#dub-status").inner_text()
    played = page.locator("#dub-after video").evaluate(PLAY)
    assert played["error"] is None and played["time"] > 0, played
