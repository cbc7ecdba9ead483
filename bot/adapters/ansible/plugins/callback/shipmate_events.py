"""Ansible stdout callback: one JSON line per task result, read by `bot.adapters.ansible.runner`.

Each line is `{"event": ok|failed|skipped|unreachable, "host", "task", "result"}` where
`result` keeps only what Shipmate reads (changed, failed, msg, rc, short stderr/stdout, the
probe's `objects`): module output such as a file's content or a diff never leaves Ansible
through here. Ansible's own messages (warnings, errors before any task) go to stderr.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: shipmate_events
    type: stdout
    short_description: task results as JSON lines for Shipmate
    description: One JSON object per task result on stdout.
"""

KEPT = ("changed", "failed", "skipped", "unreachable", "msg", "rc", "objects", "state")
SHORT = ("stderr", "stdout", "module_stderr", "module_stdout", "exception")
LIMIT = 2000


class CallbackModule(CallbackBase):  # type: ignore[misc]  # Ansible's classes are untyped
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "shipmate_events"

    def _emit(self, event: str, result: Any, ignore_errors: bool = False) -> None:
        raw = getattr(result, "result", None)
        if raw is None:
            raw = getattr(result, "_result", {})
        host = getattr(result, "host", None) or result._host
        task = getattr(result, "task", None) or result._task
        kept: dict[str, Any] = {k: raw[k] for k in KEPT if k in raw}
        for key in SHORT:
            value = raw.get(key)
            if isinstance(value, str) and value:
                kept[key] = value[-LIMIT:]
        line = {"event": event, "host": host.get_name(), "task": task.get_name(), "result": kept}
        sys.stdout.write(json.dumps(line, default=str, sort_keys=True) + "\n")
        sys.stdout.flush()

    def v2_runner_on_ok(self, result: Any) -> None:
        self._emit("ok", result)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._emit("failed", result, ignore_errors)

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._emit("skipped", result)

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._emit("unreachable", result)
