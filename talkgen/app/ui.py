"""The Gradio Blocks of the web app: widgets wired to :mod:`talkgen.app.handlers` (no model code here).

Every event has an ``api_name`` so the same functions are reachable with ``gradio_client`` (see docs/app.md).
Events that use the device (evaluation, generation, dubbing) share one queue slot (``concurrency_id="device"``);
script checks and voice previews are light and run beside them.
"""

from __future__ import annotations

import functools
import html
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from talkgen.app import handlers, jobs
from talkgen.app.settings import AppSettings
from talkgen.errors import TalkgenError
from talkgen.pipelines.defaults import DUB_STEPS, GENERATE_STEPS, KEYFRAME_STEPS
from talkgen.pipelines.generate import publish_manifest

DEFAULT_SAMPLE = "dialogue.yaml"
SCRIPT_DEFAULT_TEMPLATE = "(script default)"
CSS = """
.talkgen-error {border-left: 4px solid #d33; padding: 6px 10px; background: #fff4f4; color: #611}
.talkgen-error pre {margin: 6px 0 0 0; font-size: 13px}
.talkgen-ok {border-left: 4px solid #2a2; padding: 6px 10px; background: #f3fff3; color: #141}
"""
DEVICE = "device"
ANCHORS = ("the model's", "0", "0.25", "0.5", "0.75", "1")  # the Generate tab's reference anchors
DRAWS = ("the model's", "1", "2", "4", "8")  # and its keyframe draws


def _alert(message: str) -> str:
    return f'<div class="talkgen-error" role="alert">{html.escape(message)}</div>'


def refusals(prefix: str, outputs: Callable[[str], tuple]):
    """A handler whose :class:`TalkgenError` (a refused input, a script error) comes back as page content, not a
    server error: ``outputs(alert_html)`` gives the handler's outputs for it, the alert reading ``prefix + error``."""

    def wrap(handler):
        @functools.wraps(handler)  # gradio reads the wrapped signature (gr.Request, gr.Progress)
        def guarded(*args, **kwargs):
            try:
                return handler(*args, **kwargs)
            except TalkgenError as exc:
                return outputs(_alert(f"{prefix}{exc}"))

        return guarded

    return wrap


def _ok(message: str) -> str:
    return f'<div class="talkgen-ok">{html.escape(message)}</div>'


# ----------------------------------------------------------------------------------------------- event functions
def _uploads(results_dir: Path, request: gr.Request | None) -> Path:
    """This browser session's upload folder (scripts of this session may name its files)."""
    return handlers.session_upload_dir(results_dir, getattr(request, "session_hash", None))


def _check(text: str, fmt: str, template: str | None, results_dir: Path, request: gr.Request | None):
    tpl = None if not template or template == SCRIPT_DEFAULT_TEMPLATE else template
    return handlers.check_script(text or "", fmt or "yaml", tpl, upload_dir=_uploads(results_dir, request))


def _check_outputs(text: str, check: handlers.ScriptCheck, who: str | None = None):
    """(status HTML, plan text, plan JSON, character rows, character picker update) of a check."""
    if not check.ok:
        return handlers.error_html(text or "", check.error), "", None, [], gr.update(choices=[], value=None)
    clips = sum(len(p.clips) for p in check.plans)
    seconds = sum(p.duration for p in check.plans)
    warned = sum(len(p.warnings) for p in check.plans)
    status = _ok(f"ok: {len(check.plans)} scene(s), {clips} clip(s), {seconds:.1f} s, {warned} warning(s)")
    names = [c.name for s in check.scenes for c in s.characters]
    rows = handlers.characters_rows(check)
    picker = gr.update(choices=names, value=who if who in names else (names[0] if names else None))
    return status, handlers.plan_text(check), [p.to_dict() for p in check.plans], rows, picker


def _make_check_script(results_dir: Path):
    def check_script(text: str, fmt: str, template: str | None, request: gr.Request):
        """Editor text -> (status HTML, plan text, plan JSON, character rows, character names for the picker)."""
        return _check_outputs(text, _check(text, fmt, template, results_dir, request))

    return check_script


