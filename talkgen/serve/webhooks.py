"""Signed webhooks, delivered from the ledger's outbox with retries.

The ledger writes an outbox row in the same transaction that makes a job terminal, so a notification is never lost
(at-least-once delivery: receivers dedupe on ``X-Talkgen-Delivery``). Each POST carries::

    X-Talkgen-Timestamp: <unix seconds>
    X-Talkgen-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
    X-Talkgen-Delivery: <outbox row id>

Receivers recompute the HMAC with :func:`verify_signature` (constant-time) and reject stale timestamps.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
import urllib.error
import urllib.request

from talkgen.serve.ledger import Ledger

logger = logging.getLogger(__name__)


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` HMAC of ``timestamp.body``."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, timestamp: str, body: bytes, signature: str, *, max_age_s: float = 300.0) -> bool:
    """True if ``signature`` is valid for ``body`` and the timestamp is within ``max_age_s`` of now."""
    try:
        age = abs(time.time() - float(timestamp))
    except ValueError:
        return False
    return age <= max_age_s and hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookDispatcher:
    """Background thread delivering due outbox rows.

    Args:
        ledger: the ledger holding the outbox.
        secret: the HMAC key shared with receivers.
        max_attempts: deliveries tried before a row is marked ``dead``.
        backoff_s: first retry delay; doubles per attempt (capped at 10 minutes).
        timeout_s: HTTP timeout per attempt.
        poll_s: how often the outbox is checked.
    """

    def __init__(
        self,
        ledger: Ledger,
        secret: bytes,
        *,
        max_attempts: int = 8,
        backoff_s: float = 2.0,
        timeout_s: float = 10.0,
        poll_s: float = 0.5,
    ):
        if not secret:
            raise ValueError("webhook secret must not be empty")
        self.ledger, self.secret = ledger, secret
        self.max_attempts, self.backoff_s, self.timeout_s, self.poll_s = max_attempts, backoff_s, timeout_s, poll_s
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def deliver_once(self, row: dict) -> bool:
        """Try one outbox row; records the outcome in the ledger and returns whether it was delivered."""
        body = row["payload"].encode()
        timestamp = str(int(time.time()))
        request = urllib.request.Request(
            row["url"],
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "talkgen-webhook/1",
                "X-Talkgen-Timestamp": timestamp,
                "X-Talkgen-Signature": sign(self.secret, timestamp, body),
                "X-Talkgen-Delivery": str(row["seq"]),
            },
        )
        error = None
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 - http(s) only
                ok = 200 <= response.status < 300
                error = None if ok else f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            ok, error = False, f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"
        attempts = row["attempts"] + 1
        retry_at = None
        if not ok and attempts < self.max_attempts:
            retry_at = self.ledger.clock() + min(self.backoff_s * 2 ** (attempts - 1), 600.0)
        self.ledger.record_delivery(row["seq"], ok=ok, error=error, retry_at=retry_at)
        if not ok:
            logger.warning("webhook %s for job %s failed (attempt %d): %s", row["url"], row["job_id"], attempts, error)
        return ok

    def run_due(self) -> int:
        """Deliver every due row once; returns how many were delivered."""
        return sum(self.deliver_once(row) for row in self.ledger.due_deliveries())

    def _loop(self) -> None:
        while not self._halt.wait(self.poll_s):
            try:
                self.run_due()
            except Exception:
                logger.exception("webhook dispatch failed")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="talkgen-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(self.timeout_s + 1)
