"""Benchmark: webhook ack latency and sustained deliveries per second, against the floor.

Two servers run on loopback, each served the same way (gunicorn as `shipmate serve` runs
it, `bot.server`: one worker process, its request threads, the header and request timeouts,
one request per connection):

- *shipmate*: `shipmate serve` with the SQLite queue (`synchronous=FULL`) and 4 workers
  routing the events as they arrive (verify the HMAC, parse, store durably, answer 202);
- *floor*: a bare Flask endpoint that reads the body and answers 202 and does nothing else,
  served by `bot.server.WsgiServer` with the same settings.

Both get the same pre-signed, distinct `pull_request` deliveries shaped like GitHub's
(about 25 KB each) from a few concurrent clients, after a warm-up. Printed: ack latency
p50/p99, deliveries per second while posting, server CPU per delivery, the ratio of each to
the floor, how long the workers took to drain the queue after the last ack, and this disk's
fsync time (every ack waits for one; concurrent acks share it).

    python bench/webhooks.py [--requests 2000] [--clients 4] [--workers 4]
"""

from __future__ import annotations

import argparse
import copy
import http.client
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.web import signature  # noqa: E402

SECRET = "bench-secret"
PAYLOAD = ROOT / "fixtures" / "github_sim" / "webhook_examples" / "pull_request" / "synchronize.payload.json"


def floor_app() -> Any:
    """The floor: a Flask endpoint doing nothing."""
    from flask import Flask, request

    app = Flask("floor")

    @app.post("/webhooks/github")
    def webhook() -> tuple[str, int]:
        request.get_data()
        return '{"status":"ok"}', 202

    return app


def floor_server() -> None:
    """The floor app served like `shipmate serve` (gunicorn, the same settings)."""
    from bot.server import WsgiServer
    from bot.settings import Settings

    settings = Settings.from_env({**os.environ, "SHIPMATE_LISTEN": "127.0.0.1:0"})
    logging.basicConfig(level=logging.WARNING)
    WsgiServer(settings, floor_app).run()


def start(command: list[str], env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str, int]:
    handle = open(log, "wb")  # noqa: SIM115 - owned by the child for its lifetime
    proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=handle, stderr=handle)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if "serving on http://" in line:
                host_port = line.split("serving on http://", 1)[1].split()[0]
                host, port = host_port.rsplit(":", 1)
                return proc, host, int(port)
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    proc.kill()
    raise SystemExit(f"server did not start: {' '.join(command)}\n{log.read_text()[-2000:]}")


def deliveries(count: int) -> list[tuple[dict[str, str], bytes]]:
    base = json.loads(PAYLOAD.read_text())
    out = []
    for i in range(count):
        body = copy.deepcopy(base)
        body["number"] = body["pull_request"]["number"] = 1 + i % 50
        body["pull_request"]["head"]["sha"] = f"{i:040x}"
        raw = json.dumps(body).encode()
        delivery_id = str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": delivery_id,
            "X-Hub-Signature-256": signature(SECRET, raw),
            "User-Agent": "GitHub-Hookshot/bench",
        }
        out.append((headers, raw))
    return out


def hammer(host: str, port: int, work: list[tuple[dict[str, str], bytes]], clients: int) -> tuple[list[float], float]:
    """Post every delivery from `clients` threads, a connection each; (latencies, wall seconds)."""
    latencies: list[float] = []
    lock = threading.Lock()
    shares = [work[i::clients] for i in range(clients)]
    errors: list[str] = []

    def client(share: list[tuple[dict[str, str], bytes]]) -> None:
        mine = []
        for headers, body in share:
            started = time.perf_counter()
            conn = http.client.HTTPConnection(host, port, timeout=30)
            conn.request("POST", "/webhooks/github", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            conn.close()
            mine.append(time.perf_counter() - started)
            if response.status != 202:
                errors.append(f"HTTP {response.status}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(s,)) for s in shares]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, e.g. {errors[0]}")
    return latencies, wall


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its live children (gunicorn's worker;
    Linux /proc), 0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) for child in children)


