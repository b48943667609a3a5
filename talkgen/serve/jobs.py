"""The job-kind registry: what the batch API can run.

Each kind is a validated request model (pydantic, ``extra="forbid"``) plus a ``run`` function::

    run(spec, inputs_dir, out_dir, progress, should_cancel) -> {output name: path under out_dir}

``inputs_dir`` holds the job's uploaded files under the names the request gave them; ``progress(fraction, message)``
reports progress in [0, 1]; ``should_cancel()`` turns True when the job was cancelled (or its lease lost) and the
function should raise :class:`JobCancelled` at its next safe point (e.g. between denoising steps). Outputs must be
deterministic for a given request (seeds are part of the request) so that a rerun commits the same content hashes.

Kinds:
- ``say``: text -> offline TTS -> ``speech.wav`` + ``words.json``. Quick; used by the tests and the crash test.
- ``generate``: a script plus uploaded assets -> mp4, srt, manifest
  (entry point ``talkgen.pipelines.jobs:generate_job``).
- ``dub``: footage plus new speech -> mp4, manifest (entry point ``talkgen.pipelines.jobs:dub_job``).

``generate`` and ``dub`` call the pipeline entry points named in :data:`PIPELINE_ENTRY_POINTS`; until that module
provides them, submitting such a job is refused (HTTP 400, "not available in this build"), never faked.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, TypeAdapter, field_validator

from talkgen.errors import TalkgenError

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]
RunFn = Callable[[BaseModel, Path, Path, ProgressFn, CancelFn], dict[str, Path]]

# Names of uploaded assets inside a job's inputs directory: a plain file name, never a path.
ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
SHA256_REF = re.compile(r"^sha256:[0-9a-f]{64}$")

# Where the pipeline engineers provide the heavy job kinds (module:function). Signature of each function:
#   fn(spec: GenerateRequest | DubRequest, inputs: dict[str, Path], out_dir: Path, progress, should_cancel)
#       -> dict[str, Path]   (e.g. {"video.mp4": ..., "subtitles.srt": ..., "manifest.json": ...})
PIPELINE_ENTRY_POINTS = {
    "generate": "talkgen.pipelines.jobs:generate_job",
    "dub": "talkgen.pipelines.jobs:dub_job",
}


class JobCancelled(Exception):
    """Raised by a job's ``run`` when ``should_cancel()`` turned True."""


class KindUnavailable(TalkgenError):
    """The job kind exists in the API but its implementation is not part of this build (HTTP 400)."""


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
    rate: int = Field(175, ge=80, le=450)
    pitch: int = Field(50, ge=0, le=99)
    sample_rate: int = Field(16000, ge=8000, le=48000)


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
    strength: float = Field(0.92, gt=0, le=1)
    num_inference_steps: int | None = Field(None, ge=1, le=200)

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
    available: Callable[[], str | None] = lambda: None  # None when usable, else the reason

    def ensure_available(self) -> None:
        reason = self.available()
        if reason is not None:
            raise KindUnavailable(f"job kind {self.name!r} is not available in this build: {reason}")


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


# -- generate / dub: wired to talkgen.pipelines ------------------------------------------------------------------
def _load_entry(kind: str) -> Callable[..., dict[str, Path]] | None:
    module_name, _, attr = PIPELINE_ENTRY_POINTS[kind].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None
        raise
    return getattr(module, attr, None)


def _entry_missing(kind: str) -> Callable[[], str | None]:
    def check() -> str | None:
        if _load_entry(kind) is None:
            return f"{PIPELINE_ENTRY_POINTS[kind]} is not provided yet"
        return None

    return check


def _run_pipeline(kind: str) -> RunFn:
    def run(spec, inputs_dir: Path, out_dir: Path, progress: ProgressFn, should_cancel: CancelFn):
        entry = _load_entry(kind)
        if entry is None:
            raise KindUnavailable(f"job kind {kind!r} is not available in this build")
        inputs = {name: inputs_dir / name for name in request_inputs(spec)}
        return entry(spec, inputs, out_dir, progress, should_cancel)

    run.__name__ = f"run_{kind}"
    return run


run_generate = _run_pipeline("generate")
run_dub = _run_pipeline("dub")

KINDS: dict[str, JobKind] = {
    "say": JobKind("say", SayRequest, run_say),
    "generate": JobKind("generate", GenerateRequest, run_generate, _entry_missing("generate")),
    "dub": JobKind("dub", DubRequest, run_dub, _entry_missing("dub")),
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
