"""Log records are masked as they are made: message, arguments, exception and stack text, from
any logger, whatever handler gets them (here pytest's `caplog`, and a handler of our own)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.adapters import logmask
from bot.core.mask import MASK, Masker

TOKEN = "ghs_live0123456789abcdef"
CONTEXT = "db-pass-42xq"


@pytest.fixture
def masker() -> Iterator[Masker]:
    before = logmask.installed()
    masker = Masker(own=[TOKEN])
    logmask.install(masker)
    try:
        yield masker
    finally:
        logmask.install(before if before is not None else Masker())


def test_every_part_of_a_record_is_masked(masker: Masker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("shipmate.test.logmask")
    masker.add([CONTEXT])  # a stack's secret, learnt when the stack was loaded
    log.debug("git fetch https://x-access-token:%s@github.com/acme/config.git", TOKEN)
    log.info("terraform apply failed: %s", {"password": CONTEXT})
    try:
        raise RuntimeError(f"provider said no to {CONTEXT}")
    except RuntimeError:
        log.exception("apply of %s failed", "shop/dev")
    logging.getLogger("urllib3.connectionpool").debug("GET /?token=%s", TOKEN, stack_info=True)
    assert TOKEN not in caplog.text and CONTEXT not in caplog.text
    assert "x-access-token:" + MASK in caplog.text and "provider said no to" in caplog.text
    assert caplog.records[0].getMessage().endswith("@github.com/acme/config.git")
    # A handler formatting the records itself sees them masked too.
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logging.getLogger().addHandler(handler)
    try:
        try:
            raise ValueError(TOKEN)
        except ValueError:
            log.error("bad token", exc_info=True)
    finally:
        logging.getLogger().removeHandler(handler)
    assert "ValueError" in stream.getvalue() and TOKEN not in stream.getvalue()


def test_the_filter_masks_what_it_lets_through() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token %s", (TOKEN,), None)
    assert logmask.MaskingFilter(Masker(own=[TOKEN])).filter(record)
    assert record.getMessage() == f"token {MASK}"
