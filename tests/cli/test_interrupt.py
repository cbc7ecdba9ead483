"""Ctrl-C during `shipmate apply`, as a person presses it: the operation in flight finishes, the
rest are skipped, the release is recorded as interrupted, the lock is freed, and the command
exits 130 with the reason on stderr once.

The stack's first file is a named pipe, so writing it blocks until the test reads it: the
signal arrives while that operation is in flight, deterministically."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from bot.adapters.gitstate import local_backend
from bot.core.release import Phase
from tests.cli.localstack import LocalStack, site
from tests.conftest import ROOT


class Lines:
    """The lines of a child's stream as they come (read on a thread: no buffering surprises)."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen = ""
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put("")

    def until(self, needle: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.seen:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"{needle!r} not seen; got {self.seen!r}") from None
            assert line, f"the stream ended before {needle!r}; got {self.seen!r}"
            self.seen += line

    def rest(self) -> str:
        while (line := self.lines.get(timeout=60)):
            self.seen += line
        return self.seen


def test_one_ctrl_c_records_the_release_as_interrupted_and_exits_130(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path, a="first\n", b="second\n", c="third\n")
    os.mkfifo(stack.files / "a.txt")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site(tmp_path)), str(ROOT)]),
           "SHIPMATE_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "bot", "apply", "--yes", "--concurrency", "1", *stack.where()],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        lines = Lines(proc.stderr)
        lines.until("start   Create    local:file:web-a")
        proc.send_signal(signal.SIGINT)
        lines.until("stopping: operations in flight will finish")
        assert (stack.files / "a.txt").open().read() == "first\n"  # the write in flight completes
        out = proc.stdout.read()
        err = lines.rest()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.count("stopping:") == 1
    assert "skipped Create    local:file:web-b: cancelled" in err
    assert "release shop/dev r1: failed (1 succeeded, 2 skipped, cancelled)" in out
    with local_backend(stack.state) as backend:
        release = backend.latest("shop", "dev")
        assert release is not None and backend.list_locks() == ()
    assert release.phase == Phase.FAILED and release.error is not None and release.error.startswith("interrupted")
    assert [r.id for r in release.state.resources] == ["local:file:web-a"]
    assert not (stack.files / "b.txt").exists()
