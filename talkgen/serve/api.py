"""The batch HTTP API (FastAPI; the OpenAPI description at ``/openapi.json``).

Routes (all under ``/v1`` need ``Authorization: Bearer <token>`` when tokens are configured)::

    PUT  /v1/uploads?name=clip.mp4        raw bytes -> validated, stored by content -> {"ref": "sha256:..."}
    PUT  /v1/jobs/{id}                    idempotent submit (201 new, 200 same body again, 409 other body, 429 full)
    GET  /v1/jobs/{id}                    state, progress, attempts, timings, error, outputs
    GET  /v1/jobs?state=&kind=&cursor=&limit=
    POST /v1/jobs/{id}/cancel
    GET  /v1/jobs/{id}/events
    GET  /v1/jobs/{id}/result             manifest of outputs (409 until the job succeeded)
    GET  /v1/jobs/{id}/result/{name}      one output file
    GET  /healthz, /readyz                liveness, readiness (no auth)

Uploads are streamed into ``<data>/store/tmp`` (never the system temp dir), size-limited while streaming, checked
(media: :func:`talkgen.media.probe` with the media limits; images: Pillow; text: UTF-8) and only then published
under their hash. Every refusal is a 4xx whose JSON ``error.message`` names the problem.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from talkgen import __version__
from talkgen.errors import ConfigError, MediaError, TalkgenError
from talkgen.serve.executors import make_executor
from talkgen.serve.jobs import (
    REQUEST_ADAPTER,
    JobRequest,
    ModelUnavailable,
    check_asset_name,
    get_kind,
    request_inputs,
)
from talkgen.serve.ledger import STATES, JobConflict, JobNotFound, Ledger, QueueFull
from talkgen.serve.settings import ServeSettings
from talkgen.serve.store import ContentStore, ObjectTooLarge
from talkgen.serve.webhooks import WebhookDispatcher, check_webhook_url
from talkgen.serve.worker import WorkerConfig, ledger_path

logger = logging.getLogger(__name__)

JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_JOB_ID = re.compile(JOB_ID_PATTERN)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
TEXT_SUFFIXES = {".txt", ".md", ".yaml", ".yml", ".json", ".srt", ".fountain"}
MAX_IMAGE_PIXELS = 4096 * 4096
MAX_TEXT_BYTES = 1 << 20
_STATUS = {
    JobNotFound: 404,
    JobConflict: 409,
    QueueFull: 429,
    ObjectTooLarge: 413,
    ModelUnavailable: 422,
    MediaError: 415,
}


class WebhookRefused(TalkgenError):
    """A webhook URL the policy refuses (HTTP 422)."""


_STATUS[WebhookRefused] = 422


class BodyLimitMiddleware:
    """Refuses request bodies over the limit with 413, by ``Content-Length`` up front or while streaming."""

    def __init__(self, app: ASGIApp, *, default_limit: int, upload_limit: int):
        self.app, self.default_limit, self.upload_limit = app, default_limit, upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_limit if scope["path"].startswith("/v1/uploads") else self.default_limit
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _send_error(send, 413, "RequestTooLarge", f"request body is over the limit of {limit} bytes")
            return
        seen, started, refused = 0, False, False
        too_large = f"request body is over the limit of {limit} bytes"

        async def limited_receive() -> Message:
            # A streamed (chunked) body over the limit is answered with 413 here, and the app is told that the
            # client left: frameworks turn exceptions raised while reading a body into their own 400.
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = True
                    if not started:
                        await _send_error(send, 413, "RequestTooLarge", too_large)
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:  # the 413 has been sent: whatever the app answers afterwards is dropped
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, limited_receive, tracking_send)


class TokenMiddleware:
    """Checks the bearer token of every ``/v1`` request before anything reads its body (401, not a parse error)."""

    def __init__(self, app: ASGIApp, *, tokens: list[bytes]):
        self.app, self.tokens = app, tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.tokens and scope["path"].startswith("/v1"):
            header = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not token_ok(header.decode("latin-1"), self.tokens):
                body = JSONResponse(
                    {"error": {"type": "Unauthorized", "message": "missing or invalid bearer token"}}, status_code=401
                ).body
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                           (b"www-authenticate", b"Bearer")]  # fmt: skip
                await send({"type": "http.response.start", "status": 401, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def token_ok(authorization: str | None, tokens: list[bytes]) -> bool:
    """Whether ``Authorization`` carries one of ``tokens`` as a bearer token (no tokens: always)."""
    if not tokens:
        return True
    scheme, _, given = (authorization or "").partition(" ")
    ok = False
    for token in tokens:  # compare against every token: timing does not reveal which one matched
        ok |= hmac.compare_digest(given.strip().encode(), token)
    return scheme.lower() == "bearer" and ok


async def _send_error(send: Send, status: int, kind: str, message: str) -> None:
    body = JSONResponse({"error": {"type": kind, "message": message}}, status_code=status).body
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def check_upload(path: Path, name: str, settings: ServeSettings) -> dict[str, Any]:
    """Validate an uploaded file by content before it is accepted; returns a description. Raises MediaError."""
    suffix = Path(name).suffix.lower()
    if suffix in TEXT_SUFFIXES:
        data = path.read_bytes()
        if len(data) > MAX_TEXT_BYTES:
            raise MediaError(f"{name}: text assets are limited to {MAX_TEXT_BYTES} bytes")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MediaError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        return {"type": "text", "bytes": len(data)}
    if suffix in IMAGE_SUFFIXES:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as image:
                fmt, (width, height) = image.format, image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise MediaError(f"{name}: image is {width}x{height}, over {MAX_IMAGE_PIXELS} pixels")
                image.verify()
        except Image.DecompressionBombError:
            raise MediaError(f"{name}: image is over the limit of {MAX_IMAGE_PIXELS} pixels") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise MediaError(f"{name}: not a readable image ({exc})") from None
        if fmt is None or f".{fmt.lower()}" not in IMAGE_SUFFIXES | {".jpeg"}:
            raise MediaError(f"{name}: image format {fmt} is not allowed (png, jpeg, webp)")
        return {"type": "image", "format": fmt.lower(), "width": width, "height": height}
    from talkgen.media import probe

    try:
        info = probe(path)
    except MediaError as exc:  # name the upload, not our temporary file
        raise MediaError(str(exc).replace(str(path), name)) from None
    streams = [{"kind": s.kind, "codec": s.codec} for s in info.streams]
    return {"type": "media", "format": info.format, "duration": info.duration, "streams": streams}


def create_app(settings: ServeSettings, *, start_executor: bool = True) -> FastAPI:
    """The API app; its lifespan opens the ledger and starts the reaper, webhooks and (optionally) the executor."""
    data_dir = settings.data_dir
    state: dict[str, Any] = {}
    halt = threading.Event()

    def reaper(ledger: Ledger) -> None:
        while not halt.wait(settings.reap_s):
            try:
                ledger.reap()
            except Exception:
                logger.exception("reaper failed")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        ledger = Ledger(ledger_path(data_dir))
        store = ContentStore(data_dir / "store")
        store.clean_tmp()
        state.update(ledger=ledger, store=store)
        threads = [threading.Thread(target=reaper, args=(ledger,), name="talkgen-reaper", daemon=True)]
        threads[0].start()
        dispatcher = None
        if settings.webhook_secret:
            dispatcher = WebhookDispatcher(
                Ledger(ledger_path(data_dir)), settings.webhook_secret, allow=settings.webhook_allow
            )
            dispatcher.start()
        executor = None
        if start_executor:
            config = WorkerConfig(str(data_dir), lease_s=settings.lease_s)
            options = {"cancel_grace_s": settings.cancel_grace_s} if settings.executor == "local" else {}
            executor = make_executor(settings.executor, config, settings.workers, **options)
            if executor is not None:
                executor.start()
        state["executor"] = executor
        try:
            yield
        finally:
            halt.set()
            if executor is not None:
                await run_in_threadpool(executor.stop)
            if dispatcher is not None:
                dispatcher.stop()
            for thread in threads:
                thread.join(5)

    app = FastAPI(
        title="talkgen batch API",
        version=__version__,
        description="Durable job queue for talking-character generation and dubbing.",
        lifespan=lifespan,
        docs_url=None,  # Swagger/ReDoc pages load scripts from a CDN; talkgen is offline: /openapi.json only
        redoc_url=None,
    )
    tokens = [t.encode() for t in settings.tokens]
    app.add_middleware(
        BodyLimitMiddleware,
        default_limit=settings.max_body_bytes,
        upload_limit=settings.max_upload_bytes,
    )
    app.add_middleware(TokenMiddleware, tokens=tokens)  # added last: runs first, before any body is read

    @app.exception_handler(TalkgenError)
    async def _talkgen_error(request: Request, exc: TalkgenError) -> JSONResponse:
        status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
        headers = {"Retry-After": "5"} if status == 429 else None
        return JSONResponse(
            {"error": {"type": type(exc).__name__, "message": str(exc)}}, status_code=status, headers=headers
        )

    clients = {hashlib.sha256(t.encode()).hexdigest()[:16] for t in settings.client_tokens}

    def require_token(authorization: str | None = Header(None, description="Bearer token")) -> Caller:
        """Who calls: TokenMiddleware has already refused bad tokens; this names the caller (and documents the
        header in the OpenAPI description)."""
        if not token_ok(authorization, tokens):
            raise _Unauthorized()
        if not tokens:
            return Caller(None, admin=True)
        tag = hashlib.sha256((authorization or "").partition(" ")[2].strip().encode()).hexdigest()[:16]
        return Caller(tag, admin=tag not in clients)

    def visible(job, caller: Caller):
        """``job`` if ``caller`` may see it; a client token's view of another's job is "no such job"."""
        if not caller.admin and job.submitter != caller.tag:
            raise JobNotFound(f"no job with id {job.id!r}")
        return job

    @app.exception_handler(_Unauthorized)
    async def _unauthorized(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"error": {"type": "Unauthorized", "message": "missing or invalid bearer token"}},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    auth = [Depends(require_token)]
    job_id_param = PathParam(..., pattern=JOB_ID_PATTERN, description="Client-chosen id (letters, digits, . _ -)")

    def ledger() -> Ledger:
        return state["ledger"]

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        counts = ledger().counts()
        executor = state.get("executor")
        workers = executor.alive_workers() if executor is not None else None
        ready = workers is None or workers > 0
        body = {"ready": ready, "workers": workers, "jobs": counts}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.put("/v1/uploads", tags=["uploads"], dependencies=auth, status_code=201)
    async def upload(request: Request, name: str = Query(..., description="File name; its suffix picks the check")):
        """Upload one asset as the raw request body; returns ``{"ref": "sha256:..."}`` for job requests."""
        try:
            check_asset_name(name)
        except ValueError as exc:
            raise TalkgenError(str(exc)) from None
        store: ContentStore = state["store"]
        staging = await run_in_threadpool(store.stage, max_bytes=settings.max_upload_bytes, suffix=Path(name).suffix)
        description: dict[str, Any] = {}
        try:
            async for chunk in request.stream():
                if chunk:
                    await run_in_threadpool(staging.write, chunk)
        except BaseException:
            staging.abort()
            raise
        if staging.size == 0:
            staging.abort()
            raise MediaError(f"{name}: the upload is empty")

        def check(path: Path) -> None:
            description.update(check_upload(path, name, settings))

        digest, size = await run_in_threadpool(staging.finish, check)
        return {"ref": f"sha256:{digest}", "name": name, "size": size, "content": description}

    @app.put("/v1/jobs/{job_id}", tags=["jobs"], status_code=201)
    def submit(
        request: JobRequest, job_id: str = job_id_param, caller: Caller = Depends(require_token)
    ) -> JSONResponse:
        """Submit a job; the same id and body again returns the same job (200); another body is a 409."""
        kind = get_kind(request.kind)
        kind.check_runnable(request)
        inputs = request_inputs(request)
        store: ContentStore = state["store"]
        for name, sha in inputs.items():
            if not store.has(sha):
                raise TalkgenError(f"input {name!r} (sha256:{sha}) was not uploaded; PUT it to /v1/uploads first")
        if request.webhook_url is not None and not settings.webhook_secret:
            raise TalkgenError("webhook_url given but the server has no webhook secret (TALKGEN_WEBHOOK_SECRET)")
        if request.webhook_url is not None:
            try:
                check_webhook_url(str(request.webhook_url), settings.webhook_allow)
            except ConfigError as exc:
                raise WebhookRefused(str(exc)) from None
        job, created = ledger().submit(
            job_id,
            kind.name,
            request.model_dump(mode="json"),
            inputs=inputs,
            max_attempts=request.max_attempts,
            webhook_url=str(request.webhook_url) if request.webhook_url else None,
            max_unfinished=settings.max_queue,
            submitter=caller.tag,
        )
        return JSONResponse(job.public(), status_code=201 if created else 200)

    @app.get("/v1/jobs/{job_id}", tags=["jobs"])
    def status(job_id: str = job_id_param, caller: Caller = Depends(require_token)) -> dict[str, Any]:
        return visible(ledger().get(job_id), caller).public()

    @app.get("/v1/jobs", tags=["jobs"])
    def list_jobs(
        state_: str | None = Query(None, alias="state", pattern="^(" + "|".join(STATES) + ")$"),
        kind: str | None = Query(None, max_length=32),
        cursor: int = Query(0, ge=0, le=2**63 - 1),  # SQLite integers are 64-bit
        limit: int = Query(50, ge=1, le=500),
        caller: Caller = Depends(require_token),
    ) -> dict[str, Any]:
        mine = None if caller.admin else caller.tag
        jobs, next_cursor = ledger().list(state=state_, kind=kind, after=cursor, limit=limit, submitter=mine)
        return {"jobs": [j.public() for j in jobs], "next_cursor": next_cursor}

    @app.post("/v1/jobs/{job_id}/cancel", tags=["jobs"])
    def cancel(job_id: str = job_id_param, caller: Caller = Depends(require_token)) -> dict[str, Any]:
        visible(ledger().get(job_id), caller)
        return ledger().request_cancel(job_id).public()

    @app.get("/v1/jobs/{job_id}/events", tags=["jobs"])
    def events(job_id: str = job_id_param, caller: Caller = Depends(require_token)) -> dict[str, Any]:
        visible(ledger().get(job_id), caller)
        return {"events": ledger().events(job_id)}

    def _succeeded(job_id: str, caller: Caller):
        job = visible(ledger().get(job_id), caller)
        if job.state != "succeeded":
            raise _NotReady(f"job {job_id!r} is {job.state}; results exist once it succeeded")
        return job

    @app.exception_handler(_NotReady)
    async def _not_ready(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": {"type": "NotReady", "message": str(exc)}}, status_code=409)

    @app.get("/v1/jobs/{job_id}/result", tags=["results"])
    def result(job_id: str = job_id_param, caller: Caller = Depends(require_token)) -> dict[str, Any]:
        """Manifest of a succeeded job's outputs (name -> sha256, size, url)."""
        job = _succeeded(job_id, caller)
        outputs = {
            name: out | {"url": f"/v1/jobs/{job.id}/result/{name}"} for name, out in sorted(job.outputs.items())
        }
        return {"id": job.id, "kind": job.kind, "request": job.spec, "outputs": outputs}

    @app.get("/v1/jobs/{job_id}/result/{name}", tags=["results"])
    def result_file(
        job_id: str = job_id_param, name: str = PathParam(..., max_length=100), caller: Caller = Depends(require_token)
    ) -> FileResponse:
        job = _succeeded(job_id, caller)
        if name not in job.outputs:
            raise JobNotFound(f"job {job_id!r} has no output {name!r}; outputs: {', '.join(sorted(job.outputs))}")
        store: ContentStore = state["store"]
        return FileResponse(store.path(job.outputs[name]["sha256"]), filename=name)

    return app


@dataclass(frozen=True)
class Caller:
    """A request's caller: ``tag`` (a short hash of its token; None without auth), whether it sees every job."""

    tag: str | None
    admin: bool


class _Unauthorized(Exception):
    pass


class _NotReady(Exception):
    pass


def serve(settings: ServeSettings) -> None:
    """Run the API with uvicorn until interrupted (blocking)."""
    import uvicorn

    app = create_app(settings)
    logger.info("talkgen serve on http://%s:%d (data %s)", settings.host, settings.port, settings.data_dir)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", timeout_graceful_shutdown=10)


__all__ = ["REQUEST_ADAPTER", "create_app", "serve", "check_upload", "BodyLimitMiddleware"]
