"""Shared test fixtures: paths to the repository, fixtures and the tools install dir."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


@pytest.fixture
def root() -> Path:
    return ROOT


# --- a real Redis server (the queue tests and anything else that needs one) ----------------


class ManualClock:
    """A clock the test moves by hand (implements bot.core.ports.Clock)."""

    def __init__(self, start: str = "2024-05-01T12:00:00+00:00") -> None:
        from datetime import datetime

        self.moment = datetime.fromisoformat(start)

    def now(self):  # type: ignore[no-untyped-def]
        return self.moment

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self.moment += timedelta(seconds=seconds)


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """`redis://127.0.0.1:<port>/0` of a redis-server this session starts on a free port."""
    import shutil
    import subprocess
    import time

    import redis

    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed (./scripts/install installs it)"
    workdir = tmp_path_factory.mktemp("redis")
    for _ in range(5):
        port = _free_port()
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
             "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 10
        ready = False
        while not ready and proc.poll() is None and time.monotonic() < deadline:
            try:
                ready = bool(client.ping())
            except redis.ConnectionError:
                time.sleep(0.02)
        client.close()
        if not ready:
            proc.kill()
            proc.wait()
            continue
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        return
    raise RuntimeError("could not start redis-server on a free port")
