"""Shared test fixtures: paths to the repository, fixtures and the tools install dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.sshd import ArtifactServer, ClientKey, TestHost, client_key, test_hosts
from fixtures.sshd.artifacts import LISTENER

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


@pytest.fixture
def ssh_key(tmp_path: Path) -> ClientKey:
    """An ed25519 client key the on-prem test hosts authorize for root."""
    return client_key(tmp_path / "ssh-key")


@pytest.fixture
def artifacts() -> Iterator[ArtifactServer]:
    """A loopback HTTP server with one artifact, `listener` (a tiny service answering $GREETING
    on $PORT), reachable from the on-prem test hosts at the same address."""
    with ArtifactServer.start({"listener": LISTENER}) as server:
        yield server


@pytest.fixture
def onprem_hosts(tmp_path: Path, ssh_key: ClientKey, artifacts: ArtifactServer) -> Iterator[tuple[TestHost, TestHost]]:
    """Two on-prem test hosts, `web1` and `web2` (fixtures/sshd): real sshd, each in its own
    namespaces, reaching `artifacts`; every process on them ends with the test."""
    forward = (artifacts.port,)
    with test_hosts(tmp_path / "hosts", ("web1", "web2"), ssh_key, forward=forward) as (web1, web2):
        yield web1, web2


@pytest.fixture
def web1(onprem_hosts: tuple[TestHost, TestHost]) -> TestHost:
    return onprem_hosts[0]


@pytest.fixture
def web2(onprem_hosts: tuple[TestHost, TestHost]) -> TestHost:
    return onprem_hosts[1]


@pytest.fixture
def onprem_inventory(onprem_hosts: tuple[TestHost, TestHost]) -> dict[str, object]:
    """A workspace's `onprem` inventory for web1 and web2 (group `web`), reached as root with the
    key `ref://ssh/key` names, each host key pinned."""
    return {
        "hosts": {host.name: host.entry(hostKey=host.host_key) for host in onprem_hosts},
        "groups": {"web": [host.name for host in onprem_hosts]},
    }
