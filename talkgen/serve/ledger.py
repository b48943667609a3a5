"""The durable job ledger: one SQLite file in WAL mode with ``synchronous=FULL``.

States: ``queued -> running -> succeeded | failed | cancelled`` (``running -> queued`` again when an attempt is lost
or fails retryably). A worker *claims* a job in one ``BEGIN IMMEDIATE`` transaction, which sets a lease (owner +
expiry) and counts an attempt; it heartbeats to extend the lease; the *reaper* re-queues running jobs whose lease
expired, or fails them once ``max_attempts`` attempts were spent. Every state change that matters is written to the
``events`` table in the same transaction, and terminal states with a webhook URL add an ``outbox`` row in that
transaction too, so a crash can never lose a notification or report a job finished twice.

All mutating calls that act on a lease check the owner in their ``WHERE`` clause: a worker whose lease was taken
away cannot complete, fail or heartbeat the job any more.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from talkgen.errors import TalkgenError

logger = logging.getLogger(__name__)

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    spec TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    inputs TEXT NOT NULL DEFAULT '{}',
    outputs TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    lease_owner TEXT,
    lease_expires REAL,
    heartbeat_at REAL,
    cancel_requested_at REAL,
    error TEXT,
    webhook_url TEXT,
    submitter TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, seq);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    at REAL NOT NULL,
    type TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_job ON events(job_id, seq);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    url TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, next_attempt_at);
"""


class JobConflict(TalkgenError):
    """The job id exists with a different request body (HTTP 409)."""


class QueueFull(TalkgenError):
    """Too many unfinished jobs (HTTP 429)."""


class JobNotFound(TalkgenError):
    """No job with that id (HTTP 404)."""


