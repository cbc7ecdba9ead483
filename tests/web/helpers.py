"""Builders of signed GitHub-shaped deliveries for the intake tests (real payload shapes)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from bot.web import signature

PAYLOADS = Path(__file__).resolve().parents[2] / "fixtures" / "github_sim" / "webhook_examples"
SECRET = "It's a Secret to Everybody"


def payload(relative: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / relative).read_text())


_PR = payload("pull_request/synchronize.payload.json")
_COMMENT = payload("issue_comment/created.payload.json")
_PUSH = payload("push/with-new-branch.payload.json")


def pull_request(repo: str, number: int, sha: str, action: str = "synchronize") -> dict[str, Any]:
    body = copy.deepcopy(_PR)
    body["action"] = action
    body["number"] = number
    body["repository"]["full_name"] = repo
    pr = body["pull_request"]
    pr["number"] = number
    pr["head"]["sha"] = sha
    pr["head"]["repo"]["full_name"] = repo
    pr["base"]["repo"]["full_name"] = repo
    return body


def comment(repo: str, number: int, comment_id: int, text: str) -> dict[str, Any]:
    body = copy.deepcopy(_COMMENT)
    body["repository"]["full_name"] = repo
    body["issue"]["number"] = number
    body["issue"]["pull_request"] = {"url": f"https://api.github.com/repos/{repo}/pulls/{number}"}
    body["comment"]["id"] = comment_id
    body["comment"]["body"] = text
    return body


def push(repo: str, ref: str, after: str) -> dict[str, Any]:
    body = copy.deepcopy(_PUSH)
    body["repository"]["full_name"] = repo
    body["ref"] = ref
    body["after"] = after
    return body


def headers(event: str, delivery_id: str, body: bytes, secret: str | None = SECRET) -> dict[str, str]:
    out = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id,
        "User-Agent": "GitHub-Hookshot/test",
    }
    if secret is not None:
        out["X-Hub-Signature-256"] = signature(secret, body)
    return out


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


# --- a real `shipmate serve` process ------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


class ServerProcess:
    """`python -m bot serve` in a subprocess on a free loopback port; stderr goes to a file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        import os
        import subprocess
        import sys
        import time

        self.log_path = log_path
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), "SHIPMATE_LISTEN": "127.0.0.1:0", **env}
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()/kill()
        start = log_path.stat().st_size
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=full_env,
            stdout=self._log, stderr=self._log, start_new_session=True,
        )
        deadline = time.monotonic() + 30
        self.url = ""
        while not self.url:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"shipmate serve did not start:\n{log_path.read_text()[-4000:]}")
            with open(log_path, "rb") as f:
                f.seek(start)
                for line in f.read().decode(errors="replace").splitlines():
                    if "shipmate serving on " in line:
                        self.url = line.split("serving on ", 1)[1].split()[0]
            time.sleep(0.02)
        host_port = self.url.removeprefix("http://")
        self.host, port = host_port.rsplit(":", 1)
        self.port = int(port)

    def kill(self) -> None:
        """SIGKILL to the server's processes at once (gunicorn's master and its worker)."""
        import os
        import signal

        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._log.close()

    def stop(self) -> int:
        import signal

        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self._log.close()
        return code
