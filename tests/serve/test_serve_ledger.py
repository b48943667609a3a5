"""The job ledger: idempotent submit, leases, reaper, attempts, cancel, and a hypothesis state machine."""

from __future__ import annotations

import sqlite3

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from talkgen.serve.ledger import TERMINAL, JobConflict, Ledger, QueueFull


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def ledger(tmp_path, clock):
    led = Ledger(tmp_path / "ledger.sqlite3", clock=clock)
    yield led
    led.close()


def test_durability_pragmas(ledger, tmp_path):
    conn = sqlite3.connect(tmp_path / "ledger.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ledger._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_idempotent_submit_and_conflict(ledger):
    job, created = ledger.submit("a", "say", {"text": "hi"})
    again, created_again = ledger.submit("a", "say", {"text": "hi"})
    assert created and not created_again and again.created_at == job.created_at
    with pytest.raises(JobConflict, match="different request"):
        ledger.submit("a", "say", {"text": "other"})
    with pytest.raises(JobConflict):
        ledger.submit("a", "say", {"text": "hi"}, inputs={"x": "0" * 64})


def test_queue_limit_does_not_block_resubmit(ledger):
    ledger.submit("a", "say", {"t": 1}, max_unfinished=1)
    with pytest.raises(QueueFull, match="limit 1"):
        ledger.submit("b", "say", {"t": 2}, max_unfinished=1)
    assert not ledger.submit("a", "say", {"t": 1}, max_unfinished=1)[1]


def test_lease_expiry_requeues_then_fails_with_last_error(ledger, clock):
    ledger.submit("a", "say", {}, max_attempts=2)
    first = ledger.claim("w1", 5)
    assert first.state == "running" and first.attempts == 1 and ledger.claim("w2", 5) is None
    clock.now += 6
    assert ledger.heartbeat("a", "w1", 5).alive is False  # expired: the lease is gone
    assert ledger.reap() == [("a", "queued")]
    assert ledger.complete("a", "w1", {}) is False  # the old owner can no longer commit
    second = ledger.claim("w2", 5)
    assert second.attempts == 2 and second.lease_owner == "w2"
    clock.now += 6
    assert ledger.reap() == [("a", "failed")]
    job = ledger.get("a")
    assert job.state == "failed" and "w2 lost its lease (attempt 2 of 2)" in job.error
    assert [e["type"] for e in ledger.events("a")] == ["submitted", "claimed", "requeued", "claimed", "failed"]


def test_heartbeat_extends_lease_and_relays_cancel(ledger, clock):
    ledger.submit("a", "say", {})
    ledger.claim("w", 5)
    clock.now += 4
    beat = ledger.heartbeat("a", "w", 5, progress=0.5, message="half")
    assert beat.alive and not beat.cancel
    clock.now += 4  # 8 s after the claim, 4 s after the heartbeat: still leased
    assert ledger.reap() == []
    assert ledger.get("a").progress == 0.5
    ledger.request_cancel("a")
    beat = ledger.heartbeat("a", "w", 5)
    assert beat.alive and beat.cancel
    assert ledger.cancelled("a", "w") and ledger.get("a").state == "cancelled"


def test_non_retryable_failure_and_webhook_outbox(ledger):
    ledger.submit("a", "say", {}, webhook_url="http://127.0.0.1:9/hook")
    ledger.claim("w", 5)
    assert ledger.fail("a", "w", "SpeechError: bad voice", retryable=False) == "failed"
    assert ledger.get("a").error == "SpeechError: bad voice"
    (row,) = ledger.outbox()
    assert row["job_id"] == "a" and '"job.failed"' in row["payload"]


def test_cancel_queued_is_immediate(ledger):
    ledger.submit("a", "say", {})
    assert ledger.request_cancel("a").state == "cancelled"
    assert ledger.claim("w", 5) is None


class LedgerMachine(RuleBasedStateMachine):
    """Random interleavings of workers, clock, reaper and clients against a model of the rules."""

    MAX = 3

    def __init__(self):
        super().__init__()
        import tempfile

        self.dir = tempfile.TemporaryDirectory()
        self.clock = Clock()
        self.ledger = Ledger(f"{self.dir.name}/l.sqlite3", clock=self.clock)
        self.ids: list[str] = []
        self.held: dict[str, str] = {}  # job -> owner that claimed it last
        self.terminal: dict[str, str] = {}

    def teardown(self):
        self.ledger.close()
        self.dir.cleanup()

    @rule(n=st.integers(0, 5))
    def submit(self, n):
        job_id = f"j{n}"
        job, created = self.ledger.submit(job_id, "say", {"n": n}, max_attempts=self.MAX)
        if created:
            self.ids.append(job_id)

    @rule(worker=st.sampled_from(["w1", "w2", "w3"]))
    def claim(self, worker):
        job = self.ledger.claim(worker, 10)
        if job is not None:
            assert job.id not in self.terminal
            self.held[job.id] = worker

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def heartbeat(self, data):
        job_id = data.draw(st.sampled_from(sorted(self.held)))
        self.ledger.heartbeat(job_id, self.held[job_id], 10)

    @precondition(lambda self: self.held)
    @rule(data=st.data(), retry=st.booleans())
    def finish(self, data, retry):
        job_id = data.draw(st.sampled_from(sorted(self.held)))
        owner = self.held[job_id]
        if data.draw(st.booleans()):
            self.ledger.complete(job_id, owner, {"o": {"sha256": "0" * 64, "size": 1}})
        else:
            self.ledger.fail(job_id, owner, "boom", retryable=retry)

    @precondition(lambda self: self.ids)
    @rule(data=st.data())
    def cancel(self, data):
        self.ledger.request_cancel(data.draw(st.sampled_from(self.ids)))

    @rule(dt=st.floats(0, 15))
    def tick(self, dt):
        self.clock.now += dt

    @rule()
    def reap(self):
        self.ledger.reap()

    @invariant()
    def rules_hold(self):
        jobs, _ = self.ledger.list(limit=100)
        for job in jobs:
            assert job.attempts <= job.max_attempts
            assert (job.lease_owner is not None) == (job.state == "running")
            if job.id in self.terminal:
                assert job.state == self.terminal[job.id], "terminal states stay terminal"
            if job.state == "running":
                assert job.lease_owner == self.held.get(job.id), "the only lease is the last claimer's"
            if job.state in TERMINAL:
                self.terminal[job.id] = job.state
                self.held.pop(job.id, None)
        terminal_events = [e for e in self.ledger.events() if e["type"] in TERMINAL]
        assert len(terminal_events) == len({e["job_id"] for e in terminal_events}), "a job ends exactly once"


TestLedgerMachine = LedgerMachine.TestCase
TestLedgerMachine.settings = settings(
    max_examples=40, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
