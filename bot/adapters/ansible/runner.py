"""Runs ansible-playbook and hands each task result to the caller as it happens.

Why ansible-playbook with a callback of our own rather than ansible-runner: the run needs
nothing ansible-runner adds (its artifact directory would keep every event, file contents and
the command line on disk), and one JSON line per result on stdout
(`plugins/callback/shipmate_events.py`) is all the runtime reads, as each task finishes, so
that an apply reports each resource the moment it is done. Ansible runs from the bot's own
Python (`python -m ansible.cli.playbook`), with an environment built by `bot.core.childenv`
plus the run's `ANSIBLE_*` settings, never the user's configuration.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core import childenv
from bot.core.errors import RuntimeFailed


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """One task result: `event` is ok, failed, skipped or unreachable."""

    event: str
    host: str
    task: str
    result: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Finished:
    returncode: int
    stderr: str


def run_playbook(
    playbook: Path,
    inventory: Path,
    *,
    parent_env: Mapping[str, str],
    ansible_env: Mapping[str, str],
    on_event: Callable[[TaskEvent], None],
    timeout_seconds: float,
) -> Finished:
    """Run the playbook, calling `on_event` (in this thread) for each task result."""
    command = [sys.executable, "-m", "ansible.cli.playbook", "-i", str(inventory), str(playbook)]
    env = childenv.child_env(parent_env, ansible_env)
    with tempfile.TemporaryFile(mode="w+") as stderr:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, env=env,
            text=True, cwd=playbook.parent, start_new_session=True,
        )
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            process.kill()

        timer = threading.Timer(timeout_seconds, expire)
        timer.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                event = _parse(line)
                if event is not None:
                    on_event(event)
            returncode = process.wait()
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            timer.cancel()
        stderr.seek(0)
        text = stderr.read()
    if expired.is_set():
        raise RuntimeFailed(f"ansible-playbook did not finish within {timeout_seconds:.0f}s")
    return Finished(returncode, text)


def _parse(line: str) -> TaskEvent | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("task"), str):
        return None
    result = data.get("result")
    return TaskEvent(str(data.get("event")), str(data.get("host")), data["task"],
                     result if isinstance(result, dict) else {})
