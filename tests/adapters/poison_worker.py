"""A worker process for the poison-delivery test (`python -m tests.adapters.poison_worker`).

It runs a `WorkerPool` over the queue named on the command line. A delivery whose ID starts
with `poison` kills this process mid-handler (SIGKILL, as the OOM killer would); every other
delivery is recorded in `done.txt`. When `--until` has been handled, the process writes its
metrics and the failures it reported, stops its pool and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from bot.adapters.clock import SystemClock
from bot.adapters.queue import RetryPolicy
from bot.app.workers import JobFailure, WorkerPool
from bot.core.events import Delivery
from bot.core.ports import EventQueue
from bot.metrics import ShipmateMetrics

RETRY = RetryPolicy(max_attempts=3, base_seconds=0, cap_seconds=0)
LEASE = 0.6


def open_queue(spec: str) -> EventQueue:
    if spec.startswith("redis://"):
        from bot.adapters.queue.redis import RedisQueue

        url, _, prefix = spec.partition("#")
        return RedisQueue.from_url(url, prefix=prefix, retry=RETRY)
    from bot.adapters.queue.sqlite import SqliteQueue

    return SqliteQueue(spec, retry=RETRY)


class FileReporter:
    def __init__(self, out: Path) -> None:
        self.out = out

    def succeeded(self, delivery: Delivery) -> None:
        pass

    def failed(self, failure: JobFailure) -> None:
        with (self.out / "failures.jsonl").open("a") as f:
            f.write(json.dumps({"delivery": failure.delivery.id, "kind": failure.kind, "attempts": failure.attempts,
                                "error": failure.error}) + "\n")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("queue")
    parser.add_argument("out", type=Path)
    parser.add_argument("--until", required=True)
    args = parser.parse_args(argv)
    out: Path = args.out
    queue = open_queue(args.queue)
    metrics = ShipmateMetrics()
    metrics.watch_queue(lambda: {"dead": queue.stats().dead})

    def handle(delivery: Delivery) -> None:
        if delivery.id.startswith("poison"):
            with (out / "runs.txt").open("a") as f:
                f.write(f"{delivery.id} {os.getpid()}\n")
            os.kill(os.getpid(), signal.SIGKILL)
        with (out / "done.txt").open("a") as f:
            f.write(delivery.id + "\n")

    pool = WorkerPool(queue, handle, workers=1, lease_seconds=LEASE, poll_seconds=0.05, metrics=metrics,
                      reporter=FileReporter(out), clock=SystemClock())
    pool.start()
    deadline = time.monotonic() + 30
    done = out / "done.txt"
    while time.monotonic() < deadline:
        if done.exists() and args.until in done.read_text().split():
            break
        time.sleep(0.05)
    else:
        return 3
    pool.stop(10)
    (out / "metrics.txt").write_text(metrics.render())
    queue.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