def fsync_ms(directory: Path, size: int, count: int = 50) -> float:
    """Median time to append `size` bytes to a file and fsync it, in this directory."""
    times = []
    block = os.urandom(size)
    with open(directory / "fsync.probe", "wb") as probe:
        for _ in range(count):
            started = time.perf_counter()
            probe.write(block)
            probe.flush()
            os.fsync(probe.fileno())
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def queue_depth(host: str, port: int) -> int:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    depth = 0
    for line in text.splitlines():
        if line.startswith('shipmate_queue_jobs{state="pending"}') or line.startswith('shipmate_queue_jobs{state="running"}'):
            depth += int(float(line.split()[-1]))
    return depth


def measure(requests: int, clients: int, workers: int) -> dict[str, float]:
    warmup = 100
    work = deliveries(warmup + requests)
    with tempfile.TemporaryDirectory(prefix="shipmate-bench-") as tmp:
        tmpdir = Path(tmp)
        fsync_probe = fsync_ms(tmpdir, len(work[0][1]))
        env = {
            "SHIPMATE_WEBHOOK_SECRET": SECRET,
            "SHIPMATE_DATA_DIR": str(tmpdir / "data"),
            "SHIPMATE_LISTEN": "127.0.0.1:0",
            "SHIPMATE_WORKERS": str(workers),
            "SHIPMATE_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        ours, host, port = start([sys.executable, "-m", "bot", "serve"], env, tmpdir / "serve.log")
        floor, fhost, fport = start([sys.executable, str(Path(__file__).resolve()), "--floor-server"],
                                    {"PYTHONPATH": str(ROOT), "SHIPMATE_LOG_LEVEL": "WARNING"}, tmpdir / "floor.log")
        try:
            hammer(fhost, fport, work[:warmup], clients)
            floor_cpu = cpu_seconds(floor.pid)
            floor_lat, floor_wall = hammer(fhost, fport, work[warmup:], clients)
            floor_cpu = cpu_seconds(floor.pid) - floor_cpu
            hammer(host, port, work[:warmup], clients)
            while queue_depth(host, port):
                time.sleep(0.05)
            our_cpu = cpu_seconds(ours.pid)
            our_lat, our_wall = hammer(host, port, work[warmup:], clients)
            drain_started = time.perf_counter()
            while queue_depth(host, port):
                time.sleep(0.02)
            drain = time.perf_counter() - drain_started
            our_cpu = cpu_seconds(ours.pid) - our_cpu
        finally:
            for proc in (ours, floor):
                proc.terminate()
                proc.wait(timeout=60)
    return {
        "p50": percentile(our_lat, 0.50), "p99": percentile(our_lat, 0.99), "rate": requests / our_wall,
        "floor_p50": percentile(floor_lat, 0.50), "floor_p99": percentile(floor_lat, 0.99),
        "floor_rate": requests / floor_wall, "mean": statistics.fmean(our_lat), "drain": drain,
        "body_kb": len(work[0][1]) / 1024, "fsync_ms": fsync_probe,
        "cpu_ms": our_cpu / requests * 1e3, "floor_cpu_ms": floor_cpu / requests * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--floor-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_server:
        floor_server()
        return
    r = measure(args.requests, args.clients, args.workers)
    print(f"webhook intake: {args.requests} signed pull_request deliveries of {r['body_kb']:.1f} KB, "
          f"{args.clients} concurrent clients, {args.workers} workers, loopback, {os.cpu_count()} cores")
    print(f"{'':24}{'shipmate':>12}{'floor':>12}{'ratio':>9}")
    print(f"{'ack latency p50 (ms)':24}{r['p50'] * 1e3:12.2f}{r['floor_p50'] * 1e3:12.2f}{r['p50'] / r['floor_p50']:8.2f}x")
    print(f"{'ack latency p99 (ms)':24}{r['p99'] * 1e3:12.2f}{r['floor_p99'] * 1e3:12.2f}{r['p99'] / r['floor_p99']:8.2f}x")
    print(f"{'deliveries per second':24}{r['rate']:12.0f}{r['floor_rate']:12.0f}{r['rate'] / r['floor_rate']:8.2f}x")
    if r["floor_cpu_ms"]:
        print(f"{'server CPU per delivery':24}{r['cpu_ms']:10.2f}ms{r['floor_cpu_ms']:10.2f}ms"
              f"{r['cpu_ms'] / r['floor_cpu_ms']:8.2f}x  (shipmate: intake + queue + processing)")
    print(f"queue drained {r['drain'] * 1e3:.0f} ms after the last ack (workers process while intake runs)")
    print(f"fsync of one delivery on this disk: {r['fsync_ms']:.2f} ms (median); "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
