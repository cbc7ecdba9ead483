"""`shipmate serve` as a real process under connections that stall, and under SIGTERM.

The server must not be held open: clients that send half a request cost no thread and are
closed at the header timeout while normal requests are answered; a body that trickles in is
cut at the request timeout; open connections are capped; SIGTERM drains requests and jobs
within the graceful timeout, and a job cut at the deadline stays leased and runs again.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.adapters.queue.sqlite import SqliteQueue
from bot.settings import Settings
from tests.web import slow_handler
from tests.web.helpers import ROOT, SECRET, ServerProcess, encode, headers, payload

HALF_A_REQUEST = b"POST /webhooks/github HTTP/1.1\r\nHost: shipmate\r\nContent-Type: application/json\r\n"


def processes(server: ServerProcess) -> list[int]:
    """The master and its children (gunicorn's worker)."""
    pid = server.proc.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


def threads(server: ServerProcess) -> int:
    total = 0
    for pid in processes(server):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                total += int(line.split()[1])
    return total


def open_sockets(server: ServerProcess) -> int:
    count = 0
    for pid in processes(server):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
            except OSError:
                pass  # closed meanwhile
    return count


def stall(server: ServerProcess, count: int, data: bytes = HALF_A_REQUEST) -> list[socket.socket]:
    out = []
    for _ in range(count):
        sock = socket.create_connection((server.host, server.port), timeout=10)
        sock.sendall(data)
        out.append(sock)
    return out


def still_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


def closed_by_server(sock: socket.socket, timeout: float) -> bytes | None:
    """What the server sent before closing (b"" for nothing), or None if it stayed open."""
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        return None
    except OSError:
        pass  # reset: closed too
    return received


def post_ping(server: ServerProcess, delivery: str) -> tuple[int, dict[str, str]]:
    body = encode(payload("ping/payload.json"))
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    conn.request("POST", "/webhooks/github", body=body, headers=headers("ping", delivery, body))
    response = conn.getresponse()
    answer = response.status, json.loads(response.read())
    conn.close()
    return answer


def metric(server: ServerProcess, line_start: str) -> str:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    return next((line for line in text.splitlines() if line.startswith(line_start)), "")


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"SHIPMATE_WEBHOOK_SECRET": SECRET, "SHIPMATE_DATA_DIR": str(tmp_path / "data"),
            "SHIPMATE_LOG_LEVEL": "INFO", **extra}


