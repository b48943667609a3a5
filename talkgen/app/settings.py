"""Run-time settings of the web app (a frozen dataclass, validated on creation) and the auth file reader."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from talkgen.errors import ConfigError
from talkgen.media import MediaLimits

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_AUTH_FILE_BYTES = 64 * 1024


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_auth_file(path: str | Path) -> list[tuple[str, str]]:
    """Read ``user:password`` lines (blank lines and ``#`` comments skipped) into (user, password) pairs.

    Raises:
        ConfigError: missing, too large or malformed file, or no credentials in it.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"auth file not found: {p}; write one `user:password` per line")
    if p.stat().st_size > MAX_AUTH_FILE_BYTES:
        raise ConfigError(f"auth file {p} is larger than {MAX_AUTH_FILE_BYTES} bytes")
    pairs = []
    for number, raw in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user.strip() or not password:
            raise ConfigError(f"{p}:{number}: expected `user:password`")
        pairs.append((user.strip(), password))
    if not pairs:
        raise ConfigError(f"auth file {p} holds no `user:password` line")
    return pairs


@dataclass(frozen=True)
class AppSettings:
    """How the web app is served.

    Attributes:
        host: address to bind; anything but loopback needs ``auth``.
        port: TCP port (1-65535).
        auth: (user, password) pairs; None serves without a login (loopback only).
        max_file_size_mb: largest upload in MiB (refused by the browser and the server).
        queue_size: most requests waiting in the queue; one runs at a time (one device).
        max_video_seconds: longest footage or evaluation video accepted.
        temp_dir: folder for uploads and results (the launcher gives it a fresh one).
        allowed_paths: extra folders the app may serve files from (default: none).
    """

    host: str = "127.0.0.1"
    port: int = 7860
    auth: tuple[tuple[str, str], ...] | None = None
    max_file_size_mb: float = 50.0
    queue_size: int = 8
    max_video_seconds: float = 60.0
    temp_dir: Path | None = None
    allowed_paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.host:
            raise ConfigError("--host must not be empty")
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"--port must be 1..65535, got {self.port}")
        if not 0 < self.max_file_size_mb <= 4096:
            raise ConfigError(f"--max-file-size-mb must be in (0, 4096], got {self.max_file_size_mb}")
        if not 1 <= self.queue_size <= 1000:
            raise ConfigError(f"--queue-size must be 1..1000, got {self.queue_size}")
        if not 0 < self.max_video_seconds <= 1800:
            raise ConfigError(f"max_video_seconds must be in (0, 1800], got {self.max_video_seconds}")
        if self.auth is None and not is_loopback(self.host):
            raise ConfigError(
                f"--host {self.host} accepts connections from other machines; give --auth-file with user:password "
                "lines (or bind 127.0.0.1)"
            )

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_size_mb * 1024 * 1024)

    @property
    def media_limits(self) -> MediaLimits:
        """Limits for uploaded media: the upload size and the app's duration cap, defaults otherwise."""
        return MediaLimits(max_bytes=self.max_file_bytes, max_duration=self.max_video_seconds)
