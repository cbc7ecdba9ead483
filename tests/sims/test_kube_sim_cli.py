"""`python -m fixtures.kube_sim`: serves until terminated, writes a kubeconfig, reports bad arguments."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import requests
import yaml

from fixtures.kube_sim import free_port

ROOT = Path(__file__).resolve().parents[2]


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "fixtures.kube_sim", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_serves_writes_a_kubeconfig_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    kubeconfig = tmp_path / "nested" / "kubeconfig"
    process = start("--port", str(port), "--kubeconfig", str(kubeconfig), "--latency-ms", "5",
                    "--ready-delay", "0.1")
    try:
        assert process.stdout is not None
        banner = process.stdout.readline().strip()
        assert banner == f"kube-sim: serving http://127.0.0.1:{port}, kubeconfig {kubeconfig}"
        config = yaml.safe_load(kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"] == f"http://127.0.0.1:{port}"
        assert config["current-context"] == config["contexts"][0]["name"]
        version = requests.get(f"http://127.0.0.1:{port}/version", timeout=10).json()
        assert version["gitVersion"] == "v1.33.0"
        namespaces = requests.get(f"http://127.0.0.1:{port}/api/v1/namespaces", timeout=10).json()
        assert [n["metadata"]["name"] for n in namespaces["items"]] == [
            "default", "kube-node-lease", "kube-public", "kube-system"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_bad_arguments_and_a_busy_port_are_reported(tmp_path: Path) -> None:
    negative = start("--latency-ms", "-1")
    _, err = negative.communicate(timeout=60)
    assert negative.returncode == 2 and "--latency-ms and --ready-delay must not be negative" in err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = start("--port", str(port))
        out, err = taken.communicate(timeout=60)
    assert taken.returncode == 1 and out == ""
    assert err.startswith(f"kube-sim: cannot listen on 127.0.0.1:{port}: ")
    assert "Traceback" not in err
