"""`shipmate queue`: look at the server's event queue and its dead letters, requeue or drop jobs.

    shipmate queue list  [--state pending|leased|dead|failed|all] [--limit N] [-o text|json]
    shipmate queue show  ID [-o text|json]
    shipmate queue retry ID      a dead (or failed) job back in line, attempts reset (a new ID)
    shipmate queue drop  ID      forget a job that is not running (its delivery stays deduplicated)

The queue is the one `shipmate serve` uses, from the same settings (`SHIPMATE_QUEUE`,
`SHIPMATE_DATA_DIR`, `--config`/`SHIPMATE_CONFIG`): the SQLite file in the data directory or
the Redis server. Jobs are dead-lettered when their attempts are used up by temporary errors
or by workers that stopped mid-job, or at once for a bug; they stay until retried or dropped.
`list` defaults to the jobs that need a look: pending, leased and dead.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime

from bot.cli import environment
from bot.core.ports import EventQueue, JobRecord
from bot.wiring import build_queue

STATES = {
    "pending": ("pending",),
    "leased": ("running",),
    "running": ("running",),
    "dead": ("dead",),
    "failed": ("failed",),
    "all": ("pending", "running", "dead", "failed"),
}
DEFAULT_STATES = ("pending", "running", "dead")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "queue",
        help="list the event queue's jobs and dead letters; retry or drop one",
        description="The webhook server's event queue (SHIPMATE_QUEUE): pending, leased and dead jobs.",
    )
    parser.add_argument("--config", metavar="FILE", help="settings file (YAML or TOML); default: $SHIPMATE_CONFIG")
    sub = parser.add_subparsers(dest="queue_command", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="jobs by state (default: pending, leased and dead)")
    listing.add_argument("--state", action="append", choices=sorted(STATES),
                         help="pending, leased, dead, failed or all (repeatable)")
    listing.add_argument("--limit", type=int, default=100, metavar="N", help="at most N jobs (default 100)")
    listing.add_argument("-o", "--output", choices=("text", "json"), default="text")
    listing.set_defaults(func=_list)
    show = sub.add_parser("show", help="one job: state, attempts, last error, times")
    show.add_argument("id", type=int, metavar="ID")
    show.add_argument("-o", "--output", choices=("text", "json"), default="text")
    show.set_defaults(func=_show)
    retry = sub.add_parser("retry", help="put a dead or failed job back in line with fresh attempts")
    retry.add_argument("id", type=int, metavar="ID")
    retry.set_defaults(func=_retry)
    drop = sub.add_parser("drop", help="forget a pending, dead or failed job")
    drop.add_argument("id", type=int, metavar="ID")
    drop.set_defaults(func=_drop)


def _queue(args: argparse.Namespace) -> EventQueue:
    return build_queue(environment.read(args.config).settings)


def _time(value: float | None) -> str:
    if value is None:
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _state(record: JobRecord) -> str:
    return "leased" if record.state == "running" else record.state


def _one_line(text: str, width: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _list(args: argparse.Namespace) -> int:
    states: list[str] = []
    for name in args.state or DEFAULT_STATES:
        states.extend(s for s in STATES[name] if s not in states)
    queue = _queue(args)
    try:
        records = queue.jobs(states, max(1, args.limit))
    finally:
        queue.close()
    if args.output == "json":
        print(json.dumps([asdict(r) for r in records], indent=2))
        return 0
    if not records:
        print(f"no {', '.join('leased' if s == 'running' else s for s in states)} jobs")
        return 0
    rows = [("ID", "STATE", "TRIES", "EVENT", "KEY", "DELIVERY", "LAST ERROR")]
    for r in records:
        event = f"{r.event}.{r.action}" if r.action else r.event
        rows.append((str(r.id), _state(r), str(r.attempts), event, r.key, r.delivery_id, _one_line(r.last_error, 60)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    return 0


def _show(args: argparse.Namespace) -> int:
    queue = _queue(args)
    try:
        record = queue.job(args.id)
    finally:
        queue.close()
    if record is None:
        print(f"error: there is no job {args.id} in the queue", file=sys.stderr)
        return 1
    if args.output == "json":
        print(json.dumps(asdict(record), indent=2))
        return 0
    lines = [
        ("job", str(record.id)),
        ("state", _state(record)),
        ("event", f"{record.event} {record.action}".strip()),
        ("key", record.key),
        ("delivery", record.delivery_id),
        ("attempts", str(record.attempts)),
        ("enqueued", _time(record.enqueued_at)),
        ("next try", _time(record.not_before) if record.state == "pending" else "-"),
        ("leased by", f"{record.worker_id} until {_time(record.lease_until)}" if record.state == "running" else "-"),
        ("finished", _time(record.finished_at)),
    ]
    for name, value in lines:
        print(f"{name + ':':<11}{value}")
    if record.last_error:
        print("last error:")
        for line in record.last_error.splitlines():
            print(f"  {line}")
    return 0


def _retry(args: argparse.Namespace) -> int:
    queue = _queue(args)
    try:
        new_id = queue.requeue(args.id)
    finally:
        queue.close()
    if new_id is None:
        print(f"error: job {args.id} is not a dead or failed job", file=sys.stderr)
        return 1
    print(f"job {args.id} is back in line as job {new_id}")
    return 0


def _drop(args: argparse.Namespace) -> int:
    queue = _queue(args)
    try:
        dropped = queue.drop(args.id)
    finally:
        queue.close()
    if not dropped:
        print(f"error: job {args.id} is not a pending, dead or failed job (running jobs are not dropped)",
              file=sys.stderr)
        return 1
    print(f"job {args.id} dropped")
    return 0
