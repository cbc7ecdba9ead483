"""The queue page in Chromium: a dead-lettered job, retried by a maintainer (a writer is
refused), is back in line."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import Browser, expect

from bot.cli.sandbox import REPO, Sandbox
from bot.core.events import PingEvent, delivery_of
from tests.dashboard.conftest import shoot, sign_in


def test_a_dead_lettered_job_is_retried(box: Sandbox, browser: Browser) -> None:
    # No worker runs here any more: the job is claimed and dead-lettered as a worker that hit
    # a bug would, and stays in line once retried.
    assert box.server is not None
    box.server.pool.stop(timeout=30)
    queue = box.server.queue
    queue.put(delivery_of(PingEvent("ping-dead-1", REPO, 1, "Keep it logically awesome."), datetime.now(UTC)), REPO)
    job = queue.claim("dashboard-test", 60)
    assert job is not None and job.delivery.id == "ping-dead-1"
    assert queue.bury(job, "incident 7f3a: RuntimeError: the handler hit a bug")

    bob = browser.new_page()
    sign_in(bob, box, "bob", to="/ui/queue")
    dead = bob.locator(f'tr[data-job="{job.id}"]')
    expect(dead).to_contain_text("incident 7f3a")
    shoot(bob, "queue")
    dead.get_by_role("button", name="Retry").click()
    expect(bob.locator(".notice.refused")).to_contain_text("Refused: you may not retry job")
    expect(bob.locator(".notice.refused")).to_contain_text("maintain")
    assert [j.state for j in queue.jobs(["dead"]) if j.id == job.id] == ["dead"]
    bob.close()

    page = browser.new_page()
    sign_in(page, box, "alice", to="/ui/queue")
    page.locator(f'tr[data-job="{job.id}"]').get_by_role("button", name="Retry").click()
    expect(page.locator(".notice.done")).to_contain_text(f"Job {job.id} is queued again")
    expect(page.locator(f'tr[data-job="{job.id}"]')).to_have_count(0)
    pending = [j for j in queue.jobs(["pending"]) if j.delivery_id == "ping-dead-1"]
    assert len(pending) == 1
    page.close()
