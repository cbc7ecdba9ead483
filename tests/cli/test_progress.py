"""Progress of an apply as a person sees it: plain lines in a log, a live bar on a terminal with
the rate, elapsed time, time left and the resource waiting for readiness; the style follows
the terminal, `NO_COLOR` and `--no-style`."""

from __future__ import annotations

import io
import re
from pathlib import Path

from bot.app.executor import Event
from bot.cli.progress import Progress
from bot.cli.style import Style
from tests.golden import assert_golden

GOLDEN = Path(__file__).parent / "golden" / "progress"
WEB = "apps/v1:Deployment:shop:web"
CM = "v1:ConfigMap:shop:web"
EVENTS = [
    Event("start", CM, "Create"), Event("start", WEB, "Update"), Event("done", CM, "Create"),
    Event("waiting", WEB, "Update", "0/2 updated, 0/2 available"), Event("failed", WEB, "Update", "not ready after 3s"),
    Event("skipped", "v1:Service:shop:web", "Create", "skipped: a dependency failed"),
]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_without_a_terminal_each_event_is_one_plain_line() -> None:
    out = io.StringIO()
    with Progress("apply", Style.detect(out=out, err=out, env={}), out) as progress:
        for event in EVENTS:
            progress(event)
    assert_golden(GOLDEN / "plain.txt", out.getvalue())


def test_on_a_terminal_a_bar_with_rate_times_and_what_is_waited_on() -> None:
    err = Terminal()
    style = Style.detect(out=err, err=err, env={"NO_COLOR": "1"})
    assert (style.live, style.color, style.no_color) == (True, False, True)
    progress = Progress("apply", style, err)
    progress.total = 3
    for event in EVENTS[:4]:
        progress(event)
    assert progress.now() == f"waiting for readiness: {WEB} (0/2 updated, 0/2 available)"
    progress.note("stopping: operations in flight will finish")
    progress.close()
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", err.getvalue())
    last = screen.strip().splitlines()[-1]
    assert "apply" in last and "1/3" in last and "ops/s" in last
    assert re.search(r"\d:\d\d:\d\d +(-:--:--|\d:\d\d:\d\d)$", last), last  # elapsed, then time left
    assert f"waiting for readiness: {WEB} (0/2 updated" in screen  # cut to the terminal's width
    assert "stopping: operations in flight will finish\n" in screen  # above the bar, not drawn over
    assert "\x1b[3" not in err.getvalue()  # NO_COLOR: no colour codes, only cursor movement


def test_what_runs_when_nothing_waits() -> None:
    progress = Progress("destroy", Style(), io.StringIO())
    assert progress.now() == ""
    progress(Event("start", CM, "Delete"))
    progress(Event("start", WEB, "Delete"))
    assert progress.now() == f"delete {CM} (and 1 more)"


def test_the_style_follows_the_terminal_no_color_and_no_style() -> None:
    tty, pipe = Terminal(), io.StringIO()
    assert Style.detect(out=tty, err=tty, env={}) == Style(color=True, live=True, no_color=False)
    assert Style.detect(out=pipe, err=tty, env={}) == Style(color=False, live=True, no_color=False)
    assert Style.detect(out=tty, err=tty, env={"NO_COLOR": ""}).color  # set but empty: colour stays
    assert Style.detect(out=tty, err=tty, env={"NO_COLOR": "1"}) == Style(color=False, live=True, no_color=True)
    assert Style.detect(no_style=True, out=tty, err=tty, env={}) == Style(color=False, live=False, no_color=True)
