"""The bot's bookkeeping in the data directory: small JSON documents, rewritten atomically.

`JsonFile` is one such document (the poller's heads seen, the drift checks' last fire
times); `JsonRepositoryBook` is the `RepositoryBook` port over `repositories.json`: the
repositories the bot has served, with the GitHub App installation each came from. A file
that cannot be read is logged and started afresh: it holds only what the next poll, sweep
or drift check would learn again.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("shipmate.localfs")

REPOSITORIES_FILE = "repositories.json"


class JsonFile:
    """A small JSON document in the data dir, rewritten atomically, safe across threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def read(self) -> dict[str, Any]:
        with self._lock:
            return self._read()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("%s is unreadable (%s); starting afresh", self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def update(self, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        with self._lock:
            data = self._read()
            change(data)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=2, sort_keys=True)
                out.write("\n")
            os.replace(tmp, self.path)
            return data


class JsonRepositoryBook:
    """The `RepositoryBook` port in `repositories.json` in the data dir: repository →
    App installation (or null). The router records; the scheduler reads."""

    def __init__(self, data_dir: Path) -> None:
        self.file = JsonFile(data_dir / REPOSITORIES_FILE)
        self._known: dict[str, int | None] = {
            str(k): (v if isinstance(v, int) else None) for k, v in self.file.read().items()
        }
        self._lock = threading.Lock()

    def remember(self, repo: str, installation_id: int | None) -> None:
        with self._lock:
            if repo in self._known and (installation_id is None or self._known[repo] == installation_id):
                return
            self._known[repo] = installation_id if installation_id is not None else self._known.get(repo)
            value = self._known[repo]

        def change(data: dict[str, Any]) -> None:
            data[repo] = value

        self.file.update(change)

    def repositories(self) -> dict[str, int | None]:
        with self._lock:
            return dict(sorted(self._known.items()))
