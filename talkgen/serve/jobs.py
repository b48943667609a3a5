"""The job-kind registry: what the batch API can run.

Each kind is a validated request model (pydantic, ``extra="forbid"``) plus a ``run`` function::

    run(spec, inputs_dir, out_dir, progress, should_cancel) -> {output name: path under out_dir}

``inputs_dir`` holds the job's uploaded files under the names the request gave them; ``progress(fraction, message)``
reports progress in [0, 1]; ``should_cancel()`` turns True when the job was cancelled (or its lease lost) and the
function should raise :class:`JobCancelled` at its next safe point (e.g. between denoising steps). Outputs must be
deterministic for a given request (seeds are part of the request) so that a rerun commits the same content hashes.

Kinds:
- ``say``: text -> offline TTS -> ``speech.wav`` + ``words.json``. Quick; used by the tests and the crash test.
- ``generate``: a script plus uploaded assets -> mp4, srt, manifest (:func:`talkgen.pipelines.generate.
  generate_scene_file`).
- ``dub``: footage plus new speech -> mp4, manifest (:func:`talkgen.pipelines.dub.dub_file`).

Two models are offered by name: ``talkgen-tiny`` (the installed default model) and ``untrained-tiny`` (random tiny
weights: a smoke test of the whole path, not a useful render). A request for a model the server does not have is
refused at submission (HTTP 422), not queued to fail later.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, TypeAdapter, field_validator

from talkgen import SPEECH_RATE
from talkgen.errors import ConfigError, TalkgenError
from talkgen.pipelines.defaults import FACE_CROP, MAX_KEYFRAME_DRAWS

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]
RunFn = Callable[[BaseModel, Path, Path, ProgressFn, CancelFn], dict[str, Path]]

# Names of uploaded assets inside a job's inputs directory: a plain file name, never a path.
ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
SHA256_REF = re.compile(r"^sha256:[0-9a-f]{64}$")

MODELS = ("talkgen-tiny", "untrained-tiny")
API_FILES = (
    "this job's assets",
    "in API jobs a script may name only the job's own assets, by their names in 'assets'",
)


class JobCancelled(Exception):
    """Raised by a job's ``run`` when ``should_cancel()`` turned True."""


class ModelUnavailable(TalkgenError):
    """The request names a model this server does not have (HTTP 422 at submission)."""


def check_asset_name(name: str) -> str:
    """Validate an asset/upload file name: plain name, no directories, no leading dot (path traversal)."""
    if not ASSET_NAME.match(name) or ".." in name:
        raise ValueError(
            f"asset name {name!r} is not allowed: use 1-100 characters of letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no directories, no '..')"
        )
    return name


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook_url: HttpUrl | None = Field(None, description="POSTed a signed JSON event when the job ends.")
    max_attempts: int = Field(3, ge=1, le=10, description="Attempts before the job fails with its last error.")


class SayRequest(_Request):
    """Speak a text with the offline TTS; outputs ``speech.wav`` and ``words.json``."""

    kind: Literal["say"]
    text: str = Field(..., min_length=1, max_length=5000)
    voice: str = Field("en-us", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+\-/]+$")
    variant: str | None = Field(None, max_length=32, pattern=r"^[A-Za-z0-9_]+$")
    rate: int | None = Field(None, ge=80, le=450)  # None: the preset's (a named voice), else 175
    pitch: int | None = Field(None, ge=0, le=99)  # None: the preset's, else 50
    sample_rate: int = Field(SPEECH_RATE, ge=8000, le=48000)


def _refs(value: dict[str, str]) -> dict[str, str]:
    for name, ref in value.items():
        check_asset_name(name)
        if not SHA256_REF.match(ref):
            raise ValueError(
                f"asset {name!r}: {ref!r} is not an upload reference 'sha256:<64 hex>' (POST /v1/uploads)"
            )
    return value


class GenerateRequest(_Request):
    """Render a scene script; ``assets`` maps names used by the script to uploaded files (``sha256:...``)."""

    kind: Literal["generate"]
    script: str = Field(..., min_length=1, max_length=100_000)
    assets: dict[str, str] = Field(default_factory=dict, max_length=32)
    seed: int = Field(0, ge=0, le=2**63 - 1)
    model: Literal["talkgen-tiny", "untrained-tiny"] = Field(
        "talkgen-tiny", description="talkgen-tiny (the embedded model) or untrained-tiny (random weights, smoke tests)"
    )
    width: int | None = Field(None, ge=16, le=4096)
    height: int | None = Field(None, ge=16, le=4096)
    fps: float | None = Field(None, gt=0, le=120)
    num_inference_steps: int | None = Field(None, ge=1, le=200)
    keyframe: bool = Field(
        True,
        description="draw each take's first frame from the prompt with the model's keyframe transformer (when it has"
        " one and the character has no image); false leaves it to the video transformer",
    )
    retime: bool = Field(
        True,
        description="re-time each take's generated mouths to its speech (when the model has a mouth head and a mouth"
        " locator); false keeps the mouths the video transformer draws",
    )
    keyframe_steps: int | None = Field(
        None, ge=1, le=64, description="sampling steps of each take's keyframe (first frame); default: talkgen's"
    )
    reference_anchor: float | None = Field(
        None,
        ge=0,
        le=1,
        description="share of each take's first frame blended into the motion latents of its later windows (0: none;"
        " default: the model's, 0.5 for the shipped one)",
    )
    keyframe_draws: int | None = Field(
        None,
        ge=1,
        le=MAX_KEYFRAME_DRAWS,
        description="keyframes drawn for a one-character take whose prompt names colours, the one the model's"
        " attribute reader reads most like them kept (1: one draw; default: the model's)",
    )

    _check_assets = field_validator("assets")(_refs)


