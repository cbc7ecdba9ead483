"""An event handler for the shutdown tests, selected with SHIPMATE_HANDLER=tests.web.slow_handler:build.

Each call appends `start <delivery id>` to `<data dir>/slow.log`, sleeps for the number of
seconds written in `<data dir>/sleep` (0 without the file), then appends `done <delivery id>`:
a job that is visibly running for as long as a test wants.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bot.core.events import Delivery
from bot.settings import Settings

LOG = "slow.log"
SLEEP = "sleep"


def events(data_dir: Path) -> list[str]:
    """The lines written so far (`start <id>`, `done <id>`)."""
    path = data_dir / LOG
    return path.read_text().splitlines() if path.exists() else []


def build(settings: Settings) -> Callable[[Delivery], None]:
    data_dir = settings.storage.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)

    def record(line: str) -> None:
        with open(data_dir / LOG, "a", encoding="utf-8") as out:
            out.write(line + "\n")

    def handle(delivery: Delivery) -> None:
        record(f"start {delivery.id}")
        sleep = data_dir / SLEEP
        time.sleep(float(sleep.read_text()) if sleep.exists() else 0.0)
        record(f"done {delivery.id}")

    return handle
