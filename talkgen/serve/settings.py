"""Run-time settings of ``talkgen serve`` (a frozen dataclass validated in ``__post_init__``)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from talkgen.errors import ConfigError

TOKENS_ENV = "TALKGEN_SERVE_TOKENS"  # comma-separated bearer tokens
WEBHOOK_SECRET_ENV = "TALKGEN_WEBHOOK_SECRET"
MIN_TOKEN_CHARS = 16


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_token_scopes(token_file: str | Path | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(every accepted token, the client tokens among them) from ``token_file`` and ``TALKGEN_SERVE_TOKENS``.

    One token per line (``#`` comments). A bare token is an admin token (sees every job); ``client TOKEN`` is a client
    token: it sees, cancels and fetches only the jobs it submitted.
    """
    tokens: list[str] = []
    clients: list[str] = []
    if token_file is not None:
        path = Path(token_file)
        if not path.is_file():
            raise ConfigError(f"token file {path} does not exist; create it with one token per line")
        for line in path.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if not words or words[0].startswith("#"):
                continue
            if len(words) == 2 and words[0] == "client":
                clients.append(words[1])
                tokens.append(words[1])
            elif len(words) == 1:
                tokens.append(words[0])
            else:
                raise ConfigError(
                    f"token file {path}: a line is `TOKEN` (admin) or `client TOKEN`, got {len(words)} words"
                )
    tokens += [t.strip() for t in os.environ.get(TOKENS_ENV, "").split(",") if t.strip()]
    short = [t for t in tokens if len(t) < MIN_TOKEN_CHARS]
    if short:
        raise ConfigError(f"{len(short)} token(s) shorter than {MIN_TOKEN_CHARS} characters; use long random tokens")
    return tuple(dict.fromkeys(tokens)), tuple(dict.fromkeys(clients))


def load_tokens(token_file: str | Path | None = None) -> tuple[str, ...]:
    """Every accepted bearer token (see :func:`load_token_scopes`)."""
    return load_token_scopes(token_file)[0]


def load_webhook_secret(secret_file: str | Path | None = None) -> bytes | None:
    """The webhook HMAC key from a file or ``TALKGEN_WEBHOOK_SECRET``; None disables webhooks."""
    if secret_file is not None:
        path = Path(secret_file)
        if not path.is_file():
            raise ConfigError(f"webhook secret file {path} does not exist")
        return path.read_bytes().strip() or None
    value = os.environ.get(WEBHOOK_SECRET_ENV, "")
    return value.encode() if value else None


@dataclass(frozen=True)
class ServeSettings:
    """Everything ``talkgen serve`` needs.

    Attributes:
        data_dir: ledger, content store and scratch space live here (nothing is written elsewhere).
        host, port: bind address; loopback by default. A non-loopback host requires tokens.
        executor: ``local`` (spawned processes), ``ray`` (actors) or ``none`` (API only).
        workers: worker processes/actors (0 = API only).
        tokens: accepted bearer tokens; empty = no auth (loopback only).
        client_tokens: those of ``tokens`` that see only the jobs they submitted (the others are admin tokens).
        lease_s: job lease; workers heartbeat every ``lease_s / 3``.
        max_queue: queued+running jobs beyond which submissions get HTTP 429.
        max_body_bytes: limit for JSON request bodies (HTTP 413 beyond).
        max_upload_bytes: limit for one upload (also capped by the media limits' ``max_bytes``).
        cancel_grace_s: a running job ignoring its cancel this long gets its worker killed.
        reap_s: reaper period in the API process.
        webhook_secret: HMAC key for webhooks; None = webhooks are refused at submit.
        webhook_allow: addresses or networks (``127.0.0.1``, ``10.0.0.0/8``) webhooks may reach besides public
            addresses; loopback, link-local, private and reserved ones are refused otherwise.
    """

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8765
    executor: str = "local"
    workers: int = 1
    tokens: tuple[str, ...] = ()
    client_tokens: tuple[str, ...] = ()
    lease_s: float = 30.0
    max_queue: int = 1000
    max_body_bytes: int = 1 << 20
    max_upload_bytes: int = 2 << 30
    cancel_grace_s: float = 10.0
    reap_s: float = 2.0
    webhook_secret: bytes | None = field(default=None, repr=False)
    webhook_allow: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).resolve())
        if self.executor not in ("local", "ray", "none"):
            raise ConfigError(f"executor must be local, ray or none, got {self.executor!r}")
        if self.workers < 0:
            raise ConfigError(f"workers must be >= 0, got {self.workers}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} is out of range")
        if self.lease_s <= 0 or self.reap_s <= 0 or self.cancel_grace_s < 0:
            raise ConfigError("lease_s and reap_s must be > 0, cancel_grace_s >= 0")
        if self.max_queue < 1 or self.max_body_bytes < 1024 or self.max_upload_bytes < 1024:
            raise ConfigError("max_queue must be >= 1 and the byte limits >= 1024")
        if set(self.client_tokens) - set(self.tokens):
            raise ConfigError("every client token must also be an accepted token")
        for entry in self.webhook_allow:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ConfigError(
                    f"--webhook-allow {entry!r} is not an address or network (e.g. 10.0.0.0/8)"
                ) from None
        if not self.tokens and not is_loopback(self.host):
            raise ConfigError(
                f"refusing to listen on {self.host} without auth: give --token-file or set {TOKENS_ENV}, "
                "or bind 127.0.0.1"
            )