def _make_refresh_script(results_dir: Path):
    def refresh_script(text: str, fmt: str, template: str | None, who: str | None, line, request: gr.Request):
        """The page's own check: also refreshes the line picker and keeps the chosen character and line."""
        check = _check(text, fmt, template, results_dir, request)
        lines = handlers.line_choices(check)
        values = [value for _, value in lines]
        picked = line if line in values else (values[0] if values else None)
        return *_check_outputs(text, check, who), gr.update(choices=lines, value=picked)

    return refresh_script


def load_sample(name: str):
    """Sample file name -> (editor text, format)."""
    text, fmt = handlers.read_sample(name)
    return gr.update(value=text, language="yaml" if fmt == "yaml" else None), fmt


def _make_preview_character_voice(results_dir: Path):
    def preview_character_voice(text: str, fmt: str, name: str, request: gr.Request):
        """Speak the chosen character's first line in its voice; errors become a page message."""
        if not name:
            return None, _alert("check the script first, then pick a character")
        check = _check(text, fmt, None, results_dir, request)
        if not check.ok:
            return None, _alert(str(check.error))
        return handlers.preview_character(check, name), ""

    return refusals("", lambda alert: (None, alert))(preview_character_voice)


def _make_attach_image(results_dir: Path):
    def attach_image(text: str, fmt: str, name: str, upload: str | None, request: gr.Request):
        """Store an uploaded reference image and set the character's `image:` -> (script text, status HTML)."""
        edited = handlers.attach_image(text or "", fmt or "yaml", name, upload, _uploads(results_dir, request))
        return edited, _ok(f"reference image attached to {name}")

    return refusals("image not attached: ", lambda alert: (gr.update(), alert))(attach_image)


def _make_attach_line_audio(settings: AppSettings, results_dir: Path):
    def attach_line_audio(text: str, fmt: str, line, upload: str | None, request: gr.Request):
        """Store uploaded/recorded speech and set the line's `audio:` -> (script text, status HTML)."""
        edited = handlers.attach_line_audio(
            text or "", fmt or "yaml", line, upload, _uploads(results_dir, request), settings.media_limits
        )
        return edited, _ok(f"recorded audio attached to line {line}")

    return refusals("audio not attached: ", lambda alert: (gr.update(), alert))(attach_line_audio)


@refusals("", lambda alert: (None, alert))
def preview_voice(voice: str, text: str):
    """Speak ``text`` with any offline voice (a preset or an espeak-ng voice)."""
    return handlers.preview_voice(voice, text or handlers.PREVIEW_TEXT), ""


def _make_validate_footage(settings: AppSettings):
    def validate_footage(video: str | None):
        """Probe uploaded footage against the app's media limits: a description or a clear refusal."""
        info = handlers.validate_media(video, settings.media_limits)
        return _ok(f"footage ok: {handlers.describe_media(info)}")

    return refusals("footage refused: ", lambda alert: alert)(validate_footage)


def _make_evaluate(settings: AppSettings, results_dir: Path):
    def evaluate(video: str | None, audio: str | None):
        """Video (+ optional audio) -> (status HTML, sync report JSON, plot PNG)."""
        res = handlers.evaluate(video, audio, settings.media_limits, results_dir)
        return _ok(res.summary), res.report, str(res.plot)

    return refusals("cannot evaluate: ", lambda alert: (alert, None, None))(evaluate)


