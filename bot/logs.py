"""Shipmate's log lines: what each carries and how it is written (JSON or text).

Every record gets the fields of the work it was logged in, from a `contextvars` context:

| field | set by | meaning |
|---|---|---|
| `delivery` | the job workers (`bot.app.workers`), when a job starts | the GitHub delivery ID (or the scheduler's event ID) |
| `event` | the job workers | the GitHub event name (`pull_request`, `push`, ...) |
| `repository` | the job workers, the runner (`bot.app.runner`) | `owner/name` |
| `pull_request` | the job workers, the runner | the pull request's number |
| `operation` | the runner | `preview`, `apply`, `destroy`, `rollback` or `drift` |
| `stack` | the runner, while one stack runs | `project/stack` |
| `workspace` | the runner, while one stack runs | the stack's workspace |

A field is present only where it is known. Each job runs in a fresh context (the workers),
and the stacks of one run each in a copy of it (`bot.app.fanout`), so fields never leak from
one job or stack into another. Some lines add fields of their own with logging's `extra`:
the access line (`method`, `path`, `status`, `bytes`, `duration_ms`, `remote`, with
`delivery` and `event` from the request's headers), the line a finished job logs (`outcome`,
`duration_ms`, `attempts`).

`configure(level, format)` sets up the root logger once per process: `json` (the default of
`shipmate serve`, `SHIPMATE_LOG_FORMAT`) writes one JSON object per line with `time` (UTC,
ISO 8601), `level`, `logger`, `message`, the fields above and `exception` (python-json-logger);
`text` writes `time level logger: message` (UTC) followed by the fields as `key=value`, for people
at a terminal (the CLI's default). Masking is not done here: `bot.adapters.logmask` masks
every record as it is made, before any formatter sees it, so both formats write masked
messages and tracebacks.
"""

from __future__ import annotations

import contextvars
import copy
import logging
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

__all__ = [
    "CONTEXT_FIELDS",
    "FORMATS",
    "ContextFilter",
    "ShipmateJsonFormatter",
    "TextFormatter",
    "bind",
    "bound",
    "configure",
    "context",
]

CONTEXT_FIELDS = ("delivery", "event", "repository", "pull_request", "operation", "stack", "workspace")
FORMATS = ("json", "text")

Value = str | int
_EMPTY: Mapping[str, Value] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, Value]] = contextvars.ContextVar("shipmate_log_context", default=_EMPTY)


def context() -> Mapping[str, Value]:
    """The fields of the current context."""
    return _context.get()


def _known(fields: Mapping[str, Value | None]) -> dict[str, Value]:
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"not a log context field: {', '.join(sorted(unknown))}")
    return {key: value for key, value in fields.items() if value is not None and value != ""}


def bind(**fields: Value | None) -> None:
    """Add `fields` (None and empty ones left out) to the current context for the rest of it:
    for code that owns its context (a job's, which the workers make fresh for each job)."""
    _context.set(MappingProxyType({**_context.get(), **_known(fields)}))


@contextmanager
def bound(**fields: Value | None) -> Iterator[None]:
    """Add `fields` (None and empty ones left out) to the context until the block ends."""
    token = _context.set(MappingProxyType({**_context.get(), **_known(fields)}))
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Copies the context's fields onto each record (a field given as `extra` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class ShipmateJsonFormatter(JsonFormatter):
    """One JSON object per record: `time`, `level`, `logger`, `message`, then the context's and
    the line's own fields, then `exception`. A traceback `bot.adapters.logmask` masked
    (`exc_text`) is written as masked, never formatted again from the exception."""

    def __init__(self) -> None:
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger", "exc_info": "exception"},
            timestamp="time",
            json_ensure_ascii=False,
        )

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and record.exc_text:
            record = copy.copy(record)
            record.exc_info = None
        return super().format(record)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        first: dict[str, Any] = {k: log_data.pop(k) for k in ("time", "level", "logger", "message") if k in log_data}
        exception: dict[str, Any] = {k: log_data.pop(k) for k in ("exception", "stack_info") if k in log_data}
        return {**first, **log_data, **exception}


class TextFormatter(logging.Formatter):
    """`time level logger: message key=value ...` (the time in UTC, then the context's fields)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = " ".join(f"{key}={getattr(record, key)}" for key in CONTEXT_FIELDS if hasattr(record, key))
        if not fields:
            return text
        head, newline, rest = text.partition("\n")  # a traceback stays below the line
        return f"{head} {fields}{newline}{rest}"


def configure(level: str, format: str, *, stream: IO[str] | None = None) -> logging.Handler:
    """Log to `stream` (stderr) at `level` in `format` (`json` or `text`), replacing the root
    logger's handlers; returns the handler."""
    if format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {format!r}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(ShipmateJsonFormatter() if format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level, logging.INFO))
    return handler
