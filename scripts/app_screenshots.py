"""Screenshots of every tab of the web app: ``python scripts/app_screenshots.py [--out samples/app]``.

Launches the app on a free loopback port, drives Debian chromium headless (playwright) through a script check,
an unknown-speaker error, a render and a dub on untrained tiny random weights (unless a model is installed) and a
sync evaluation of ``samples/synth/clip_seed7.mp4``, and writes one PNG per view. Takes about a minute on a CPU.
"""

from __future__ import annotations

import argparse
import logging
import re
import tempfile
from pathlib import Path

from app_browser import check_script, chromium, running_app  # beside this script

REPO = Path(__file__).resolve().parents[2]
SAMPLE_CLIP = REPO / "samples" / "synth" / "clip_seed7.mp4"
DEMO_SCRIPT = """title: Hello
description: a plain grey room
characters:
  - name: Mara
    description: an old woman with short grey hair
    voice: {name: en-gb, variant: f3}
lines:
  - Mara: Hello there, welcome to talkgen.
"""
logger = logging.getLogger(__name__)


def _choose(page, label: str, option: str) -> None:
    page.get_by_label(label).click()
    page.get_by_role("option", name=option, exact=True).click()


def take_screenshots(out_dir: str | Path) -> list[Path]:
    """Write ``script.png``, ``script_error.png``, ``generate.png``, ``dubbing.png``, ``evaluate.png``."""
    from playwright.sync_api import expect

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="talkgen-shots-"))
    clip = work / "clip.mp4"
    from talkgen.media import read_video, write_video

    frames, fps = read_video(SAMPLE_CLIP, max_frames=45)
    write_video(clip, frames[20:45], fps)
    written = []

    def shot(page, name: str) -> None:
        path = out / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        written.append(path)
        logger.info("wrote %s", path)

    with running_app(temp_dir=work) as url, chromium(work / "profile") as context:
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(url)
        expect(page.locator("#shot-plan textarea")).to_have_value(re.compile("scene 1/1"))
        shot(page, "script")

        text = (REPO / "samples" / "scenes" / "dialogue.yaml").read_text(encoding="utf-8")
        check_script(page, text.replace("  - Ben: It makes", "  - Bob: It makes"))
        expect(page.locator("#script-status")).to_contain_text("unknown speaker")
        shot(page, "script_error")

        check_script(page, DEMO_SCRIPT)
        expect(page.locator("#shot-plan textarea")).to_have_value(re.compile("Hello"))
        page.get_by_role("tab", name="Generate").click()
        page.get_by_label("Steps").first.fill("4")
        page.keyboard.press("Enter")
        _choose(page, "Size (pixels)", "64")
        page.locator("#generate-button").click()
        expect(page.locator("#generate-status")).to_contain_text("clip(s) in", timeout=300_000)
        expect(page.locator("#generate-files")).to_contain_text("manifest")
        shot(page, "generate")

        page.get_by_role("tab", name="Dubbing").click()
        page.locator("#dub-footage input[type=file]").set_input_files(str(clip))
        expect(page.locator("#dub-footage-status")).to_contain_text("face(s) found")
        page.locator("#dub-text textarea").fill("Good evening.")
        page.get_by_label("Steps").last.fill("4")
        page.keyboard.press("Enter")
        _choose(page, "Processing size (longer side)", "64")
        page.locator("#dub-button").click()
        expect(page.locator("#dub-status")).to_contain_text("colour drift", timeout=300_000)
        shot(page, "dubbing")

        page.get_by_role("tab", name="Evaluate").click()
        page.locator("#eval-video input[type=file]").set_input_files(str(SAMPLE_CLIP))
        page.get_by_role("button", name="Evaluate sync").click()
        expect(page.locator("#eval-status")).to_contain_text("confidence")
        shot(page, "evaluate")
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "samples" / "app"), help="folder for the PNGs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for path in take_screenshots(args.out):
        logging.getLogger(__name__).info("wrote %s", path)


if __name__ == "__main__":
    main()
