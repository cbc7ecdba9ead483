"""Log records without secrets: every record of the process is masked as it is made.

`install(masker)` (called once by the composition root, `bot.wiring`) wraps the logging
record factory, so every record — from Shipmate's loggers and from libraries alike (PyGithub,
urllib3, git, Terraform's output logged at DEBUG) — has its message, its arguments, its
exception text and its stack text masked before any handler, filter or formatter sees it;
handlers added later (a test's `caplog`, a JSON log shipper) get masked records too.
`MaskingFilter` is the same masking as a `logging.Filter`, for a handler built elsewhere.

What is masked is whatever the `bot.core.mask.Masker` knows at that moment: Shipmate's own
credentials and the secrets of every stack loaded so far.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from bot.core.mask import Masker

__all__ = ["MaskingFilter", "install", "installed", "mask_record"]

_lock = threading.Lock()
_masker: Masker | None = None
_wrapped = False


def mask_record(record: logging.LogRecord, masker: Masker) -> logging.LogRecord:
    """`record` with every known secret masked in place (message, args, exception, stack)."""
    lits = masker.literals
    if not lits:
        return record
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it later; mask what is there
        message = f"{record.msg} {record.args!r}"
    masked = lits.text(message)
    if masked != message:
        record.msg, record.args = masked, None
    if record.exc_info and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        masked_exc = lits.text(text)
        if masked_exc != text:
            record.exc_text = masked_exc
    elif record.exc_text:
        record.exc_text = lits.text(record.exc_text)
    if record.stack_info:
        record.stack_info = lits.text(record.stack_info)
    return record


class MaskingFilter(logging.Filter):
    """A filter that masks each record it sees and lets it through."""

    def __init__(self, masker: Masker) -> None:
        super().__init__()
        self.masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record, self.masker)
        return True


def install(masker: Masker) -> None:
    """Mask every log record this process makes from now on with `masker` (which replaces
    the masker of an earlier call; the record factory is wrapped only once)."""
    global _masker, _wrapped
    with _lock:
        _masker = masker
        if _wrapped:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            current = _masker
            return mask_record(record, current) if current is not None else record

        logging.setLogRecordFactory(factory)
        _wrapped = True


def installed() -> Masker | None:
    """The masker log records go through, if any."""
    return _masker
