"""Executors: who runs the worker loop. Both dispatch from the same ledger and expose the same interface.

- :class:`LocalExecutor`: one *spawned* worker process per device (spawn, never fork: a forked child of a process
  that initialised CUDA is unusable). A supervisor thread restarts dead workers, runs the reaper, and hard-kills a
  worker whose job ignored a cancel request for ``cancel_grace_s`` (then records the job as cancelled).
- :class:`RayExecutor`: one Ray actor per device (``num_gpus=1`` per actor on CUDA), each running the same worker
  loop against the same data directory (so the data dir must be on a file system all actors see; on one machine
  that is automatic). Needs ``pip install talkgen[scale]``.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from dataclasses import replace
from typing import Any, Protocol

from talkgen.errors import ConfigError
from talkgen.serve.ledger import Ledger
from talkgen.serve.worker import WorkerConfig, ledger_path, owner_pid, remove_scratch, worker_process_main

logger = logging.getLogger(__name__)


class Executor(Protocol):
    def start(self) -> None: ...

    def stop(self, timeout: float = 10.0) -> None: ...

    def alive_workers(self) -> int: ...


def default_devices(count: int) -> list[str]:
    """``count`` device names: one CUDA device each when available, else ``cpu``."""
    try:
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:
        gpus = 0
    return [f"cuda:{i % gpus}" if gpus else "cpu" for i in range(count)]


class LocalExecutor:
    """Spawned worker processes on this machine, supervised.

    Args:
        config: the worker settings (data dir, lease).
        workers: number of worker processes.
        devices: one device per worker (default: :func:`default_devices`).
        cancel_grace_s: how long a running job may ignore a cancel request before its worker is killed.
        supervise_s: supervisor tick (restart, reap, hard-kill checks).
    """

    def __init__(
        self,
        config: WorkerConfig,
        workers: int = 1,
        *,
        devices: list[str] | None = None,
        cancel_grace_s: float = 10.0,
        supervise_s: float = 0.5,
    ):
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        self.config = config
        self.devices = devices or default_devices(workers)
        if len(self.devices) != workers:
            raise ConfigError(f"got {len(self.devices)} devices for {workers} workers")
        self.cancel_grace_s = cancel_grace_s
        self.supervise_s = supervise_s
        self._ctx = mp.get_context("spawn")
        self._stop = self._ctx.Event()
        self._procs: list[Any] = [None] * workers
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self.restarts = 0

    def _spawn(self, slot: int) -> None:
        config = replace(self.config, device=self.devices[slot])
        proc = self._ctx.Process(
            target=worker_process_main, args=(config, self._stop), name=f"talkgen-worker-{slot}", daemon=True
        )
        proc.start()
        self._procs[slot] = proc
        logger.info("started worker %d (pid %s) on %s", slot, proc.pid, config.device)

    def start(self) -> None:
        removed = remove_scratch(self.config.data_dir)  # attempts of workers that are no longer alive
        if removed:
            logger.info("removed %d scratch folder(s) of attempts whose worker is gone", removed)
        with self._lock:
            for slot in range(len(self._procs)):
                self._spawn(slot)
        self._thread = threading.Thread(target=self._supervise, name="talkgen-supervisor", daemon=True)
        self._thread.start()

    def pids(self) -> list[int]:
        """Pids of the current worker processes (alive or not yet reaped)."""
        with self._lock:
            return [p.pid for p in self._procs if p is not None and p.pid is not None]

    def alive_workers(self) -> int:
        with self._lock:
            return sum(1 for p in self._procs if p is not None and p.is_alive())

    def _supervise(self) -> None:
        ledger = Ledger(ledger_path(self.config.data_dir))
        try:
            while not self._halt.wait(self.supervise_s):
                try:
                    self.tick(ledger)
                except Exception:
                    logger.exception("supervisor tick failed")
        finally:
            ledger.close()

    def tick(self, ledger: Ledger) -> None:
        """One supervision round: restart dead workers, hard-kill overdue cancels, reap expired leases."""
        with self._lock:
            for slot, proc in enumerate(self._procs):
                if proc is not None and not proc.is_alive() and not self._halt.is_set():
                    proc.join(0)
                    logger.warning("worker %d (pid %s) exited with %s; restarting", slot, proc.pid, proc.exitcode)
                    remove_scratch(self.config.data_dir, {proc.pid})
                    self.restarts += 1
                    self._spawn(slot)
            ours = {p.pid: p for p in self._procs if p is not None}
        for job in ledger.overdue_cancels(self.cancel_grace_s):
            pid = owner_pid(job.lease_owner or "")
            if pid in ours:
                logger.warning(
                    "job %s ignored its cancel for %.1fs: killing worker pid %d", job.id, self.cancel_grace_s, pid
                )
                os.kill(pid, signal.SIGKILL)
                ours[pid].join(5)
                remove_scratch(self.config.data_dir, {pid})
                ledger.cancelled(job.id, job.lease_owner)
        ledger.reap()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask workers to finish their current job, then kill whatever is left after ``timeout``."""
        self._halt.set()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        deadline = time.monotonic() + timeout
        with self._lock:
            for proc in self._procs:
                if proc is None:
                    continue
                proc.join(max(0.0, deadline - time.monotonic()))
                if proc.is_alive():
                    proc.kill()
                    proc.join(5)
            remove_scratch(self.config.data_dir, {p.pid for p in self._procs if p is not None})


