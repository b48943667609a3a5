"""Benchmark of the batch API: submit throughput and end-to-end 'say' job throughput.

Baselines measured in the same run: raw ``Ledger.submit`` (no HTTP) for the submit path, and calling the 'say'
kind directly in-process (no ledger, no workers) for the job path. Writes ``benchmarks/results/serve.json``.

Run: ``python benchmarks/bench_serve.py``
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
from common import cpu_model
from fastapi.testclient import TestClient

from talkgen.serve.api import create_app
from talkgen.serve.executors import LocalExecutor
from talkgen.serve.jobs import SayRequest, run_say
from talkgen.serve.ledger import Ledger
from talkgen.serve.settings import ServeSettings
from talkgen.serve.worker import WorkerConfig, ledger_path

N_SUBMIT = 500
N_JOBS = 20


def spec(i: int) -> dict:
    return SayRequest(kind="say", text=f"Benchmark line number {i}, spoken offline.", sample_rate=22050).model_dump(
        mode="json"
    )


def bench_submit(root: Path) -> dict:
    ledger = Ledger(root / "raw" / "ledger.sqlite3")
    t = time.perf_counter()
    for i in range(N_SUBMIT):
        ledger.submit(f"j{i}", "say", spec(i))
    raw = N_SUBMIT / (time.perf_counter() - t)
    ledger.close()
    with TestClient(create_app(ServeSettings(root / "api", workers=0, max_queue=10 * N_SUBMIT))) as client:
        t = time.perf_counter()
        for i in range(N_SUBMIT):
            if client.put(f"/v1/jobs/j{i}", json=spec(i)).status_code != 201:
                raise RuntimeError("submit failed")
        api = N_SUBMIT / (time.perf_counter() - t)
        t = time.perf_counter()
        for i in range(N_SUBMIT):
            client.put(f"/v1/jobs/j{i}", json=spec(i))
        resubmit = N_SUBMIT / (time.perf_counter() - t)
    return {"ledger_submit_per_s": raw, "http_submit_per_s": api, "http_idempotent_resubmit_per_s": resubmit}


def bench_jobs(root: Path, workers: int) -> dict:
    out = root / "direct"
    out.mkdir(parents=True)
    t = time.perf_counter()
    for i in range(N_JOBS):
        d = out / str(i)
        d.mkdir()
        run_say(SayRequest(**spec(i)), d, d, lambda f, m: None, lambda: False)
    direct = N_JOBS / (time.perf_counter() - t)
    data = root / "served"
    ledger = Ledger(ledger_path(data))
    executor = LocalExecutor(WorkerConfig(str(data), lease_s=10, poll_s=0.02), workers=workers, supervise_s=0.2)
    executor.start()
    while executor.alive_workers() < workers:
        time.sleep(0.05)
    time.sleep(3.0)  # let spawned workers finish importing before the clock starts
    t = time.perf_counter()
    for i in range(N_JOBS):
        ledger.submit(f"j{i}", "say", spec(i))
    while ledger.counts()["succeeded"] < N_JOBS:
        time.sleep(0.01)
    served = N_JOBS / (time.perf_counter() - t)
    executor.stop()
    ledger.close()
    return {"direct_say_jobs_per_s": direct, f"served_say_jobs_per_s_{workers}_workers": served}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        results = {
            "machine": {
                "cpu": cpu_model(),
                "cores": os.cpu_count(),
                "torch": torch.__version__,
                "python": platform.python_version(),
            },
            "submit": bench_submit(root),
            "jobs": bench_jobs(root, workers=2),
        }
    out = Path(__file__).parent / "results" / "serve.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))  # noqa: T201 - a script's output


if __name__ == "__main__":
    main()
