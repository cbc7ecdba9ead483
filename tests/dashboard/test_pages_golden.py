"""The dashboard's pages as people read them, against golden HTML: the overview, a stack's
history, one release and the difference between two revisions, over releases recorded at
fixed times, asked with a personal token as a script would (the simulator's port and the
session's CSRF token are the only parts that change between runs, and are shown as such)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from hashlib import sha1
from pathlib import Path

import requests

from bot.cli.sandbox import USERS, Sandbox
from bot.core.release import Trigger
from tests.dashboard.conftest import config_map, record
from tests.golden import assert_golden

GOLDEN = Path(__file__).parent / "golden"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
PAGES = {
    "overview.html": "/ui",
    "overview-filtered.html": "/ui?q=shop&phase=failed",
    "history.html": "/ui/acme/config/shop/dev",
    "release.html": "/ui/acme/config/shop/dev/2",
    "compare.html": "/ui/acme/config/shop/dev/compare?a=1&b=3",
    "not-found.html": "/ui/acme/config/shop/dev/9",
}


def page(box: Sandbox, path: str) -> tuple[int, str]:
    assert box.server is not None
    answer = requests.get(f"{box.server.url}{path}", headers={"Authorization": f"Bearer {USERS['bob'][0]}"},
                          timeout=30, allow_redirects=False)
    text = re.sub(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:PORT", answer.text)
    return answer.status_code, re.sub(r'(name="csrf_token" value=")[^"]+"', r'\1CSRF"', text)


def test_pages_read_as_golden(box: Sandbox) -> None:
    for n, (level, actor, trigger) in enumerate((("debug", "alice", Trigger.COMMENT), ("info", "bob", Trigger.PUSH),
                                                 ("warn", "alice", Trigger.COMMENT)), start=1):
        record(box, "shop", "dev", (config_map("web", LOG_LEVEL=level), config_map("static", SIZE="small")),
               actor=actor, trigger=trigger, pull_request=n, commit=sha1(f"commit {n}".encode()).hexdigest(),
               at=T0 + timedelta(hours=n))
    record(box, "shop", "prod", (config_map("web", LOG_LEVEL="info"),), actor="alice", trigger=Trigger.PUSH,
           commit=sha1(b"prod").hexdigest(), at=T0)

    for name, path in PAGES.items():
        status, html = page(box, path)
        assert status == (404 if name == "not-found.html" else 200), (path, status)
        assert_golden(GOLDEN / name, html)