class DubRequest(_Request):
    """Re-time the lips of uploaded footage to new speech (an uploaded audio file or text spoken by the TTS)."""

    kind: Literal["dub"]
    footage: str = Field(..., pattern=SHA256_REF.pattern)
    speech: str | None = Field(None, pattern=SHA256_REF.pattern)
    text: str | None = Field(None, min_length=1, max_length=20_000)
    voice: str = Field("en-us", max_length=64)
    seed: int = Field(0, ge=0, le=2**63 - 1)
    model: Literal["talkgen-tiny", "untrained-tiny"] = Field(
        "talkgen-tiny", description="talkgen-tiny (the embedded model) or untrained-tiny (random weights, smoke tests)"
    )
    strength: float | None = Field(
        None, gt=0, le=1, description="noise level tau of the dub; null: the model's (0.4 for talkgen-tiny)"
    )
    num_inference_steps: int | None = Field(None, ge=1, le=200)
    face_crop: float = Field(
        FACE_CROP,
        ge=0,
        le=1,
        description="each face dubbed in its own crop where it fills this share of the side (0.1-1); 0: one pass"
        " over the whole frame (as `talkgen dub --face-crop`)",
    )
    retime: bool = Field(
        True,
        description="re-time the footage's own mouths to the new speech before the diffusion pass, where the model"
        " has a mouth head (as `talkgen dub --retime/--no-retime`)",
    )

    @field_validator("text")
    @classmethod
    def _text_or_speech(cls, text: str | None, info: Any) -> str | None:
        if text is not None and info.data.get("speech") is not None:
            raise ValueError("give either 'speech' (an uploaded audio file) or 'text', not both")
        return text


JobRequest = Annotated[SayRequest | GenerateRequest | DubRequest, Field(discriminator="kind")]
REQUEST_ADAPTER: TypeAdapter[SayRequest | GenerateRequest | DubRequest] = TypeAdapter(JobRequest)


def request_inputs(request: BaseModel) -> dict[str, str]:
    """Input files of a request: ``{name in inputs dir: sha256}``."""
    if isinstance(request, GenerateRequest):
        return {name: ref.removeprefix("sha256:") for name, ref in request.assets.items()}
    if isinstance(request, DubRequest):
        refs = {"footage": request.footage} | ({"speech": request.speech} if request.speech else {})
        return {name: ref.removeprefix("sha256:") for name, ref in refs.items()}
    return {}


@dataclass(frozen=True)
class JobKind:
    """A registered job kind: its request model, its runner and an availability check."""

    name: str
    model: type[BaseModel]
    run: RunFn

    def check_runnable(self, spec: BaseModel) -> None:
        """What can be known at submission: the model the request names is installed (ModelUnavailable)."""
        name = getattr(spec, "model", None)
        if name == "talkgen-tiny":
            from talkgen.pipelines.loading import default_model_dir

            if default_model_dir() is None:
                raise ModelUnavailable(
                    "model 'talkgen-tiny' is not installed on this server (the operator sets TALKGEN_MODEL_DIR); "
                    "request model 'untrained-tiny' for a smoke test"
                )


# -- say ---------------------------------------------------------------------------------------------------------
def run_say(spec: SayRequest, inputs_dir: Path, out_dir: Path, progress: ProgressFn, should_cancel: CancelFn):
    """Synthesise ``spec.text`` into ``speech.wav`` + ``words.json``; the bytes depend on the request only
    (talkgen.audio.tts forks a pristine espeak-ng state for every synthesis)."""
    from talkgen.audio.io import save_wav
    from talkgen.audio.tts import synthesize

    progress(0.05, "synthesising")
    if should_cancel():
        raise JobCancelled()
    speech = synthesize(
        spec.text, spec.voice, variant=spec.variant, rate=spec.rate, pitch=spec.pitch, sample_rate=spec.sample_rate
    )
    save_wav(out_dir / "speech.wav", speech.waveform, speech.sample_rate)
    timeline = {
        "duration": speech.duration,
        "words": [{"text": w.text, "start": w.start, "end": w.end} for w in speech.words],
        "phonemes": [{"symbol": p.symbol, "start": p.start, "end": p.end} for p in speech.phonemes],
    }
    (out_dir / "words.json").write_text(json.dumps(timeline, sort_keys=True, indent=1))
    progress(1.0, "done")
    return {"speech.wav": out_dir / "speech.wav", "words.json": out_dir / "words.json"}


