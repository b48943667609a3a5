"""Signed webhooks, delivered from the ledger's outbox with retries.

The ledger writes an outbox row in the same transaction that makes a job terminal, so a notification is never lost
(at-least-once delivery: receivers dedupe on ``X-Talkgen-Delivery``). Each POST carries::

    X-Talkgen-Timestamp: <unix seconds>
    X-Talkgen-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
    X-Talkgen-Delivery: <outbox row id>

Receivers recompute the HMAC with :func:`verify_signature` (constant-time) and reject stale timestamps.

Where a webhook may go (:func:`check_webhook_url`, at submission and again at every delivery): ``http``/``https``
only, no credentials in the URL, and the host must resolve to public addresses only; loopback, link-local (cloud
metadata), private, multicast and reserved addresses are refused unless the server's allowlist names them. A
delivery connects to the address it just checked (no second lookup an attacker's DNS could answer differently) and
follows no redirect.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import logging
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from talkgen.errors import ConfigError
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


@dataclass(frozen=True)
class WebhookTarget:
    """A checked webhook URL: where to connect (``address``, resolved and allowed) and what to ask for."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def _allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow: Sequence[str]) -> bool:
    for entry in allow:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return address.is_global and not address.is_multicast


def check_webhook_url(url: str, allow: Sequence[str] = (), resolve=socket.getaddrinfo) -> WebhookTarget:
    """Check a webhook URL against the policy (module docstring); the target to connect to.

    Args:
        allow: addresses or networks (``127.0.0.1``, ``10.0.0.0/8``) the operator allows besides public ones.

    Raises:
        ConfigError: naming what is refused (scheme, credentials, an address that is not public, no address).
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"webhook_url must be http or https, got {parts.scheme or 'no scheme'!r}")
    if parts.username is not None or parts.password is not None:
        raise ConfigError("webhook_url must not carry credentials (user:password@); sign with the webhook secret")
    if not parts.hostname:
        raise ConfigError("webhook_url has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ConfigError("webhook_url has an invalid port") from None
    try:
        infos = resolve(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise ConfigError(f"webhook_url host {parts.hostname!r} does not resolve") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses:
        raise ConfigError(f"webhook_url host {parts.hostname!r} does not resolve")
    refused = [a for a in addresses if not _allowed(a, allow)]
    if refused:
        raise ConfigError(
            f"webhook_url host {parts.hostname!r} resolves to {refused[0]}, which is not a public address "
            "(loopback, link-local, private and reserved addresses need the server's --webhook-allow)"
        )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return WebhookTarget(parts.scheme, parts.hostname, port, path, str(addresses[0]))


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address, with the certificate checked against the URL's host name."""

    def __init__(self, target: WebhookTarget, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(target: WebhookTarget, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST ``body`` to the pinned ``target``; the HTTP status (redirects are answers, never followed)."""
    if target.scheme == "https":
        conn: http.client.HTTPConnection = _PinnedHTTPSConnection(target, timeout)
    else:
        conn = http.client.HTTPConnection(target.address, target.port, timeout=timeout)
    host = target.host if ":" not in target.host else f"[{target.host}]"
    default_port = 443 if target.scheme == "https" else 80
    try:
        conn.request("POST", target.path, body=body, headers={
            **headers, "Host": host if target.port == default_port else f"{host}:{target.port}"})  # fmt: skip
        response = conn.getresponse()
        response.read(1 << 16)
        return response.status
    finally:
        conn.close()


class WebhookDispatcher:
    """Background thread delivering due outbox rows.

    Args:
        ledger: the ledger holding the outbox.
        secret: the HMAC key shared with receivers.
        max_attempts: deliveries tried before a row is marked ``dead``.
        backoff_s: first retry delay; doubles per attempt (capped at 10 minutes).
        timeout_s: HTTP timeout per attempt.
        poll_s: how often the outbox is checked.
        allow: addresses or networks webhooks may reach besides public ones (:func:`check_webhook_url`).
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
        allow: Sequence[str] = (),
    ):
        if not secret:
            raise ValueError("webhook secret must not be empty")
        self.ledger, self.secret = ledger, secret
        self.max_attempts, self.backoff_s, self.timeout_s, self.poll_s = max_attempts, backoff_s, timeout_s, poll_s
        self.allow = tuple(allow)
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def deliver_once(self, row: dict) -> bool:
        """Try one outbox row; records the outcome in the ledger and returns whether it was delivered."""
        body = row["payload"].encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "talkgen-webhook/1",
            "X-Talkgen-Timestamp": timestamp,
            "X-Talkgen-Signature": sign(self.secret, timestamp, body),
            "X-Talkgen-Delivery": str(row["seq"]),
        }
        try:
            status = post(check_webhook_url(row["url"], self.allow), body, headers, self.timeout_s)
            ok = 200 <= status < 300
            error = None if ok else f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
        except ConfigError as exc:  # the address changed since submission, or the allowlist did
            ok, error = False, f"refused: {exc}"
        except (OSError, http.client.HTTPException) as exc:
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
