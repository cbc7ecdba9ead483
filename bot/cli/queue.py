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

import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from bot.cli import environment, options
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


F = TypeVar("F", bound=Callable[..., Any])

EXAMPLES = """
shipmate queue list                      # pending, leased and dead jobs
shipmate queue list --state dead -o json
shipmate queue show 42
shipmate queue retry 42                  # a dead job back in line, attempts reset
shipmate queue drop 42
"""


def config(f: F) -> F:
    return click.option("--config", metavar="FILE", help="Settings file (YAML or TOML); default: $SHIPMATE_CONFIG.")(f)


def output(f: F) -> F:
    return click.option("-o", "--output", type=click.Choice(("text", "json")), default="text", show_default=True,
                        help="Output format.")(f)


def job_id(f: F) -> F:
    return click.argument("job", type=options.POSITIVE, metavar="ID")(f)


@options.group("queue", "The webhook server's event queue (SHIPMATE_QUEUE): pending, leased and dead jobs; "
               "retry or drop one.", EXAMPLES, short="List the event queue's jobs and dead letters; retry or drop one.")
def command() -> None:
    """List the event queue's jobs and dead letters; retry or drop one."""


@command.command("list", help="Jobs by state (default: pending, leased and dead).",
                 epilog=options.epilog("shipmate queue list --state dead --state failed\nshipmate queue list "
                                       "--state all --limit 10 -o json"),
                 context_settings=options.CONTEXT)
@config
@click.option("--state", "states", multiple=True, type=click.Choice(sorted(STATES)),
              help="pending, leased, dead, failed or all (repeatable).")
@click.option("--limit", type=options.POSITIVE, default=100, show_default=True, metavar="N", help="At most N jobs.")
@output
def list_command(config: str | None, states: tuple[str, ...], limit: int, output: str) -> int:
    return _list(config, states, limit, output)


@command.command("show", help="One job: state, attempts, last error, times.",
                 epilog=options.epilog("shipmate queue show 42 -o json"), context_settings=options.CONTEXT)
@config
@job_id
@output
def show_command(config: str | None, job: int, output: str) -> int:
    return _show(config, job, output)


@command.command("retry", help="Put a dead or failed job back in line with fresh attempts (a new ID).",
                 epilog=options.epilog("shipmate queue retry 42"), context_settings=options.CONTEXT)
@config
@job_id
@output
def retry_command(config: str | None, job: int, output: str) -> int:
    return _retry(config, job, output)


@command.command("drop", help="Forget a pending, dead or failed job (its delivery stays deduplicated).",
                 epilog=options.epilog("shipmate queue drop 42"), context_settings=options.CONTEXT)
@config
@job_id
@output
def drop_command(config: str | None, job: int, output: str) -> int:
    return _drop(config, job, output)


def _queue(config: str | None) -> EventQueue:
    return build_queue(environment.read(config).settings)


def _time(value: float | None) -> str:
    if value is None:
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _state(record: JobRecord) -> str:
    return "leased" if record.state == "running" else record.state


def _one_line(text: str, width: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _list(config: str | None, chosen: tuple[str, ...], limit: int, output: str) -> int:
    states: list[str] = []
    for name in chosen or DEFAULT_STATES:
        states.extend(s for s in STATES[name] if s not in states)
    queue = _queue(config)
    try:
        records = queue.jobs(states, limit)
    finally:
        queue.close()
    if output == "json":
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


def _show(config: str | None, job: int, output: str) -> int:
    queue = _queue(config)
    try:
        record = queue.job(job)
    finally:
        queue.close()
    if record is None:
        print(f"error: there is no job {job} in the queue", file=sys.stderr)
        return 1
    if output == "json":
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


def _retry(config: str | None, job: int, output: str) -> int:
    queue = _queue(config)
    try:
        new_id = queue.requeue(job)
    finally:
        queue.close()
    if new_id is None:
        print(f"error: job {job} is not a dead or failed job", file=sys.stderr)
        return 1
    if output == "json":
        print(json.dumps({"job": job, "requeuedAs": new_id}, indent=2))
    else:
        print(f"job {job} is back in line as job {new_id}")
    return 0


def _drop(config: str | None, job: int, output: str) -> int:
    queue = _queue(config)
    try:
        dropped = queue.drop(job)
    finally:
        queue.close()
    if not dropped:
        print(f"error: job {job} is not a pending, dead or failed job (running jobs are not dropped)",
              file=sys.stderr)
        return 1
    print(json.dumps({"job": job, "dropped": True}, indent=2) if output == "json" else f"job {job} dropped")
    return 0