# ------------------------------------------------------------------------------------------------------- layout
def _script_tab(settings: AppSettings, samples: list[str], results_dir: Path) -> dict:
    first = DEFAULT_SAMPLE if DEFAULT_SAMPLE in samples else (samples[0] if samples else None)
    text, fmt = handlers.read_sample(first) if first else ("", "yaml")
    with gr.Row():
        sample = gr.Dropdown(samples, value=first, label="Sample scene", scale=2)
        fmt_box = gr.Radio(list(handlers.SCRIPT_FORMATS), value=fmt, label="Format", scale=1)
        template = gr.Dropdown(
            [SCRIPT_DEFAULT_TEMPLATE, *handlers.template_names()],
            value=SCRIPT_DEFAULT_TEMPLATE,
            label="Prompt template",
            scale=2,
        )
    with gr.Row():
        with gr.Column(scale=3):
            editor = gr.Code(value=text, language="yaml" if fmt == "yaml" else None, label="Script", lines=22)
            check_btn = gr.Button("Check script", variant="primary")
        with gr.Column(scale=4):
            status = gr.HTML(elem_id="script-status")
            plan = gr.Textbox(label="Shot plan", lines=18, max_lines=40, elem_id="shot-plan")
    with gr.Accordion("Characters and voices", open=True):
        characters = gr.Dataframe(
            headers=list(handlers.CHARACTER_HEADERS),
            label="Characters",
            interactive=False,
            wrap=True,
            elem_id="characters",
        )
        with gr.Row():
            # Custom values: API callers name a character or line without a check in their session first;
            # the handlers validate them against the script.
            who = gr.Dropdown([], label="Character", scale=2, elem_id="character-pick", allow_custom_value=True)
            preview_btn = gr.Button("Preview voice", scale=1)
            voice_audio = gr.Audio(label="Voice preview", type="numpy", interactive=False, scale=3)
        voice_msg = gr.HTML()
        gr.Markdown(
            "Reference image for the chosen character, and recorded speech for one line (used instead of the "
            "voice). Both are stored for this session and named in the script (YAML scripts only)."
        )
        with gr.Row():
            image_file = gr.File(
                label="Reference image (.png, .jpg, .webp)",
                file_types=list(handlers.IMAGE_SUFFIXES),
                type="filepath",
                height=140,
                scale=3,
                elem_id="character-image",
            )
            image_btn = gr.Button("Attach image to character", scale=1, elem_id="attach-image")
        with gr.Row():
            line_pick = gr.Dropdown([], label="Line", scale=2, elem_id="line-pick", allow_custom_value=True)
            line_audio = gr.Audio(
                label="Line audio (upload or record)",
                type="filepath",
                sources=["upload", "microphone"],
                scale=2,
                elem_id="line-audio",
            )
            audio_btn = gr.Button("Attach audio to line", scale=1, elem_id="attach-audio")
        attach_msg = gr.HTML(elem_id="attach-status")
        with gr.Row():
            any_voice = gr.Dropdown(handlers.voice_names(), value="en-us", label="Any voice", scale=1)
            any_text = gr.Textbox(value=handlers.PREVIEW_TEXT, label="Text", scale=3)
            any_btn = gr.Button("Speak", scale=1)
    plan_json = gr.JSON(label="Shot plan (JSON)", visible=False)

    outputs = [status, plan, plan_json, characters, who]
    inputs = [editor, fmt_box, template]
    check = _make_check_script(results_dir)
    refresh = _make_refresh_script(results_dir)
    refresh_io = ([*inputs, who, line_pick], [*outputs, line_pick])
    check_btn.click(check, inputs, outputs, api_name="check_script", concurrency_limit=4).then(
        refresh, *refresh_io, api_name=False, concurrency_limit=4
    )
    editor.change(refresh, *refresh_io, api_name=False, trigger_mode="always_last", concurrency_limit=4)
    template.change(check, inputs, outputs, api_name=False, concurrency_limit=4)
    sample.input(load_sample, [sample], [editor, fmt_box], api_name="load_sample", concurrency_limit=4).then(
        refresh, *refresh_io, api_name=False, concurrency_limit=4
    )
    preview_btn.click(
        _make_preview_character_voice(results_dir),
        [editor, fmt_box, who],
        [voice_audio, voice_msg],
        api_name="preview_character",
        concurrency_limit=2,
    )
    any_btn.click(preview_voice, [any_voice, any_text], [voice_audio, voice_msg], api_name="preview_voice")
    image_btn.click(
        _make_attach_image(results_dir),
        [editor, fmt_box, who, image_file],
        [editor, attach_msg],
        api_name="attach_image",
        concurrency_limit=2,
    )
    audio_btn.click(
        _make_attach_line_audio(settings, results_dir),
        [editor, fmt_box, line_pick, line_audio],
        [editor, attach_msg],
        api_name="attach_line_audio",
        concurrency_limit=2,
    )
    return {"inputs": refresh_io[0], "outputs": refresh_io[1], "refresh": refresh, "editor": editor, "fmt": fmt_box}


