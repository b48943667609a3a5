"""Content-addressed file store for job inputs and outputs.

A file enters the store in four steps: it is written (or copied) to a temporary name under ``tmp/``, fsynced,
hashed, and renamed to ``objects/<sha256[:2]>/<sha256>`` (then the directory is fsynced). The final name is the
hash of the content, so a reader never sees a partial file under an object name and a rerun of a deterministic
job can never leave two different outputs: it lands on the same name with the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from talkgen.errors import TalkgenError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class ObjectTooLarge(TalkgenError):
    """An upload exceeded the configured byte limit (HTTP 413)."""


class ContentStore:
    """Files named by their sha256 under ``root/objects``; temporaries under ``root/tmp`` (same file system)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.tmp = self.root / "tmp"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        """Where object ``sha256`` lives (it may not exist); rejects anything that is not a hex digest."""
        if not _SHA256.match(sha256):
            raise TalkgenError(f"{sha256!r} is not a sha256 hex digest (64 lowercase hex characters)")
        return self.objects / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def _publish(self, tmp_path: Path, digest: str) -> Path:
        """Rename a fsynced temporary onto its content name (idempotent: equal content, equal name)."""
        final = self.path(digest)
        final.parent.mkdir(exist_ok=True)
        if final.exists():
            tmp_path.unlink()
        else:
            os.replace(tmp_path, final)
            _fsync_dir(final.parent)
        return final

    def put_file(self, source: str | Path) -> tuple[str, int]:
        """Copy ``source`` into the store; returns ``(sha256, size)``."""
        with open(source, "rb") as fh:
            return self.put_stream(iter(lambda: fh.read(_CHUNK), b""))

    def put_stream(self, chunks: Iterable[bytes], *, max_bytes: int | None = None) -> tuple[str, int]:
        """Write byte chunks into the store; raises :class:`ObjectTooLarge` past ``max_bytes`` (nothing is kept)."""
        staging = self.stage(max_bytes=max_bytes)
        try:
            for chunk in chunks:
                staging.write(chunk)
        except BaseException:
            staging.abort()
            raise
        return staging.finish()

    def stage(self, *, max_bytes: int | None = None, suffix: str = "") -> Staging:
        """Start writing a new object under a temporary name (see :class:`Staging`)."""
        return Staging(self, max_bytes=max_bytes, suffix=suffix)

    def commit_output(self, produced: str | Path) -> tuple[str, int]:
        """Move a file a job produced into the store: fsync, hash, rename (the source is consumed)."""
        produced = Path(produced)
        fd, name = tempfile.mkstemp(dir=self.tmp, prefix="out-", suffix=".part")
        os.close(fd)
        tmp_path = Path(name)
        try:
            shutil.move(produced, tmp_path)  # a rename when the work dir is on the same file system
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
            digest = sha256_file(tmp_path)
            size = tmp_path.stat().st_size
            self._publish(tmp_path, digest)
            return digest, size
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise

    def link_into(self, sha256: str, dest: Path) -> Path:
        """Make object ``sha256`` visible at ``dest`` (hard link, or a copy across file systems), read-only use."""
        source = self.path(sha256)
        if not source.is_file():
            raise TalkgenError(f"input object {sha256} is not in the store; upload it first (POST /v1/uploads)")
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, dest)
        except OSError:
            shutil.copyfile(source, dest)
        return dest

    def clean_tmp(self, older_than_s: float = 3600.0) -> int:
        """Remove temporaries older than ``older_than_s`` (left by killed processes); returns how many."""
        removed, cutoff = 0, time.time() - older_than_s
        for path in self.tmp.iterdir():
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


class Staging:
    """An object being written: ``write`` chunks, then ``finish`` (fsync, hash, optional check, rename) or ``abort``.

    ``finish(check=fn)`` calls ``fn(tmp_path)`` on the complete, fsynced temporary before it gets its content name,
    so a refused upload never appears in the store.
    """

    def __init__(self, store: ContentStore, *, max_bytes: int | None, suffix: str):
        self.store, self.max_bytes, self.size = store, max_bytes, 0
        self._digest = hashlib.sha256()
        fd, name = tempfile.mkstemp(dir=store.tmp, prefix="in-", suffix=suffix)
        self.path = Path(name)
        self._fh = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            self.abort()
            raise ObjectTooLarge(f"upload is larger than the limit of {self.max_bytes} bytes")
        self._digest.update(chunk)
        self._fh.write(chunk)

    def finish(self, check: Callable[[Path], object] | None = None) -> tuple[str, int]:
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            if check is not None:
                check(self.path)
            digest = self._digest.hexdigest()
            self.store._publish(self.path, digest)
            return digest, self.size
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        self.path.unlink(missing_ok=True)