def canonical_json(value: Any) -> str:
    """Deterministic JSON text (sorted keys, no whitespace) used for request hashes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_hash(kind: str, spec: dict[str, Any], inputs: dict[str, str]) -> str:
    """sha256 of the canonical request: what makes two submissions of one id "the same"."""
    return hashlib.sha256(canonical_json({"kind": kind, "spec": spec, "inputs": inputs}).encode()).hexdigest()


@dataclass(frozen=True)
class Job:
    """One row of the ``jobs`` table; ``outputs`` maps output name -> ``{"sha256", "size"}``."""

    id: str
    kind: str
    spec: dict[str, Any]
    request_hash: str
    inputs: dict[str, str]
    outputs: dict[str, dict[str, Any]]
    state: str
    progress: float
    message: str
    attempts: int
    max_attempts: int
    lease_owner: str | None
    lease_expires: float | None
    heartbeat_at: float | None
    cancel_requested_at: float | None
    error: str | None
    webhook_url: str | None
    submitter: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    updated_at: float

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def public(self) -> dict[str, Any]:
        """The job as the API shows it (no lease internals beyond the owner)."""
        timings = {"created_at": self.created_at, "started_at": self.started_at, "finished_at": self.finished_at}
        if self.started_at is not None and self.finished_at is not None:
            timings["run_seconds"] = round(self.finished_at - self.started_at, 6)
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "progress": self.progress,
            "message": self.message,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "cancel_requested": self.cancel_requested_at is not None,
            "error": self.error,
            "request": self.spec,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "timings": timings,
        }


@dataclass(frozen=True)
class Heartbeat:
    """Answer to a heartbeat: ``alive`` is False once the lease is lost; ``cancel`` when a cancel was requested."""

    alive: bool
    cancel: bool


_JSON_COLUMNS = ("spec", "inputs", "outputs")


def _row_to_job(row: sqlite3.Row) -> Job:
    data = {k: row[k] for k in row.keys() if k != "seq"}
    for key in _JSON_COLUMNS:
        data[key] = json.loads(data[key])
    return Job(**data)


class Ledger:
    """Durable job store shared by the API process and worker processes (each opens its own ``Ledger``).

    Args:
        path: the SQLite file (created with its parent directory).
        clock: seconds-since-epoch source; tests inject a fake clock.
        busy_timeout_s: how long a writer waits for the database lock.
    """

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time, busy_timeout_s: float = 30.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            str(self.path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        self._conn.row_factory = sqlite3.Row
        mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise TalkgenError(f"ledger {self.path}: the file system does not support SQLite WAL mode (got {mode})")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        self._conn.execute("PRAGMA foreign_keys=ON")
        with self._tx() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}
            if "submitter" not in columns:  # a ledger written before token scopes
                conn.execute("ALTER TABLE jobs ADD COLUMN submitter TEXT")

    # -- plumbing -------------------------------------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken with ``BEGIN IMMEDIATE`` (the database write lock) and committed durably."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _event(self, conn: sqlite3.Connection, job_id: str, type_: str, now: float, **detail: Any) -> None:
        conn.execute(
            "INSERT INTO events(job_id, at, type, detail) VALUES (?, ?, ?, ?)",
            (job_id, now, type_, canonical_json(detail)),
        )

    def _get(self, conn: sqlite3.Connection, job_id: str) -> Job | None:
        row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _row_to_job(row) if row is not None else None

    def _require(self, conn: sqlite3.Connection, job_id: str) -> Job:
        job = self._get(conn, job_id)
        if job is None:
            raise JobNotFound(f"no job with id {job_id!r}")
        return job

    def _finish(self, conn: sqlite3.Connection, job: Job, state: str, now: float, **detail: Any) -> None:
        """Record the terminal-state event and queue the webhook in the caller's transaction."""
        self._event(conn, job.id, state, now, **detail)
        if job.webhook_url:
            final = self._get(conn, job.id)
            payload = {"event": f"job.{state}", "job": final.public() if final else {"id": job.id, "state": state}}
            conn.execute(
                "INSERT INTO outbox(job_id, url, payload, next_attempt_at) VALUES (?, ?, ?, ?)",
                (job.id, job.webhook_url, canonical_json(payload), now),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- reads ----------------------------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        """The job ``job_id``; raises :class:`JobNotFound`."""
        with self._lock:
            job = self._get(self._conn, job_id)
        if job is None:
            raise JobNotFound(f"no job with id {job_id!r}")
        return job

    def list(
        self,
        *,
        state: str | None = None,
        kind: str | None = None,
        after: int = 0,
        limit: int = 50,
        submitter: str | None = None,
    ) -> tuple[list[Job], int | None]:
        """A page of jobs in submission order after cursor ``after`` (only ``submitter``'s when given); returns
        (jobs, next cursor or None)."""
        query, args = "SELECT * FROM jobs WHERE seq > ?", [after]
        if submitter is not None:
            query, args = query + " AND submitter = ?", [*args, submitter]
        if state is not None:
            query, args = query + " AND state = ?", [*args, state]
        if kind is not None:
            query, args = query + " AND kind = ?", [*args, kind]
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY seq LIMIT ?", (*args, limit + 1)).fetchall()
        jobs = [_row_to_job(r) for r in rows[:limit]]
        return jobs, (rows[limit - 1]["seq"] if len(rows) > limit else None)

    def counts(self) -> dict[str, int]:
        """Number of jobs per state."""
        with self._lock:
            rows = self._conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        return {s: 0 for s in STATES} | {r[0]: r[1] for r in rows}

    def events(self, job_id: str | None = None) -> list[dict[str, Any]]:
        """Events in order, for one job or all."""
        query, args = "SELECT * FROM events", ()
        if job_id is not None:
            query, args = query + " WHERE job_id = ?", (job_id,)
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY seq", args).fetchall()
        return [
            {"job_id": r["job_id"], "at": r["at"], "type": r["type"], "detail": json.loads(r["detail"])} for r in rows
        ]

    # -- submission -----------------------------------------------------------------------------------------------
    def submit(
        self,
        job_id: str,
        kind: str,
        spec: dict[str, Any],
        *,
        inputs: dict[str, str] | None = None,
        max_attempts: int = 3,
        webhook_url: str | None = None,
        max_unfinished: int | None = None,
        submitter: str | None = None,
    ) -> tuple[Job, bool]:
        """Idempotent submit: returns ``(job, created)``.

        The same id with the same request returns the existing job (``created=False``) whatever its state; the same
        id with another request raises :class:`JobConflict`; a new job beyond ``max_unfinished`` queued+running jobs
        raises :class:`QueueFull`.
        """
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        inputs = dict(inputs or {})
        digest = request_hash(kind, spec, inputs)
        now = self.clock()
        with self._tx() as conn:
            existing = self._get(conn, job_id)
            if existing is not None:
                if submitter is not None and existing.submitter != submitter:
                    raise JobConflict(f"job id {job_id!r} is taken; choose another id")
                if existing.request_hash != digest:
                    raise JobConflict(
                        f"job {job_id!r} already exists with a different request; use a new id or resend the same body"
                    )
                return existing, False
            if max_unfinished is not None:
                (unfinished,) = conn.execute(
                    "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
                ).fetchone()
                if unfinished >= max_unfinished:
                    raise QueueFull(
                        f"queue is full ({unfinished} unfinished jobs, limit {max_unfinished}); retry later"
                    )
            conn.execute(
                "INSERT INTO jobs(id, kind, spec, request_hash, inputs, state, max_attempts, webhook_url, submitter,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, kind, canonical_json(spec), digest, canonical_json(inputs), QUEUED, max_attempts, webhook_url,
                 submitter, now, now),
            )  # fmt: skip
            self._event(conn, job_id, "submitted", now, kind=kind)
            job = self._require(conn, job_id)
        return job, True

    # -- worker side ----------------------------------------------------------------------------------------------
    def claim(self, owner: str, lease_s: float, *, kinds: tuple[str, ...] | None = None) -> Job | None:
        """Take the oldest queued job (of ``kinds`` if given) with a lease of ``lease_s`` seconds, or None."""
        if lease_s <= 0:
            raise ValueError(f"lease_s must be > 0, got {lease_s}")
        now = self.clock()
        with self._tx() as conn:
            query, args = "SELECT id FROM jobs WHERE state = 'queued'", ()
            if kinds:
                query += f" AND kind IN ({','.join('?' * len(kinds))})"
                args = tuple(kinds)
            row = conn.execute(query + " ORDER BY seq LIMIT 1", args).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = ?, lease_expires = ?,"
                " heartbeat_at = ?, started_at = COALESCE(started_at, ?), progress = 0, message = 'started',"
                " updated_at = ? WHERE id = ?",
                (owner, now + lease_s, now, now, now, row["id"]),
            )
            job = self._require(conn, row["id"])
            self._event(conn, job.id, "claimed", now, owner=owner, attempt=job.attempts)
        return job

    def heartbeat(
        self, job_id: str, owner: str, lease_s: float, *, progress: float | None = None, message: str | None = None
    ) -> Heartbeat:
        """Extend the lease held by ``owner`` and store progress; ``alive=False`` if the lease is no longer ours."""
        now = self.clock()
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE jobs SET lease_expires = ?, heartbeat_at = ?, progress = COALESCE(?, progress),"
                " message = COALESCE(?, message), updated_at = ?"
                " WHERE id = ? AND state = 'running' AND lease_owner = ? AND lease_expires >= ?",
                (now + lease_s, now, progress, message, now, job_id, owner, now),
            )
            if cur.rowcount == 0:
                return Heartbeat(alive=False, cancel=True)
            (cancel_at,) = conn.execute("SELECT cancel_requested_at FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Heartbeat(alive=True, cancel=cancel_at is not None)

    def complete(self, job_id: str, owner: str, outputs: dict[str, dict[str, Any]]) -> bool:
        """Mark the job succeeded with its committed outputs; False (and no change) if ``owner`` lost the lease."""
        now = self.clock()
        with self._tx() as conn:
            job = self._get(conn, job_id)
            if job is None or job.state != RUNNING or job.lease_owner != owner or (job.lease_expires or 0) < now:
                return False
            conn.execute(
                "UPDATE jobs SET state = 'succeeded', outputs = ?, progress = 1, message = 'done', lease_owner = NULL,"
                " lease_expires = NULL, error = NULL, finished_at = ?, updated_at = ? WHERE id = ?",
                (canonical_json(outputs), now, now, job_id),
            )
            self._finish(conn, job, SUCCEEDED, now, owner=owner, attempt=job.attempts)
        return True

    def fail(self, job_id: str, owner: str, error: str, *, retryable: bool = True) -> str | None:
        """Report a failed attempt: re-queue it if retryable and attempts remain, else fail the job.

        Returns the new state, or None if ``owner`` no longer holds the lease.
        """
        now = self.clock()
        with self._tx() as conn:
            job = self._get(conn, job_id)
            if job is None or job.state != RUNNING or job.lease_owner != owner:
                return None
            return self._release(conn, job, error, now, retryable=retryable)

    def cancelled(self, job_id: str, owner: str | None = None) -> bool:
        """A running job stopped after a cancel request (by its worker, or by the supervisor's hard kill)."""
        now = self.clock()
        with self._tx() as conn:
            job = self._get(conn, job_id)
            if job is None or job.state != RUNNING or (owner is not None and job.lease_owner != owner):
                return False
            self._set_terminal(conn, job, CANCELLED, "cancelled on request", now)
        return True

    def _set_terminal(self, conn: sqlite3.Connection, job: Job, state: str, error: str | None, now: float) -> None:
        conn.execute(
            "UPDATE jobs SET state = ?, error = ?, lease_owner = NULL, lease_expires = NULL, message = ?,"
            " finished_at = ?, updated_at = ? WHERE id = ?",
            (state, error if state == FAILED else None, error or state, now, now, job.id),
        )
        self._finish(conn, job, state, now, error=error, attempt=job.attempts)

    def _release(self, conn: sqlite3.Connection, job: Job, error: str, now: float, *, retryable: bool) -> str:
        """Running job lost its attempt: requeue, cancel (if requested) or fail (attempts spent / not retryable)."""
        if job.cancel_requested_at is not None:
            self._set_terminal(conn, job, CANCELLED, "cancelled on request", now)
            return CANCELLED
        if retryable and job.attempts < job.max_attempts:
            conn.execute(
                "UPDATE jobs SET state = 'queued', error = ?, lease_owner = NULL, lease_expires = NULL,"
                " message = 'retrying', updated_at = ? WHERE id = ?",
                (error, now, job.id),
            )
            self._event(conn, job.id, "requeued", now, error=error, attempt=job.attempts)
            return QUEUED
        self._set_terminal(conn, job, FAILED, error, now)
        return FAILED

    # -- control --------------------------------------------------------------------------------------------------
    def request_cancel(self, job_id: str) -> Job:
        """Cancel a job: a queued job is cancelled at once; a running one is flagged for its worker to stop."""
        now = self.clock()
        with self._tx() as conn:
            job = self._get(conn, job_id)
            if job is None:
                raise JobNotFound(f"no job with id {job_id!r}")
            if job.state == QUEUED:
                self._set_terminal(conn, job, CANCELLED, "cancelled on request", now)
            elif job.state == RUNNING and job.cancel_requested_at is None:
                conn.execute(
                    "UPDATE jobs SET cancel_requested_at = ?, updated_at = ? WHERE id = ?", (now, now, job_id)
                )
                self._event(conn, job_id, "cancel_requested", now)
            job = self._require(conn, job_id)
        return job

    def reap(self) -> list[tuple[str, str]]:
        """Re-queue (or fail, when attempts are spent) running jobs whose lease expired; returns (id, new state)."""
        now = self.clock()
        changed = []
        with self._tx() as conn:
            rows = conn.execute("SELECT * FROM jobs WHERE state = 'running' AND lease_expires < ?", (now,)).fetchall()
            for row in rows:
                job = _row_to_job(row)
                error = f"worker {job.lease_owner} lost its lease (attempt {job.attempts} of {job.max_attempts})"
                changed.append((job.id, self._release(conn, job, error, now, retryable=True)))
        for job_id, state in changed:
            logger.info("reaper: job %s -> %s", job_id, state)
        return changed

    def overdue_cancels(self, grace_s: float) -> list[Job]:
        """Running jobs whose cancel was requested more than ``grace_s`` ago (candidates for a hard kill)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM jobs WHERE state = 'running' AND cancel_requested_at IS NOT NULL"
                " AND cancel_requested_at < ?",
                (self.clock() - grace_s,),
            ).fetchall()
        return [_row_to_job(r) for r in rows]

    # -- webhook outbox -------------------------------------------------------------------------------------------
    def due_deliveries(self, limit: int = 20) -> list[dict[str, Any]]:
        """Pending outbox rows whose next attempt is due."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM outbox WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY seq LIMIT ?",
                (self.clock(), limit),
            ).fetchall()
        return [dict(r) for r in rows]

    def record_delivery(self, seq: int, *, ok: bool, error: str | None, retry_at: float | None) -> None:
        """Outcome of one delivery attempt; ``retry_at=None`` after a failure gives up (state ``dead``)."""
        now = self.clock()
        with self._tx() as conn:
            if ok:
                conn.execute(
                    "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, delivered_at = ?,"
                    " last_error = NULL WHERE seq = ?",
                    (now, seq),
                )
            else:
                conn.execute(
                    "UPDATE outbox SET state = ?, attempts = attempts + 1, last_error = ?, next_attempt_at = ?"
                    " WHERE seq = ?",
                    ("pending" if retry_at is not None else "dead", error, retry_at or now, seq),
                )

    def outbox(self) -> list[dict[str, Any]]:
        """All outbox rows (for tests and inspection)."""
        with self._lock:
            return [dict(r) for r in self._conn.execute("SELECT * FROM outbox ORDER BY seq").fetchall()]
