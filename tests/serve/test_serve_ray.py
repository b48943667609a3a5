"""Ray executor: a local Ray instance runs jobs from the same ledger to completion."""

from __future__ import annotations

import time

import pytest

from talkgen.serve.executors import RayExecutor
from talkgen.serve.jobs import SayRequest
from talkgen.serve.ledger import Ledger
from talkgen.serve.worker import WorkerConfig, ledger_path

ray = pytest.importorskip("ray")


def test_ray_executor_runs_ledger_jobs(tmp_path, say_request):
    data = tmp_path / "data"
    ledger = Ledger(ledger_path(data))
    for i in range(4):
        ledger.submit(f"r{i}", "say", SayRequest(**say_request(f"ray job {i}")).model_dump(mode="json"))
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    executor = RayExecutor(WorkerConfig(str(data), lease_s=5, poll_s=0.05), workers=1)
    try:
        executor.start()
        deadline = time.monotonic() + 60
        while ledger.counts()["succeeded"] < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert executor.alive_workers() == 1, ledger.counts()
    finally:
        executor.stop(timeout=10)
        ray.shutdown()
    jobs = ledger.list()[0]
    assert [j.state for j in jobs] == ["succeeded"] * 4, [(j.id, j.state, j.error) for j in jobs]
    assert all(j.started_at is not None and j.finished_at >= j.started_at for j in jobs)
    claims = [e for e in ledger.events() if e["type"] == "claimed"]
    assert {e["detail"]["owner"].split(":")[0] for e in claims} == {"ray"}
    ledger.close()
