"""`shipmate queue`: list pending, leased and dead jobs, show one, retry a dead letter, drop
a job, on the queue the server's settings name (SQLite in the data directory, and Redis)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.adapters.queue import RetryPolicy
from bot.adapters.queue.sqlite import SqliteQueue
from bot.cli import main
from tests.adapters.test_queue_contract import pr_delivery
from tests.conftest import ManualClock


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [n for n in os.environ if n.startswith("SHIPMATE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SHIPMATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SHIPMATE_QUEUE_MAX_ATTEMPTS", "2")
    return tmp_path / "data"


def seed(queue: SqliteQueue, clock: ManualClock) -> dict[str, int]:
    """A leased job with a pending one behind it, and a dead letter (its workers died twice)
    with a pending one behind it."""
    for delivery_id, number in [("busy", 2), ("waiting", 2), ("poison", 1), ("behind", 1)]:
        queue.put(pr_delivery(delivery_id, number, clock))
    busy = queue.claim("w-busy", 600)
    assert busy is not None and busy.delivery.id == "busy"
    ids = {"busy": busy.id}
    for _ in range(2):
        job = queue.claim("w-dead", 5)
        assert job is not None and job.delivery.id == "poison"
        ids["poison"] = job.id
        clock.advance(6)
    report = queue.claim("w-report", 5)
    assert report is not None and report.exhausted
    assert queue.bury(report, "2 attempts ended without an outcome: the worker stopped")
    return ids


def test_list_show_retry_drop(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clock = ManualClock()
    queue = SqliteQueue.in_data_dir(data_dir, clock=clock, retry=RetryPolicy(max_attempts=2))
    ids = seed(queue, clock)
    queue.close()

    assert main(["queue", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["ID", "STATE", "TRIES", "EVENT", "KEY", "DELIVERY", "LAST", "ERROR"]
    rows = {line.split()[5]: line.split()[:3] for line in out[1:]}
    assert rows == {"poison": [str(ids["poison"]), "dead", "3"], "behind": [rows["behind"][0], "pending", "0"],
                    "busy": [str(ids["busy"]), "leased", "1"], "waiting": [rows["waiting"][0], "pending", "0"]}
    assert "the worker stopped" in next(line for line in out if " poison " in line)

    assert main(["queue", "list", "--state", "dead", "-o", "json"]) == 0
    [dead] = json.loads(capsys.readouterr().out)
    assert (dead["id"], dead["delivery_id"], dead["state"]) == (ids["poison"], "poison", "dead")

    assert main(["queue", "show", str(ids["poison"])]) == 0
    shown = capsys.readouterr().out
    assert "state:     dead" in shown and "delivery:  poison" in shown and "the worker stopped" in shown
    assert main(["queue", "show", "999"]) == 1
    assert "no job 999" in capsys.readouterr().err

    assert main(["queue", "retry", str(ids["busy"])]) == 1  # leased, not dead
    assert "not a dead or failed job" in capsys.readouterr().err
    assert main(["queue", "retry", str(ids["poison"])]) == 0
    new_id = int(capsys.readouterr().out.split()[-1])
    assert main(["queue", "drop", str(ids["busy"])]) == 1  # running jobs are not dropped
    capsys.readouterr()
    assert main(["queue", "drop", rows["waiting"][0]]) == 0
    assert capsys.readouterr().out.strip() == f"job {rows['waiting'][0]} dropped"

    queue = SqliteQueue.in_data_dir(data_dir, clock=clock, retry=RetryPolicy(max_attempts=2))
    order = []
    while (job := queue.claim("w", 60)) is not None:
        order.append((job.id, job.delivery.id, job.attempts))
        queue.complete(job)
    assert order == [(rows_id := int(rows["behind"][0]), "behind", 1), (new_id, "poison", 1)]
    assert rows_id < new_id
    queue.close()
    assert main(["queue", "list"]) == 0
    [_, only] = capsys.readouterr().out.splitlines()
    assert only.split()[:2] == [str(ids["busy"]), "leased"]
    assert main(["queue", "list", "--state", "dead"]) == 0
    assert capsys.readouterr().out.strip() == "no dead jobs"


def test_the_command_on_a_redis_queue(redis_url: str, tmp_path: Path) -> None:
    from bot.adapters.queue.redis import RedisQueue

    clock = ManualClock()
    queue = RedisQueue.from_url(redis_url, clock=clock, retry=RetryPolicy(max_attempts=2))
    queue.client.delete(*(queue.client.keys("shipmate:queue:*") or ["none"]))  # the default prefix
    ids = seed(queue, clock)  # type: ignore[arg-type]
    queue.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPMATE_")}
    env.update(SHIPMATE_QUEUE=redis_url, SHIPMATE_DATA_DIR=str(tmp_path / "data"), SHIPMATE_QUEUE_MAX_ATTEMPTS="2")
    shipmate = [sys.executable, "-m", "bot.cli"] if not Path(sys.executable).with_name("shipmate").exists() \
        else [str(Path(sys.executable).with_name("shipmate"))]
    listed = subprocess.run([*shipmate, "queue", "list", "--state", "dead", "--state", "leased", "-o", "json"],
                            env=env, capture_output=True, text=True, check=True)
    assert [(j["delivery_id"], j["state"]) for j in json.loads(listed.stdout)] == [("busy", "running"), ("poison", "dead")]
    retried = subprocess.run([*shipmate, "queue", "retry", str(ids["poison"])], env=env, capture_output=True,
                             text=True, check=True)
    assert retried.stdout.startswith(f"job {ids['poison']} is back in line as job ")
    queue = RedisQueue.from_url(redis_url, clock=clock, retry=RetryPolicy(max_attempts=2))
    assert queue.stats().dead == 0 and [r.delivery_id for r in queue.jobs(["pending"])] == ["waiting", "behind", "poison"]
    queue.client.delete(*(queue.client.keys("shipmate:queue:*") or ["none"]))
    queue.close()
