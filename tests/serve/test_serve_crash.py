"""Crash safety: workers SIGKILLed at random moments lose no job; a killed API keeps idempotent submits."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from talkgen.serve.executors import LocalExecutor
from talkgen.serve.jobs import SayRequest, run_say
from talkgen.serve.ledger import TERMINAL, Ledger
from talkgen.serve.worker import WorkerConfig, ledger_path, owner_pid

SENTENCE = "The studio queued job number {i} overnight, and the render farm spoke every line twice to lose nothing. "


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _clean_hashes(requests: list[dict], tmp_path) -> list[dict[str, str]]:
    """Hashes of each request's outputs from a clean in-process run."""
    hashes = []
    for n, request in enumerate(requests):
        out = tmp_path / "clean" / str(n)
        out.mkdir(parents=True)
        produced = run_say(SayRequest(**request), out, out, lambda f, m: None, lambda: False)
        hashes.append({name: _sha(path) for name, path in produced.items()})
    return hashes


def test_sigkilled_workers_lose_no_job(tmp_path, say_request):
    data = tmp_path / "data"
    ledger = Ledger(ledger_path(data))
    requests = [say_request(SENTENCE.format(i=i) * 4, max_attempts=4) for i in range(30)]
    for i, request in enumerate(requests):
        ledger.submit(f"job-{i:02d}", "say", SayRequest(**request).model_dump(mode="json"), max_attempts=4)
    lease_s = 1.5
    executor = LocalExecutor(WorkerConfig(str(data), lease_s=lease_s, poll_s=0.02), workers=2, supervise_s=0.1)
    objects = data / "store" / "objects"
    violations: list[str] = []
    done = threading.Event()

    def monitor() -> None:
        watch = Ledger(ledger_path(data))
        while not done.is_set():
            for path in objects.rglob("*"):  # a file under an output name is always complete
                if path.is_file() and _sha(path) != path.name:
                    violations.append(f"partial or wrong content under {path.name}")
            now = time.time()
            for job in watch.list(state="running", limit=100)[0]:
                if job.lease_expires is not None and job.lease_expires < now - 1.0:
                    violations.append(f"{job.id} still running {now - job.lease_expires:.2f}s after its lease expired")
            time.sleep(0.05)
        watch.close()

    rng = random.Random(1234)
    kills = 0
    watcher = threading.Thread(target=monitor, daemon=True)
    executor.start()
    watcher.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            counts = ledger.counts()
            if counts["queued"] + counts["running"] == 0:
                break
            if kills < 14:
                if kills % 2 == 0:  # aim at a worker that holds a lease, a few ms into its job
                    running = ledger.list(state="running", limit=10)[0]
                    pids = [owner_pid(j.lease_owner) for j in running if j.lease_owner]
                    pids = [p for p in pids if p in executor.pids()]
                    if not pids:
                        time.sleep(0.003)
                        continue
                    time.sleep(rng.uniform(0, 0.06))
                    victim = rng.choice(pids)
                else:  # anywhere: start-up, idle, mid-commit
                    time.sleep(rng.uniform(0.05, 0.6))
                    victim = rng.choice(executor.pids())
                try:
                    os.kill(victim, signal.SIGKILL)
                    kills += 1
                except ProcessLookupError:
                    pass
            time.sleep(0.02)
    finally:
        done.set()
        watcher.join(5)
        executor.stop(timeout=5)

    assert kills >= 10
    assert executor.restarts >= 10
    assert not list((data / "work").iterdir()), "scratch folders of killed attempts are removed"
    assert not violations, violations[:5]
    jobs = {job.id: job for job in ledger.list(limit=100)[0]}
    assert len(jobs) == 30 and all(job.state in ("succeeded", "failed") for job in jobs.values()), ledger.counts()
    terminal_events = [e["job_id"] for e in ledger.events() if e["type"] in TERMINAL]
    assert sorted(terminal_events) == sorted(jobs), "every job ends exactly once"
    assert sum(job.attempts for job in jobs.values()) > 30, "some attempts were lost to kills and retried"
    clean = _clean_hashes(requests, tmp_path)
    for i in range(30):
        job = jobs[f"job-{i:02d}"]
        assert job.attempts <= job.max_attempts
        if job.state == "failed":
            assert job.error, f"{job.id} failed without an error"
            continue
        assert {name: out["sha256"] for name, out in job.outputs.items()} == clean[i]
        for out in job.outputs.values():
            path = objects / out["sha256"][:2] / out["sha256"]
            assert _sha(path) == out["sha256"]
    assert sum(job.state == "succeeded" for job in jobs.values()) >= 25
    ledger.close()


def test_api_killed_mid_submit_keeps_idempotency(tmp_path, server_factory, say_request):
    data = tmp_path / "data"
    server = server_factory("--workers", "0", data=data).start()
    body = say_request("restart me")
    # kill the API while a submission is streaming its body
    with httpx.Client(base_url=server.url, timeout=10) as client:

        def slow_body():
            yield b'{"kind": "say", '
            server.kill()
            yield b'"text": "restart me", "sample_rate": 22050}'

        try:
            client.put("/v1/jobs/r1", content=slow_body(), headers={"content-type": "application/json"})
        except httpx.HTTPError:
            pass
    server = server_factory("--workers", "0", data=data).start()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        first = client.put("/v1/jobs/r1", json=body)
        assert first.status_code in (200, 201)
        created_at = first.json()["timings"]["created_at"]
        # a completed submit followed by an immediate kill: the job is durable
        server.kill()
    server = server_factory("--workers", "0", data=data).start()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        again = client.put("/v1/jobs/r1", json=body)
        assert again.status_code == 200
        assert again.json()["timings"]["created_at"] == created_at and again.json()["id"] == "r1"
        assert client.put("/v1/jobs/r1", json=say_request("another body")).status_code == 409
    server.stop()


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_no_worker_outlives_a_sigkilled_server(tmp_path, server_factory, say_request):
    data = tmp_path / "data"
    # a short lease: the restarted server below may reclaim the dead worker's job only once its lease has expired
    server = server_factory("--workers", "2", "--lease", "2", data=data).start()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").json()["workers"] != 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        client.put("/v1/jobs/long", json=say_request(SENTENCE.format(i=0) * 40))
        time.sleep(1.0)
    workers = _children(server.proc.pid)  # the spawned workers (and multiprocessing's resource tracker)
    assert workers, "the server has worker processes"
    server.kill()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{p}").exists() and "Z" not in _state(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in workers if Path(f"/proc/{p}").exists() and "Z" not in _state(p)], "a worker survived"
    # a restarted server reclaims the job the dead worker held, and no scratch folder of it stays behind
    server = server_factory("--workers", "1", "--lease", "2", data=data).start()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        deadline = time.monotonic() + 120
        while client.get("/v1/jobs/long").json()["state"] not in TERMINAL and time.monotonic() < deadline:
            time.sleep(0.3)
        assert client.get("/v1/jobs/long").json()["state"] == "succeeded"
    server.stop()
    assert not list((data / "work").iterdir())


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
