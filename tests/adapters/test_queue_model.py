"""Both queue adapters against a reference model, by random sequences of operations
(hypothesis stateful testing): puts with redeliveries, claims, completes, retries, failures,
lease renewals and the passing of time. Every answer must be the model's."""

from __future__ import annotations

import itertools
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from bot.adapters.queue import RetryPolicy
from bot.adapters.queue.redis import RedisQueue
from bot.adapters.queue.sqlite import SqliteQueue
from bot.core.ports import EventQueue, Job
from tests.adapters.test_queue_contract import pr_delivery
from tests.conftest import ManualClock

LEASE = 10.0
RETRY = RetryPolicy(max_attempts=3, base_seconds=5, cap_seconds=20)
_counter = itertools.count()


@dataclass
class ModelJob:
    seq: int
    delivery_id: str
    key: str
    state: str = "pending"
    attempts: int = 0
    not_before: float = 0.0
    lease_until: float = 0.0
    claim: int | None = None  # which claim holds it


class QueueModel:
    def __init__(self) -> None:
        self.jobs: list[ModelJob] = []
        self.seen: set[str] = set()

    def put(self, delivery_id: str, key: str) -> bool:
        if delivery_id in self.seen:
            return False
        self.seen.add(delivery_id)
        self.jobs.append(ModelJob(len(self.jobs), delivery_id, key))
        return True

    def claim(self, now: float, claim_id: int) -> ModelJob | None:
        for job in self.jobs:  # an expired lease past the report-only attempt: dead-lettered
            if job.state == "running" and job.lease_until <= now and job.attempts > RETRY.max_attempts:
                job.state, job.claim = "dead", None
        heads: dict[str, ModelJob] = {}
        for job in self.jobs:
            if job.state in ("pending", "running") and job.key not in heads:
                heads[job.key] = job
        runnable = [
            j for j in heads.values()
            if (j.state == "pending" and j.not_before <= now) or (j.state == "running" and j.lease_until <= now)
        ]
        if not runnable:
            return None
        job = min(runnable, key=lambda j: j.seq)
        job.state, job.attempts, job.lease_until, job.claim = "running", job.attempts + 1, now + LEASE, claim_id
        return job

    def current(self, claim_id: int) -> ModelJob | None:
        return next((j for j in self.jobs if j.claim == claim_id and j.state == "running"), None)

    def finish(self, claim_id: int, state: str) -> bool:
        job = self.current(claim_id)
        if job is None:
            return False
        job.state, job.claim = state, None
        return True

    def fail(self, claim_id: int, now: float, retry: bool) -> bool:
        job = self.current(claim_id)
        if job is None:
            return False
        if retry and not RETRY.gives_up(job.attempts):
            job.state, job.claim, job.not_before = "pending", None, now + RETRY.delay(job.attempts)
            return True
        job.state, job.claim = "dead" if retry else "failed", None
        return True

    def extend(self, claim_id: int, now: float) -> bool:
        job = self.current(claim_id)
        if job is None:
            return False
        job.lease_until = now + LEASE
        return True


class QueueMachine(RuleBasedStateMachine):
    backend = "sqlite"
    redis_url = ""

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.model = QueueModel()
        self.claims: dict[int, Job] = {}
        self.tmp = tempfile.TemporaryDirectory(prefix="queue-model-")
        self.queue: EventQueue
        if self.backend == "sqlite":
            self.queue = SqliteQueue(Path(self.tmp.name) / "q.sqlite3", clock=self.clock, retry=RETRY)
        else:
            self.queue = RedisQueue.from_url(self.redis_url, prefix=f"model:{uuid.uuid4().hex}:",
                                             clock=self.clock, retry=RETRY)

    def now(self) -> float:
        return self.clock.now().timestamp()

    @initialize()
    def start(self) -> None:
        self.queue.ping()

    @rule(n=st.integers(0, 9), number=st.integers(1, 3))
    def put(self, n: int, number: int) -> None:
        delivery_id = f"d{n}"
        key = f"acme/config#{number}"
        known = delivery_id in self.model.seen
        expected = self.model.put(delivery_id, key)
        # a redelivery carries the same payload as the first delivery of its ID
        if known:
            number = int(next(j.key for j in self.model.jobs if j.delivery_id == delivery_id).split("#")[1])
        assert self.queue.put(pr_delivery(delivery_id, number, self.clock)) is expected

    @rule()
    def claim(self) -> None:
        claim_id = next(_counter)
        expected = self.model.claim(self.now(), claim_id)
        job = self.queue.claim(f"w{claim_id}", LEASE)
        if expected is None:
            assert job is None
            return
        assert job is not None
        assert (job.delivery.id, job.key, job.attempts) == (expected.delivery_id, expected.key, expected.attempts)
        assert job.exhausted is (expected.attempts > RETRY.max_attempts)
        self.claims[claim_id] = job

    @precondition(lambda self: bool(self.claims))
    @rule(data=st.data(), action=st.sampled_from(["complete", "retry", "give_up", "bury", "extend"]))
    def act(self, data: st.DataObject, action: str) -> None:
        claim_id = data.draw(st.sampled_from(sorted(self.claims)))
        job = self.claims[claim_id]
        if action == "complete":
            assert self.queue.complete(job) is self.model.finish(claim_id, "done")
        elif action == "retry":
            assert self.queue.fail(job, "temporary", retry=True) is self.model.fail(claim_id, self.now(), True)
        elif action == "give_up":
            assert self.queue.fail(job, "permanent", retry=False) is self.model.fail(claim_id, self.now(), False)
        elif action == "bury":
            assert self.queue.bury(job, "bug") is self.model.finish(claim_id, "dead")
        else:
            assert self.queue.extend(job, LEASE) is self.model.extend(claim_id, self.now())

    @rule(seconds=st.sampled_from([1, 4, 6, 11, 25]))
    def wait(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @invariant()
    def counts_agree(self) -> None:
        stats = self.queue.stats()
        states = [j.state for j in self.model.jobs]
        assert stats.done == states.count("done")
        assert stats.failed == states.count("failed")
        assert stats.dead == states.count("dead")
        assert sorted(r.delivery_id for r in self.queue.jobs(["dead"])) == sorted(
            j.delivery_id for j in self.model.jobs if j.state == "dead")
        assert stats.pending + stats.running == states.count("pending") + states.count("running")

    def teardown(self) -> None:
        self.queue.close()
        self.tmp.cleanup()


def run_machine(backend: str, redis_url: str = "") -> None:
    machine = type(f"{backend.title()}QueueMachine", (QueueMachine,), {"backend": backend, "redis_url": redis_url})
    test = settings(max_examples=60, stateful_step_count=40, deadline=None)(machine).TestCase
    test("runTest").runTest()


def test_sqlite_queue_behaves_like_the_model() -> None:
    run_machine("sqlite")


@pytest.mark.usefixtures("redis_url")
def test_redis_queue_behaves_like_the_model(redis_url: str) -> None:
    run_machine("redis", redis_url)