@pytest.mark.timeout(120)
def test_half_sent_requests_hold_no_thread_and_are_closed_at_the_header_timeout(tmp_path: Path) -> None:
    header_timeout = 6.0
    server = ServerProcess(base_env(tmp_path, SHIPMATE_HEADER_TIMEOUT_SECONDS=str(header_timeout),
                                    SHIPMATE_HTTP_THREADS="8"), tmp_path / "serve.log")
    try:
        assert post_ping(server, "warm-up")[0] == 202
        before = threads(server)
        opened = time.monotonic()
        stalled = stall(server, 300)
        time.sleep(0.5)
        during = threads(server)
        # a normal delivery is answered at once while the 300 stall
        started = time.monotonic()
        assert post_ping(server, "while-stalled") == (202, {"status": "queued", "delivery": "while-stalled"})
        assert time.monotonic() - started < 3.0
        assert time.monotonic() - opened < header_timeout
        assert all(still_open(s) for s in stalled[:10])
        assert during <= before + 8, (before, during)  # the request threads at most, not one per connection
        # ...and every stalled connection is answered 408 and closed at the header timeout
        for sock in stalled:
            answer = closed_by_server(sock, max(0.1, opened + header_timeout + 5 - time.monotonic()))
            assert answer is not None, "a stalled connection stayed open past the header timeout"
            assert answer in (b"", b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            sock.close()
        assert time.monotonic() - opened < header_timeout + 5
        assert metric(server, 'shipmate_http_timeouts_total{phase="header"}') == \
            'shipmate_http_timeouts_total{phase="header"} 300.0'
        assert threads(server) <= before + 8
    finally:
        assert server.stop() == 0


@pytest.mark.timeout(120)
def test_open_connections_are_capped(tmp_path: Path) -> None:
    server = ServerProcess(base_env(tmp_path, SHIPMATE_HEADER_TIMEOUT_SECONDS="2", SHIPMATE_HTTP_THREADS="4",
                                    SHIPMATE_HTTP_MAX_CONNECTIONS="20"), tmp_path / "serve.log")
    try:
        assert post_ping(server, "warm-up")[0] == 202
        time.sleep(0.3)
        before = open_sockets(server)
        opened = time.monotonic()
        stalled = stall(server, 60)  # the kernel's backlog takes what the server does not accept
        time.sleep(1.0)
        assert open_sockets(server) - before <= 20
        # the waiting ones are accepted as the first are closed, and time out in turn
        for sock in stalled:
            assert closed_by_server(sock, max(0.1, opened + 20 - time.monotonic())) is not None
            sock.close()
        assert post_ping(server, "after")[0] == 202
    finally:
        assert server.stop() == 0


@pytest.mark.timeout(120)
def test_a_trickling_body_is_cut_at_the_request_timeout(tmp_path: Path) -> None:
    server = ServerProcess(base_env(tmp_path, SHIPMATE_REQUEST_TIMEOUT_SECONDS="2"), tmp_path / "serve.log")
    try:
        body = encode(payload("ping/payload.json"))
        head = "".join(f"{k}: {v}\r\n" for k, v in headers("ping", "slow-body", body).items())
        sock = socket.create_connection((server.host, server.port), timeout=10)
        started = time.monotonic()
        sock.sendall(f"POST /webhooks/github HTTP/1.1\r\nHost: x\r\n{head}Content-Length: {len(body)}\r\n\r\n"
                     .encode() + body[:10])
        for i in range(10, 40):  # a byte every 0.2 s: never idle long, never done
            try:
                sock.sendall(body[i:i + 1])
            except OSError:
                break
            time.sleep(0.2)
        assert closed_by_server(sock, 10) is not None
        assert time.monotonic() - started < 2 + 3
        sock.close()
        assert metric(server, 'shipmate_http_timeouts_total{phase="request"}') == \
            'shipmate_http_timeouts_total{phase="request"} 1.0'
        assert post_ping(server, "after")[0] == 202
    finally:
        assert server.stop() == 0
    assert "cut the request of 127.0.0.1:" in server.log_path.read_text()


def test_a_head_too_large_is_refused(tmp_path: Path) -> None:
    server = ServerProcess(base_env(tmp_path), tmp_path / "serve.log")
    try:
        sock = socket.create_connection((server.host, server.port), timeout=10)
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n" + b"X-Filler: " + b"a" * 100_000 + b"\r\n\r\n")
        except OSError:
            pass  # the server may answer and close before it has read everything
        answer = closed_by_server(sock, 10)
        assert answer is not None and answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large")
        sock.close()
    finally:
        assert server.stop() == 0


def slow_server(tmp_path: Path, graceful: float) -> ServerProcess:
    return ServerProcess(base_env(tmp_path, SHIPMATE_HANDLER="tests.web.slow_handler:build",
                                  SHIPMATE_GRACEFUL_TIMEOUT_SECONDS=str(graceful),
                                  SHIPMATE_QUEUE_LEASE_SECONDS="2", SHIPMATE_WORKERS="1"),
                         tmp_path / "serve.log")


def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def stop_timed(server: ServerProcess) -> tuple[int, float]:
    started = time.monotonic()
    code = server.stop()
    return code, time.monotonic() - started


@pytest.mark.timeout(120)
def test_sigterm_lets_a_running_job_finish_within_the_graceful_timeout(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / slow_handler.SLEEP).write_text("4")  # longer than the lease: the drain, not the lease, waits
    server = slow_server(tmp_path, graceful=10)
    assert post_ping(server, "job-1")[0] == 202
    wait_for(lambda: "start job-1" in slow_handler.events(data), 30, "the job did not start")
    code, took = stop_timed(server)
    assert code == 0 and took < 10
    assert slow_handler.events(data) == ["start job-1", "done job-1"]
    queue = SqliteQueue.in_data_dir(data)
    try:
        stats = queue.stats()
        assert (stats.done, stats.running, stats.pending) == (1, 0, 0)
    finally:
        queue.close()
    assert re.search(r"stopping: 1 running job\(s\) get [89] s to finish", server.log_path.read_text())


@pytest.mark.timeout(120)
def test_a_job_cut_at_the_graceful_timeout_stays_leased_and_runs_again(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / slow_handler.SLEEP).write_text("600")
    server = slow_server(tmp_path, graceful=3)
    assert post_ping(server, "job-1")[0] == 202
    wait_for(lambda: "start job-1" in slow_handler.events(data), 30, "the job did not start")
    code, took = stop_timed(server)
    assert code == 0 and took < 3 + 1.5, took
    assert slow_handler.events(data) == ["start job-1"]
    queue = SqliteQueue.in_data_dir(data)
    try:
        assert queue.stats().running == 1  # leased, not lost
    finally:
        queue.close()
    assert "stay leased and run again after the lease" in server.log_path.read_text()

    (data / slow_handler.SLEEP).write_text("0")
    again = slow_server(tmp_path, graceful=3)
    try:
        wait_for(lambda: "done job-1" in slow_handler.events(data), 30, "the job did not run again")
    finally:
        assert again.stop() == 0
    assert slow_handler.events(data) == ["start job-1", "start job-1", "done job-1"]


@pytest.mark.timeout(120)
def test_sigint_stops_at_once_and_leaves_the_running_job_leased(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / slow_handler.SLEEP).write_text("600")
    server = slow_server(tmp_path, graceful=30)
    assert post_ping(server, "job-1")[0] == 202
    wait_for(lambda: "start job-1" in slow_handler.events(data), 30, "the job did not start")
    started = time.monotonic()
    server.proc.send_signal(signal.SIGINT)
    code = server.proc.wait(timeout=60)
    server.stop()  # closes the log; the process is gone already
    assert time.monotonic() - started < 5 and code == 0
    queue = SqliteQueue.in_data_dir(data)
    try:
        assert queue.stats().running == 1
    finally:
        queue.close()


def test_a_setup_error_in_the_worker_is_reported_without_a_traceback(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SHIPMATE_")}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**clean, "PYTHONPATH": str(ROOT), **base_env(tmp_path), "SHIPMATE_LISTEN": "127.0.0.1:0",
             "SHIPMATE_HANDLER": "tests.web.nope:build"},
    )
    assert result.returncode == 2, result.stderr
    assert "environment: SHIPMATE_HANDLER: cannot import tests.web.nope" in result.stderr
    assert "Traceback" not in result.stderr
    assert "shipmate serve stopped: the server could not be set up (see above)" in result.stderr