class RayExecutor:
    """One Ray actor per device running the worker loop; jobs come from the same ledger.

    Args:
        config: worker settings (the data dir must be visible to every actor).
        workers: number of actors.
        address: a Ray cluster address; None starts/joins a local instance (``ray.init``) if none is running.
        gpus_per_actor: GPUs reserved by each actor (0 on CPU-only machines).
    """

    def __init__(
        self, config: WorkerConfig, workers: int = 1, *, address: str | None = None, gpus_per_actor: float = 0
    ):
        try:
            import ray  # noqa: F401
        except ImportError as exc:
            raise ConfigError("the Ray executor needs Ray: pip install 'talkgen[scale]'") from exc
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        self.config, self.workers, self.address, self.gpus_per_actor = config, workers, address, gpus_per_actor
        self._actors: list[Any] = []
        self._loops: list[Any] = []
        self._started_ray = False
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
            self._started_ray = True
        actor_cls = ray.remote(_RayWorker).options(
            num_cpus=1 if not self.gpus_per_actor else 0, num_gpus=self.gpus_per_actor, max_concurrency=2
        )
        device = "cuda" if self.gpus_per_actor else "cpu"
        self._actors = [actor_cls.remote(replace(self.config, device=device)) for _ in range(self.workers)]
        self._loops = [a.loop.remote() for a in self._actors]
        self._thread = threading.Thread(target=self._supervise, name="talkgen-ray-supervisor", daemon=True)
        self._thread.start()

    def _supervise(self) -> None:
        ledger = Ledger(ledger_path(self.config.data_dir))
        try:
            while not self._halt.wait(max(self.config.lease_s / 3, 0.2)):
                ledger.reap()
        finally:
            ledger.close()

    def alive_workers(self) -> int:
        import ray

        ready, _ = ray.wait(self._loops, num_returns=len(self._loops), timeout=0)
        return len(self._loops) - len(ready)

    def stop(self, timeout: float = 10.0) -> None:
        import ray

        self._halt.set()
        for actor in self._actors:
            actor.stop.remote()
        ray.wait(self._loops, num_returns=len(self._loops), timeout=timeout)
        for actor in self._actors:
            ray.kill(actor)
        if self._thread is not None:
            self._thread.join(timeout)
        if self._started_ray:
            ray.shutdown()


class _RayWorker:
    """Ray actor body (made remote in :meth:`RayExecutor.start`, so importing this module never needs Ray)."""

    def __init__(self, config: WorkerConfig):
        self.config = config
        self._stop = threading.Event()

    def loop(self) -> int:
        from talkgen.serve.worker import make_owner, run_worker

        return run_worker(self.config, self._stop.is_set, owner=make_owner("ray"))

    def stop(self) -> None:
        self._stop.set()


def make_executor(name: str, config: WorkerConfig, workers: int, **options: Any) -> Executor | None:
    """Executor by setting name: ``local``, ``ray`` or ``none`` (API only; workers run elsewhere)."""
    if name == "none" or workers == 0:
        return None
    if name == "local":
        return LocalExecutor(config, workers, **options)
    if name == "ray":
        return RayExecutor(config, workers, **options)
    raise ConfigError(f"unknown executor {name!r}; use local, ray or none")
