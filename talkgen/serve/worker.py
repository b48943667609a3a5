"""The worker loop shared by every executor: claim -> run with heartbeats -> commit outputs -> complete.

A worker process (or Ray actor) opens its own :class:`~talkgen.serve.ledger.Ledger`, claims one job at a time,
runs its kind in a private scratch directory while a heartbeat thread extends the lease and relays cancel requests,
moves the produced files into the content store (fsync, hash, rename) and only then marks the job succeeded. If
the process dies at any point, the lease expires, the reaper re-queues the job, and the next attempt produces the
same content hashes. A worker that lost its lease never commits.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from talkgen.errors import ConfigError, TalkgenError
from talkgen.serve.jobs import JobCancelled, get_kind, parse_request
from talkgen.serve.ledger import Job, Ledger
from talkgen.serve.store import ContentStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    """Settings of one worker; picklable so it crosses process (spawn) and Ray boundaries."""

    data_dir: str
    lease_s: float = 30.0
    poll_s: float = 0.2
    device: str = "cpu"
    kinds: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.lease_s <= 0 or self.poll_s <= 0:
            raise ConfigError(f"lease_s and poll_s must be > 0, got {self.lease_s}, {self.poll_s}")


def ledger_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / "ledger.sqlite3"


def make_owner(prefix: str = "local") -> str:
    """A lease-owner id naming the host and pid (the supervisor maps it back to a process)."""
    return f"{prefix}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_pid(owner: str) -> int | None:
    """The pid inside an owner id made by :func:`make_owner` (None if not parseable)."""
    parts = owner.split(":")
    return int(parts[2]) if len(parts) == 4 and parts[2].isdigit() else None


class _Lease:
    """Heartbeat thread for one claimed job: extends the lease every ``lease_s / 3`` and relays progress/cancel."""

    def __init__(self, ledger: Ledger, job: Job, owner: str, lease_s: float):
        self.ledger, self.job, self.owner, self.lease_s = ledger, job, owner, lease_s
        self.progress: tuple[float, str] | None = None
        self.cancel = threading.Event()
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{job.id}", daemon=True)

    def __enter__(self) -> _Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def beat(self) -> None:
        progress, message = self.progress if self.progress is not None else (None, None)
        answer = self.ledger.heartbeat(self.job.id, self.owner, self.lease_s, progress=progress, message=message)
        if not answer.alive:
            self.lost.set()
        if answer.cancel:
            self.cancel.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                self.beat()
            except Exception:  # a busy database must not kill the job; the next beat retries
                logger.warning("heartbeat for %s failed", self.job.id, exc_info=True)


_PATH = re.compile(r"(?<![\w.~-])(?:/[^\s/'\":,;()]+)+/?")


def client_message(exc: BaseException) -> str:
    """``Type: message`` for a job's error, with every absolute path cut to its last part: clients see the names
    they gave (``assets``, outputs), never where the server keeps files or whether some other file exists."""
    text = _PATH.sub(lambda m: m.group(0).rstrip("/").rsplit("/", 1)[-1], str(exc))
    return f"{type(exc).__name__}: {text}"


def execute(ledger: Ledger, store: ContentStore, job: Job, owner: str, config: WorkerConfig) -> str:
    """Run one claimed job to its end; returns the resulting state (or ``"lost"`` if the lease was lost)."""
    work = scratch_root(config.data_dir) / f"{job.id}.{job.attempts}.{os.getpid()}.{uuid.uuid4().hex[:6]}"
    inputs_dir, out_dir = work / "inputs", work / "out"
    out_dir.mkdir(parents=True)
    inputs_dir.mkdir()
    try:
        with _Lease(ledger, job, owner, config.lease_s) as lease:

            def progress(fraction: float, message: str) -> None:
                lease.progress = (min(max(float(fraction), 0.0), 1.0), message[:200])

            def should_cancel() -> bool:
                return lease.cancel.is_set()

            try:
                kind = get_kind(job.kind)
                spec = parse_request(job.spec)
                for name, sha in job.inputs.items():
                    store.link_into(sha, inputs_dir / name)
                produced = kind.run(spec, inputs_dir, out_dir, progress, should_cancel)
                if lease.lost.is_set():
                    return "lost"
                outputs = {}
                for name, path in sorted(produced.items()):
                    path = Path(path)
                    if not path.resolve().is_relative_to(out_dir.resolve()) or not path.is_file():
                        raise RuntimeError(f"job kind {job.kind} returned {path}, not a file in its output dir")
                    sha, size = store.commit_output(path)
                    outputs[name] = {"sha256": sha, "size": size}
            except JobCancelled:
                state = "cancelled" if ledger.cancelled(job.id, owner) else "lost"
                return state
            except (TalkgenError, ValidationError, ValueError) as exc:
                logger.info("job %s failed: %s", job.id, exc)
                return ledger.fail(job.id, owner, client_message(exc), retryable=False) or "lost"
            except Exception as exc:
                logger.warning("job %s attempt %d crashed", job.id, job.attempts, exc_info=True)
                return ledger.fail(job.id, owner, client_message(exc), retryable=True) or "lost"
            return "succeeded" if ledger.complete(job.id, owner, outputs) else "lost"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_worker(config: WorkerConfig, should_stop: Callable[[], bool], *, owner: str | None = None) -> int:
    """Claim and execute jobs until ``should_stop()``; returns how many jobs this worker finished."""
    owner = owner or make_owner()
    ledger = Ledger(ledger_path(config.data_dir))
    store = ContentStore(Path(config.data_dir) / "store")
    done = 0
    logger.info("worker %s started on %s", owner, config.device)
    try:
        while not should_stop():
            job = ledger.claim(owner, config.lease_s, kinds=config.kinds)
            if job is None:
                time.sleep(config.poll_s)
                continue
            state = execute(ledger, store, job, owner, config)
            logger.info("worker %s: job %s -> %s", owner, job.id, state)
            done += 1
    finally:
        ledger.close()
    return done


def scratch_root(data_dir: str | os.PathLike) -> Path:
    """Where attempts keep their inputs and outputs while they run: ``<data>/work/<job>.<attempt>.<pid>.<tag>``."""
    return Path(data_dir) / "work"


def remove_scratch(data_dir: str | os.PathLike, pids: set[int] | None = None) -> int:
    """Remove the scratch folders of attempts whose worker is gone: those of ``pids``, or (None) of every pid that
    is not a live process. Returns how many were removed."""
    removed = 0
    root = scratch_root(data_dir)
    for folder in root.iterdir() if root.is_dir() else ():
        parts = folder.name.rsplit(".", 2)
        pid = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None
        if pid is None or (pid in pids if pids is not None else not _alive(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _exit_with_parent(parent: int, poll_s: float = 0.5) -> None:
    """Watchdog thread: the worker ends (at once, mid-job if need be) when its server process is gone. Its lease
    then expires and a restarted server hands the job to a new worker, as after any crash."""

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                logger.warning("server (pid %d) is gone: worker %d exits", parent, os.getpid())
                os._exit(3)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def worker_process_main(config: WorkerConfig, stop_event) -> None:  # noqa: ANN001 - multiprocessing.Event
    """Entry point of a spawned local worker process."""
    _exit_with_parent(os.getppid())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(name)s: %(message)s")
    if config.device.startswith("cuda"):
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", config.device.partition(":")[2] or "0")
    run_worker(config, stop_event.is_set)