def test_server_settings_are_validated() -> None:
    from bot.core.errors import ConfigError
    from bot.server import gunicorn_options

    s = Settings.from_env({"SHIPMATE_HTTP_THREADS": "16", "SHIPMATE_HTTP_MAX_CONNECTIONS": "500",
                           "SHIPMATE_HTTP_BACKLOG": "128", "SHIPMATE_HEADER_TIMEOUT_SECONDS": "5",
                           "SHIPMATE_REQUEST_TIMEOUT_SECONDS": "15", "SHIPMATE_GRACEFUL_TIMEOUT_SECONDS": "25",
                           "SHIPMATE_LISTEN": "[::1]:9000"})
    options = gunicorn_options(s)
    assert {k: options[k] for k in ("bind", "workers", "threads", "worker_connections", "backlog",
                                    "graceful_timeout", "keepalive", "control_socket_disable")} == {
        "bind": ["[::1]:9000"], "workers": 1, "threads": 16, "worker_connections": 500, "backlog": 128,
        "graceful_timeout": 25, "keepalive": 0, "control_socket_disable": True}
    assert (s.http.header_timeout_seconds, s.http.request_timeout_seconds) == (5.0, 15.0)
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"SHIPMATE_HTTP_THREADS": "0", "SHIPMATE_HEADER_TIMEOUT_SECONDS": "never",
                           "SHIPMATE_GRACEFUL_TIMEOUT_SECONDS": "0"})
    assert str(error.value).splitlines() == [
        "environment: SHIPMATE_HTTP_THREADS: must be between 1 and 256, got 0",
        "environment: SHIPMATE_HEADER_TIMEOUT_SECONDS: must be a number of seconds, got 'never'",
        "environment: SHIPMATE_GRACEFUL_TIMEOUT_SECONDS: must be between 1 and 86400 seconds, got 0",
    ]
    with pytest.raises(ConfigError, match="SHIPMATE_HTTP_MAX_CONNECTIONS must be larger than SHIPMATE_HTTP_THREADS"):
        Settings.from_env({"SHIPMATE_HTTP_THREADS": "64", "SHIPMATE_HTTP_MAX_CONNECTIONS": "64"})


def test_the_manifest_gives_the_drain_time_to_finish() -> None:
    import yaml

    documents = list(yaml.safe_load_all((ROOT / "deploy" / "shipmate.yaml").read_text()))
    workload = next(d for d in documents if d and d["kind"] == "StatefulSet")
    pod = workload["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    graceful = Settings.from_env({k: v for k, v in env.items() if v is not None}).http.graceful_timeout_seconds
    assert graceful == 25
    assert pod["terminationGracePeriodSeconds"] == 30 > graceful