def _progress_fn(progress: gr.Progress):
    return lambda fraction, description: progress(fraction, desc=description)


def _make_generate(results_dir: Path):
    def generate(
        text: str,
        fmt: str,
        random_weights: bool,
        seed: float,
        steps: float,
        size: str,
        scene: float,
        keyframe: bool,
        retime: bool,
        anchor: str,
        keyframe_steps: float,
        keyframe_draws: str,
        request: gr.Request,
        progress=gr.Progress(track_tqdm=True),  # noqa: B008
    ):
        """Script -> (status HTML, video with subtitles, files to download, manifest JSON)."""
        try:
            from talkgen.pipelines.generate import GenerateOptions

            options = GenerateOptions(
                random_weights=bool(random_weights), seed=int(seed), steps=int(steps), size=int(size),
                scene=int(scene), keyframe=bool(keyframe), retime=bool(retime),
                reference_anchor=None if anchor in (None, ANCHORS[0]) else float(anchor),
                keyframe_steps=int(keyframe_steps),
                keyframe_draws=None if keyframe_draws in (None, DRAWS[0]) else int(keyframe_draws),
            )  # fmt: skip
            res = jobs.generate_scene(
                text or "",
                fmt or "yaml",
                options,
                results_dir,
                _progress_fn(progress),
                upload_dir=_uploads(results_dir, request),
            )
        except TalkgenError as exc:
            if getattr(exc, "location", None) is not None:
                return handlers.error_html(text or "", exc), None, None, None
            return _alert(f"cannot generate: {exc}"), None, None, None
        record = json.loads(res.manifest.read_text(encoding="utf-8"))
        model = record.get("model") or {}
        manifest = publish_manifest(  # no server paths, in the JSON shown nor in the file to download
            res.manifest, script=Path(record["script"]).name, output=res.video.name,
            model=Path(model["path"]).name if model.get("path") else "untrained random weights",
        )  # fmt: skip
        video = gr.Video(value=str(res.video), subtitles=str(res.subtitles))
        return _ok(res.summary), video, [str(res.video), str(res.subtitles), str(res.manifest)], manifest

    return generate


