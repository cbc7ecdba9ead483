"""Three `shipmate serve` replicas (gunicorn processes, as deployed) share one Redis and the
GitHub simulator; a burst of pull requests is delivered to them round robin, and one replica
is killed (SIGKILL) while it runs a preview, mid-burst.

Every delivery is processed once: each pull request ends with exactly one preview comment
of its head and a green status, the queue finished each delivery once and lost none. Every
replica runs the scheduler: the poll of a repository without a webhook ran once per period
across the fleet (each replica logs the periods it ran), the killed one's included, and a
push to it was queued once.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.adapters.queue.redis import RedisQueue
from bot.adapters.queue.redis_jobs import RedisJobState
from bot.cli.sandbox import BOT, SECRET, USERS, Sandbox, git
from fixtures.fleet import Fleet
from tests.e2e.world import bodies, open_pr, replace, statuses

pytestmark = pytest.mark.e2e

PULLS = 9
POLL_SECONDS = 6
POLLED = "acme/polled"
RAN = re.compile(r"ran the scheduled poll for period (\d+) \(token (\d+)\)")


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox.start(tmp_path_factory.mktemp("fleet"), serve=False) as sandbox:
        yield sandbox


def seed_polled(box: Sandbox, work: Path) -> str:
    """acme/polled: a repository the bot polls (no webhook); returns its URL for alice."""
    owner, name = POLLED.split("/")
    box.github.create_repo(owner, name)
    url = str(box.github.git_url(owner, name, USERS["alice"][0], "alice"))
    work.mkdir(parents=True)
    (work / "README.md").write_text("polled\n")
    git("init", "-q", "-b", "main", cwd=work)
    git("-c", "user.name=alice", "-c", "user.email=alice@acme.example", "add", "-A", cwd=work)
    git("-c", "user.name=alice", "-c", "user.email=alice@acme.example", "commit", "-qm", "Start", cwd=work)
    git("push", "-q", url, "main", cwd=work)
    return url


def worker_pids(master: int) -> set[int]:
    try:
        return {int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()}
    except OSError:
        return set()


def test_three_replicas_one_killed_mid_burst(box: Sandbox, redis_url: str, tmp_path: Path) -> None:
    url = redis_url.rsplit("/", 1)[0] + "/1"  # a database of its own: the replicas use the default keys
    client = redis.Redis.from_url(url)
    client.flushdb()
    polled_url = seed_polled(box, tmp_path / "polled")
    # The burst: pull requests opened while no replica listens; their webhooks are replayed below.
    before = len(box.recorder.received)
    pulls = [open_pr(box, "bob", {"shop/dev/main.yaml": replace("LOG_LEVEL: debug", f"LOG_LEVEL: level{i}")},
                     title=f"Log level {i}") for i in range(PULLS)]
    box.github.wait_idle(60)
    burst = [item for item in box.recorder.received[before:] if item.headers["X-GitHub-Event"] == "pull_request"]
    assert len(burst) == PULLS
    env = {**box.env, "SHIPMATE_WEBHOOK_SECRET": SECRET, "GITHUB_TOKEN": USERS[BOT][0],
           "GITHUB_API_URL": box.github.api_url, "SHIPMATE_GITHUB_THROTTLE": "false",
           "SHIPMATE_REPOSITORIES": "acme/*", "SHIPMATE_QUEUE": url, "SHIPMATE_WORKERS": "2",
           "SHIPMATE_QUEUE_LEASE_SECONDS": "5", "SHIPMATE_POLL_REPOSITORIES": POLLED,
           "SHIPMATE_POLL_SECONDS": str(POLL_SECONDS), "SHIPMATE_LOG_LEVEL": "INFO"}
    queue = RedisQueue.from_url(url)
    try:
        with Fleet.start(tmp_path / "fleet", env, 3) as fleet:
            victim = fleet.replicas[1]
            posted: list[str] = []

            def deliver() -> None:
                for item in burst:
                    posted.append(fleet.post(item.headers, item.body))
                    time.sleep(0.3)

            sender = threading.Thread(target=deliver)
            sender.start()
            deadline = time.monotonic() + 120
            while not any(record.worker_id.split(":")[-2:-1] == [str(pid)]
                          for record in queue.jobs(["running"]) for pid in worker_pids(victim.proc.pid)):
                assert time.monotonic() < deadline, "the victim never ran a job"
                time.sleep(0.05)
            fleet.kill(1)  # mid-preview, while the burst still arrives
            kill_period = int(time.time() // POLL_SECONDS)
            killed_at = len(posted)
            # A push to the polled repository: the poll queues it once, whichever replica polls.
            git("-c", "user.name=alice", "-c", "user.email=alice@acme.example", "commit", "-q", "--allow-empty",
                "-m", "Polled change", cwd=tmp_path / "polled")
            git("push", "-q", polled_url, "main", cwd=tmp_path / "polled")
            sender.join(timeout=120)
            while (stats := queue.stats()).pending + stats.running + stats.delayed > 0 or len(posted) < PULLS:
                assert time.monotonic() < deadline + 240, f"not settled: {stats}"
                time.sleep(0.2)
            time.sleep(POLL_SECONDS * 2)  # a few more periods after the kill
            while (stats := queue.stats()).pending + stats.running + stats.delayed > 0:  # a sweep queued meanwhile
                assert time.monotonic() < deadline + 300, f"not settled: {stats}"
                time.sleep(0.2)
            logs = [fleet.log(i) for i in range(3)]
        assert killed_at < PULLS and victim.name in posted[:killed_at]
        assert victim.name not in posted[killed_at + 1:]  # after the kill, the others took its turns

        # Every pull request: one preview comment, of its head, and a green status.
        for i, pr in enumerate(pulls):
            comments = bodies(box, pr.number)
            assert len(comments) == 1, f"#{pr.number}: {len(comments)} comments"
            assert f"level{i}" in comments[0] or "Update" in comments[0]
            assert statuses(box, pr.head.sha)["shipmate/preview"][0] == "success"
        # The queue finished each delivery once: none lost, none twice, none dead.
        records = [queue.job(seq) for seq in range(1, int(client.get("shipmate:queue:seq") or 0) + 1)]
        done = Counter(r.delivery_id for r in records if r is not None and r.state == "done")
        assert {item.headers["X-GitHub-Delivery"] for item in burst} <= set(done)
        assert set(done.values()) == {1}
        stats = queue.stats()
        assert (stats.dead, stats.failed, stats.pending, stats.running) == (0, 0, 0, 0), stats
        events = Counter(r.event for r in records if r is not None)
        assert events["pull_request"] == PULLS and events["push"] == 1  # the polled push, once

        # The poll ran once per period across the replicas, with growing tokens, the
        # periods after the kill included.
        runs = sorted((int(m.group(1)), int(m.group(2)), i) for i, log in enumerate(logs) for m in RAN.finditer(log))
        periods = [period for period, _, _ in runs]
        assert len(periods) == len(set(periods))  # each period at most once
        # None missing, unless the victim died holding a run its lease then kept for the rest
        # of that period (it began the run late in the period, the lease outlasting it).
        missing = set(range(periods[0], periods[-1] + 1)) - set(periods)
        assert missing <= {kill_period - 1, kill_period} and len(missing) <= 1, (missing, kill_period)
        assert [token for _, token, _ in runs] == sorted({token for _, token, _ in runs})
        assert len({i for _, _, i in runs if i != 1}) >= 1 and len(periods) >= 3
        assert POLLED in RedisJobState(client).read("poll-state")
    finally:
        queue.close()
        client.close()
