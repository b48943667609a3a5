"""Running the bundled ffmpeg binary safely: argument lists only, a protocol whitelist, timeouts that kill.

Every ffmpeg invocation in talkgen goes through :func:`ffmpeg_command`, which builds the argument list with
``-protocol_whitelist file,pipe`` placed before every ``-i`` (so ffmpeg can never open a network URL, a
``concat:`` or ``subfile:`` pseudo-protocol, or anything but plain files and pipes), ``-nostdin`` and no shell.
Processes are started in their own session so that a timeout kills the whole process group.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from talkgen.errors import MediaError

logger = logging.getLogger(__name__)

PROTOCOL_WHITELIST = "file,pipe"


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with ``imageio-ffmpeg`` (no system ffmpeg or ffprobe is needed)."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise MediaError("imageio-ffmpeg is not installed; install talkgen's dependencies") from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_command(inputs: Sequence[tuple[Sequence[str], str]], outputs: Sequence[str]) -> list[str]:
    """Build an ffmpeg argument list.

    Args:
        inputs: ``(input_options, source)`` pairs; each becomes ``[*input_options, "-protocol_whitelist",
            "file,pipe", "-i", source]``. ``source`` is a file path or ``"pipe:"``/``"-"``.
        outputs: output options and the output target(s), appended verbatim.

    Returns:
        The full argument list, starting with the ffmpeg executable.
    """
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin"]
    for options, source in inputs:
        src = os.fspath(source)
        if src not in ("-", "pipe:", "pipe:0") and not src.startswith(("/", ".")):
            # A relative name such as "http:foo" or "concat:a|b" would be read as a protocol: anchor it.
            src = os.path.join(".", src)
        cmd += [*options, "-protocol_whitelist", PROTOCOL_WHITELIST, "-i", src]
    cmd += list(outputs)
    return cmd


@dataclass(frozen=True)
class FfmpegResult:
    """Outcome of a finished ffmpeg run: exit code, captured stdout bytes and stderr text."""

    returncode: int
    stdout: bytes
    stderr: str


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


def run_ffmpeg(cmd: list[str], *, timeout: float, what: str, stdin: bytes | None = None) -> FfmpegResult:
    """Run ``cmd`` (from :func:`ffmpeg_command`) to completion with a hard timeout.

    Args:
        cmd: argument list; never passed through a shell.
        timeout: seconds before the whole process group is killed.
        what: the file being handled, named in errors.
        stdin: bytes fed to the process, if any.

    Raises:
        MediaError: when the process does not finish within ``timeout`` seconds.
    """
    logger.debug("ffmpeg: %s", cmd)
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.communicate()
        raise MediaError(
            f"{what}: ffmpeg did not finish within the {timeout:g} s timeout (MediaLimits.probe_timeout / "
            "decode_timeout); the file may be malformed or too large"
        ) from None
    finally:
        if proc.poll() is None:  # pragma: no cover - only on KeyboardInterrupt and the like
            _kill_group(proc)
    return FfmpegResult(proc.returncode, out, err.decode("utf-8", "replace"))


class FfmpegStream:
    """A running ffmpeg process whose stdout is read incrementally, with a watchdog timeout.

    Use as a context manager; leaving the block kills the process if it is still running. ``stderr`` is written
    to an unnamed temp file so that a chatty decoder can never block on a full pipe.
    """

    def __init__(self, cmd: list[str], *, timeout: float, what: str, stdin_pipe: bool = False) -> None:
        import tempfile

        self.what = what
        self.timeout = timeout
        self.timed_out = False
        self._err = tempfile.TemporaryFile()
        logger.debug("ffmpeg stream: %s", cmd)
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._err,
            start_new_session=True,
        )
        self._timer = threading.Timer(timeout, self._on_timeout)
        self._timer.daemon = True
        self._timer.start()

    def _on_timeout(self) -> None:
        self.timed_out = True
        _kill_group(self.proc)

    def read_exact(self, n: int) -> bytes:
        """Read up to ``n`` bytes from stdout; fewer only at end of stream."""
        stdout = self.proc.stdout
        if stdout is None:  # pragma: no cover - Popen(stdout=PIPE) always sets it
            raise RuntimeError("ffmpeg stdout is not a pipe")
        chunks, got = [], 0
        while got < n:
            chunk = stdout.read(n - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def finish(self) -> tuple[int, str]:
        """Wait for the process; return ``(returncode, stderr text)``. Raises MediaError on timeout."""
        try:
            rc = self.proc.wait(timeout=max(self.timeout, 1.0))
        except subprocess.TimeoutExpired:
            self._on_timeout()
            rc = self.proc.wait()
        self._timer.cancel()
        if self.timed_out:
            raise MediaError(
                f"{self.what}: ffmpeg did not finish within the {self.timeout:g} s timeout "
                "(MediaLimits.decode_timeout); the file may be malformed or too long"
            )
        self._err.seek(0)
        return rc, self._err.read().decode("utf-8", "replace")

    def close(self) -> None:
        self._timer.cancel()
        if self.proc.poll() is None:
            _kill_group(self.proc)
            self.proc.wait()
        for f in (self.proc.stdout, self.proc.stdin):
            if f is not None:
                with contextlib.suppress(OSError):
                    f.close()
        self._err.close()

    def __enter__(self) -> FfmpegStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def error_lines(stderr: str, limit: int = 3) -> str:
    """The last few meaningful lines of ffmpeg's stderr, joined for an error message."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.startswith(" ")]
    return " | ".join(lines[-limit:])