# -- generate / dub: thin adapters over talkgen.pipelines ----------------------------------------------------
def _model_choice(name: str) -> bool:
    """``random_weights`` for a model name the server offers."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; this server offers: {', '.join(MODELS)}")
    return name == "untrained-tiny"


def _inputs(spec, inputs_dir: Path) -> dict[str, Path]:
    return {name: inputs_dir / name for name in request_inputs(spec)}


def run_generate(spec, inputs_dir: Path, out_dir: Path, progress: ProgressFn, should_cancel: CancelFn):
    """Render ``spec.script`` (YAML) with its uploaded assets into ``scene.mp4``, ``.srt`` and ``.manifest.json``."""
    from talkgen.fs import atomic_write_text
    from talkgen.pipelines.generate import GenerateOptions, generate_scene_file, publish_manifest

    random_weights = _model_choice(spec.model)
    if spec.width is not None and spec.height is not None and spec.width != spec.height:
        raise ConfigError(f"frames are square: width {spec.width} and height {spec.height} differ")
    size = spec.width or spec.height or 128
    given = {"steps": spec.num_inference_steps, "keyframe_steps": spec.keyframe_steps}
    steps = {k: v for k, v in given.items() if v}  # unset: generate's defaults
    options = GenerateOptions(
        random_weights=random_weights,
        seed=spec.seed,
        size=size,
        fps=spec.fps,
        keyframe=spec.keyframe,
        retime=spec.retime,
        reference_anchor=spec.reference_anchor,
        keyframe_draws=spec.keyframe_draws,
        **steps,
    )
    script = inputs_dir / "_scene.yaml"  # asset names start with a letter or digit, so this never overwrites one
    atomic_write_text(script, spec.script)  # beside the assets, so the script's relative audio paths resolve

    def report(fraction: float, message: str) -> None:  # called between denoising steps: the cancel point
        if should_cancel():
            raise JobCancelled()
        progress(fraction, message)

    output = out_dir / "scene.mp4"
    generate_scene_file(script, output, options, report, file_roots=[inputs_dir], roots_names=API_FILES)
    publish_manifest(output.with_suffix(".manifest.json"), script="script", output=output.name, model=spec.model)
    return {p.name: p for p in (output, output.with_suffix(".srt"), output.with_suffix(".manifest.json"))}


def run_dub(spec, inputs_dir: Path, out_dir: Path, progress: ProgressFn, should_cancel: CancelFn):
    """Dub the uploaded ``footage`` with the uploaded ``speech`` (or ``text`` spoken offline) into ``dub.mp4``."""
    from talkgen.pipelines.dub import DubConfig, dub_file, load_speech
    from talkgen.pipelines.generate import publish_manifest

    random_weights = _model_choice(spec.model)
    inputs = _inputs(spec, inputs_dir)
    steps = {"steps": spec.num_inference_steps} if spec.num_inference_steps else {}  # else the dub default
    config = DubConfig(
        strength=spec.strength, seed=spec.seed, face_crop=spec.face_crop or None, retime=spec.retime, **steps
    )
    if "speech" not in inputs and not spec.text:
        raise ConfigError("a dub job needs 'speech' (an uploaded audio file) or 'text'")
    speech = load_speech(inputs.get("speech"), None if "speech" in inputs else spec.text, spec.voice)

    def report(fraction: float, message: str) -> None:
        if should_cancel():
            raise JobCancelled()
        progress(fraction, message)

    output = out_dir / "dub.mp4"
    dub_file(inputs["footage"], output, speech, config, random_weights=random_weights, progress=report)
    publish_manifest(output.with_suffix(".manifest.json"), video="footage", output=output.name, model=spec.model)
    return {p.name: p for p in (output, output.with_suffix(".manifest.json"))}


KINDS: dict[str, JobKind] = {
    "say": JobKind("say", SayRequest, run_say),
    "generate": JobKind("generate", GenerateRequest, run_generate),
    "dub": JobKind("dub", DubRequest, run_dub),
}


def get_kind(name: str) -> JobKind:
    """The registered kind ``name``; raises :class:`TalkgenError` naming the known kinds."""
    try:
        return KINDS[name]
    except KeyError:
        raise TalkgenError(f"unknown job kind {name!r}; known kinds: {', '.join(sorted(KINDS))}") from None


def parse_request(spec: dict[str, Any]) -> SayRequest | GenerateRequest | DubRequest:
    """Validate a stored request dict back into its model (workers re-validate what the ledger holds)."""
    return REQUEST_ADAPTER.validate_python(spec)
