"""Builders of signed GitHub-shaped deliveries for the intake tests (real payload shapes)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from bot.web import signature

PAYLOADS = Path(__file__).resolve().parents[3] / "shared" / "github-webhooks"
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