def _generate_tab(settings: AppSettings, results_dir: Path, script: dict) -> None:
    has_model = jobs.default_model_installed()
    gr.Markdown(
        "Renders the script of the **Script** tab: speech for every line, the shot plan, the video with its "
        "dialogue track, subtitles and a manifest."
        + ("" if has_model else " No trained model is installed here: only untrained random weights can run.")
    )
    with gr.Row():
        random_weights = gr.Checkbox(not has_model, label="Untrained random weights (for testing)")
        seed = gr.Number(0, label="Seed", precision=0, minimum=0)
        steps = gr.Slider(1, 50, value=GENERATE_STEPS, step=1, label="Steps")
        size = gr.Dropdown(["32", "64", "128", "256"], value="128", label="Size (pixels)")
        scene = gr.Number(1, label="Scene (Fountain)", precision=0, minimum=1)
    with gr.Accordion("How takes are made", open=False):
        with gr.Row():
            keyframe = gr.Checkbox(
                True,
                label="Draw each take's first frame from the prompt (keyframe)",
                info="Off: the video transformer draws it from text and speech alone.",
            )
            retime = gr.Checkbox(
                True,
                label="Re-time the mouths to the speech",
                info="Off: keep the mouths the video transformer draws.",
            )
            keyframe_steps = gr.Slider(1, 16, value=KEYFRAME_STEPS, step=1, label="Keyframe steps")
            keyframe_draws = gr.Dropdown(
                list(DRAWS),
                value=DRAWS[0],
                label="Keyframe draws",
                info="First frames drawn for a one-character take; the one whose colours read most like the prompt"
                " is kept.",
            )
            anchor = gr.Dropdown(
                list(ANCHORS),
                value=ANCHORS[0],
                label="Reference anchor",
                info="Share of a take's first frame blended into each later window: higher keeps long takes closer"
                " to it.",
            )
    run = gr.Button("Generate", variant="primary", elem_id="generate-button")
    status = gr.HTML(elem_id="generate-status")
    with gr.Row():
        video = gr.Video(label="Scene", interactive=False, elem_id="generate-video")
        with gr.Column():
            files = gr.File(
                label="Download (mp4, srt, manifest)",
                file_count="multiple",
                interactive=False,
                elem_id="generate-files",
            )
            manifest = gr.JSON(label="Manifest")
    run.click(
        _make_generate(results_dir),
        [script["editor"], script["fmt"], random_weights, seed, steps, size, scene]
        + [keyframe, retime, anchor, keyframe_steps, keyframe_draws],
        [status, video, files, manifest],
        api_name="generate",
        concurrency_id=DEVICE,
        concurrency_limit=1,
    )


def _make_find_faces(settings: AppSettings):
    def find_faces(video: str | None):
        """Footage -> (status HTML, preview frame with numbered faces, face choices)."""
        image, count = jobs.find_faces(video, settings.media_limits)
        choices = ["all", *[str(k) for k in range(count)]]
        return _ok(f"footage ok, {count} face(s) found"), image, gr.update(choices=choices, value="all")

    return refusals("footage refused: ", lambda alert: (alert, None, gr.update(choices=["all"], value="all")))(
        find_faces
    )


def _make_dub(settings: AppSettings, results_dir: Path):
    def dub(
        video: str | None,
        audio: str | None,
        text: str,
        voice: str,
        strength: float,
        extent: str,
        face: str,
        steps: float,
        max_side: str,
        random_weights: bool,
        seed: float,
        progress=gr.Progress(track_tqdm=True),  # noqa: B008
    ):
        """Footage + new speech -> (status HTML, before video, after video)."""
        from talkgen.pipelines.dub import DubConfig

        config = DubConfig(
            strength=float(strength),
            extent=extent,
            face=str(face or "all"),
            steps=int(steps),
            seed=int(seed),
            max_side=int(max_side),
        )
        handlers.validate_media(video, settings.media_limits)
        speech = jobs.new_speech(audio, text, voice, settings.media_limits)
        res = jobs.dub(
            video,
            speech,
            config,
            settings.media_limits,
            results_dir,
            random_weights=bool(random_weights),
            progress=_progress_fn(progress),
        )
        return _ok(res.summary), video, str(res.video)

    return refusals("cannot dub: ", lambda alert: (alert, None, None))(dub)


def _dub_tab(settings: AppSettings, results_dir: Path) -> None:
    mb = f"{settings.max_file_size_mb:g} MiB"
    gr.Markdown(
        f"Upload footage with a visible face (at most {mb}, {settings.max_video_seconds:g} s). It is probed "
        "against the media limits before anything decodes it."
    )
    with gr.Row():
        footage = gr.Video(label="Footage", sources=["upload"], elem_id="dub-footage")
        faces = gr.Image(label="Faces found (numbered)", interactive=False, elem_id="dub-faces")
    footage_status = gr.HTML(elem_id="dub-footage-status")
    validate = _make_validate_footage(settings)
    has_model = jobs.default_model_installed()
    gr.Markdown("New speech: upload or record it, or leave it empty and type text for a voice.")
    with gr.Row():
        audio = gr.Audio(label="New speech", type="filepath", sources=["upload", "microphone"], elem_id="dub-audio")
        with gr.Column():
            text = gr.Textbox(label="...or text to speak", lines=2, elem_id="dub-text")
            voice = gr.Dropdown(handlers.voice_names(), value="en-us", label="Voice")
    with gr.Row():
        face = gr.Dropdown(["all"], value="all", label="Face that speaks")
        strength = gr.Slider(
            0.0, 1.0, value=0.4, step=0.01, label="Strength (noise level tau; the shipped model's default 0.4)"
        )
        extent = gr.Radio(list(jobs.EXTENTS), value="mouth", label="Edit extent")
    with gr.Row():
        steps = gr.Slider(1, 50, value=DUB_STEPS, step=1, label="Steps")
        max_side = gr.Dropdown(["32", "64", "128", "256"], value="128", label="Processing size (longer side)")
        random_weights = gr.Checkbox(not has_model, label="Untrained random weights (for testing)")
        seed = gr.Number(0, label="Seed", precision=0, minimum=0)
    run = gr.Button("Dub", variant="primary", elem_id="dub-button")
    status = gr.HTML(elem_id="dub-status")
    with gr.Row():
        before = gr.Video(label="Before", interactive=False)
        after = gr.Video(label="After", interactive=False, elem_id="dub-after")
    footage.upload(validate, [footage], [footage_status], api_name="validate_footage").success(
        _make_find_faces(settings), [footage], [footage_status, faces, face], api_name="find_faces"
    )
    run.click(
        _make_dub(settings, results_dir),
        [footage, audio, text, voice, strength, extent, face, steps, max_side, random_weights, seed],
        [status, before, after],
        api_name="dub",
        concurrency_id=DEVICE,
        concurrency_limit=1,
    )


def _evaluate_tab(settings: AppSettings, results_dir: Path) -> None:
    gr.Markdown(
        "Lip-sync check of a video with a visible face (MediaPipe face mesh vs the audio envelope), as "
        "`talkgen eval sync`. The audio defaults to the video's own track."
    )
    with gr.Row():
        video = gr.Video(label="Video", sources=["upload"], elem_id="eval-video")
        audio = gr.Audio(label="Speech (optional)", type="filepath", sources=["upload"], elem_id="eval-audio")
    run = gr.Button("Evaluate sync", variant="primary")
    status = gr.HTML(elem_id="eval-status")
    with gr.Row():
        plot = gr.Image(label="Sync plot", type="filepath", interactive=False)
        report = gr.JSON(label="Sync report")
    run.click(
        _make_evaluate(settings, results_dir),
        [video, audio],
        [status, report, plot],
        api_name="evaluate_sync",
        concurrency_id=DEVICE,
        concurrency_limit=1,
    )


def build_app(settings: AppSettings | None = None) -> gr.Blocks:
    """Build the Blocks (not launched). Results go under gradio's upload folder (the launcher's own temp dir)."""
    settings = settings or AppSettings()
    from gradio.utils import get_upload_folder

    results_root = Path(get_upload_folder()) / "results"
    results_root.mkdir(parents=True, exist_ok=True)
    results_dir = Path(tempfile.mkdtemp(prefix="run-", dir=results_root))
    samples = list(handlers.sample_scripts())
    with gr.Blocks(title="talkgen", analytics_enabled=False) as demo:
        gr.Markdown("# talkgen\nTalking-character video from scripts, and lip-sync dubbing. Offline.")
        with gr.Tabs():
            with gr.Tab("Script", id="script"):
                script = _script_tab(settings, samples, results_dir)
            with gr.Tab("Generate", id="generate"):
                _generate_tab(settings, results_dir, script)
            with gr.Tab("Dubbing", id="dubbing"):
                _dub_tab(settings, results_dir)
            with gr.Tab("Evaluate", id="evaluate"):
                _evaluate_tab(settings, results_dir)
        demo.load(script["refresh"], script["inputs"], script["outputs"], api_name=False)
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=1)
    return demo
