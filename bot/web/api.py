"""The read API under `/api/v1`: the dashboard's read model (`bot.app.dashboard`) as JSON.

| method and path | answer |
|---|---|
| `GET /api/v1/repos[?q=&phase=]` | the overview: repositories -> projects -> stacks (latest release, lock, drift) and counts |
| `GET /api/v1/repos/<owner>/<repo>/stacks` | one repository's projects and stacks |
| `GET .../stacks/<project>/<workspace>/releases[?before=&limit=]` | a page of its releases, newest first (`nextBefore` asks for the next) |
| `GET .../releases/<revision>` | one release whole, as the state branch stores it (masked) |
| `GET .../compare?a=&b=` | what changed from revision a to b: Spec, state and the release's fields, as data and as text |
| `GET /api/v1/locks` | every lock held (holder, pull request, lease expiry, fencing token) |
| `DELETE .../stacks/<project>/<workspace>/lock` | unlock, as `shipmate release unlock` (the acting role) |
| `GET /api/v1/queue[?state=...]` | jobs: pending, running, failed and dead-lettered by default |
| `POST /api/v1/queue/<id>/retry` | put a dead-lettered job back in line (the acting role) |
| `GET /api/v1/drift` | the last drift check of every checked stack |
| `GET /api/v1/pulls` | open pull requests and the locks each holds |

Access is `bot.web.auth`'s: a signed-in session or `Authorization: Bearer <GitHub token>`;
a repository is shown only to a viewer who may read it, and the list answers hold only those.
Unlock and retry take the configured role (`SHIPMATE_DASHBOARD_ROLE`) and, for a session,
the CSRF token (`X-CSRF-Token`); a token caller sends no cookie, so it needs none. Every
error is JSON, `{"error": ..., "reason": ...}`: 400 for a malformed question, 401 when not
signed in, 403 (the reason names the role it takes), 404 for what does not exist or may not
be seen. Answers are `bot.app.dashboard_values.to_json` of the read model's values, with
sorted keys: the same state gives the same bytes.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException, abort

from bot.app.dashboard import QUEUE_STATES, Dashboard, Invalid, NotFound
from bot.app.dashboard_values import to_json
from bot.web import auth

PREFIX = "/api/v1"
STACK = "/repos/<owner>/<name>/stacks/<project>/<workspace>"


def blueprint(dashboard: Dashboard) -> Blueprint:
    """The `/api/v1` blueprint over `dashboard`."""
    api = Blueprint("api", __name__, url_prefix=PREFIX)

    def readable() -> list[str]:
        return list(auth.visible(list(dashboard.repositories())))

    def repo_of(owner: str, name: str, role: str = "read") -> str:
        repo = f"{owner}/{name}"
        auth.require(repo, role)
        return repo

    @api.get("/repos")
    def repos() -> Response:
        return answer(dashboard.overview(readable(), request.args.get("q", ""), request.args.get("phase") or None))

    @api.get("/repos/<owner>/<name>/stacks")
    def stacks(owner: str, name: str) -> Response:
        return answer(dashboard.stacks(repo_of(owner, name)))

    @api.get(f"{STACK}/releases")
    def history(owner: str, name: str, project: str, workspace: str) -> Response:
        before = number("before", optional=True)
        limit = number("limit", optional=True)
        return answer(dashboard.history(repo_of(owner, name), project, workspace, before,
                                        50 if limit is None else limit))

    @api.get(f"{STACK}/releases/<revision>")
    def release(owner: str, name: str, project: str, workspace: str, revision: str) -> Response:
        return answer(dashboard.release(repo_of(owner, name), project, workspace, revision_of(revision)))

    @api.get(f"{STACK}/compare")
    def compare(owner: str, name: str, project: str, workspace: str) -> Response:
        repo = repo_of(owner, name)
        a, b = number("a"), number("b")
        assert a is not None and b is not None
        return answer(dashboard.compare(repo, project, workspace, a, b))

    @api.get("/locks")
    def locks() -> Response:
        return answer({"locks": dashboard.locks(readable())})

    @api.delete(f"{STACK}/lock")
    def unlock(owner: str, name: str, project: str, workspace: str) -> Response:
        repo = repo_of(owner, name, "read")
        auth.require(repo, auth.acting_role())
        auth.check_csrf()
        return answer(dashboard.unlock(repo, project, workspace, login()))

    @api.get("/queue")
    def queue() -> Response:
        states = request.args.getlist("state") or list(QUEUE_STATES)
        return answer({"jobs": dashboard.queue(states, repos=readable())})

    @api.post("/queue/<job_id>/retry")
    def retry(job_id: str) -> Response:
        job = dashboard.job(revision_of(job_id, "job"))
        auth.require(job.repo, "read")
        auth.require(job.repo, auth.acting_role())
        auth.check_csrf()
        return answer(dashboard.retry(job.id, login()))

    @api.get("/drift")
    def drift() -> Response:
        return answer({"drift": dashboard.drift(readable())})

    @api.get("/pulls")
    def pulls() -> Response:
        return answer({"pulls": dashboard.pulls(readable())})

    @api.route("/", defaults={"rest": ""}, methods=["GET", "POST", "DELETE", "PUT", "PATCH"])
    @api.route("/<path:rest>", methods=["GET", "POST", "DELETE", "PUT", "PATCH"])
    def unknown(rest: str) -> Response:
        raise NotFound(f"there is no {request.method} {PREFIX}/{rest}")

    @api.before_request
    def signed_in() -> None:
        if auth.current_viewer() is None:
            abort(401, description="not signed in: sign in at /login, or send Authorization: Bearer <GitHub token>")

    @api.errorhandler(NotFound)
    def not_found(exc: NotFound) -> Response:
        return error(404, "not found", str(exc))

    @api.errorhandler(Invalid)
    def invalid(exc: Invalid) -> Response:
        return error(400, "bad request", str(exc))

    @api.errorhandler(HTTPException)
    def http(exc: HTTPException) -> Response:
        return error(exc.code or 500, (exc.name or "error").lower(), exc.description or "")

    return api


def answer(value: Any, status: int = 200) -> Response:
    body = json.dumps(to_json(value), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return Response(body, status=status, mimetype="application/json")


def error(status: int, what: str, reason: str) -> Response:
    return answer({"error": what, "reason": reason}, status)


def login() -> str:
    viewer = auth.current_viewer()
    return viewer.login if viewer is not None else ""


def number(name: str, optional: bool = False) -> int | None:
    """The query parameter `name` as a whole number (400 when it is not; None when absent
    and `optional`)."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        if optional:
            return None
        raise Invalid(f"the query parameter {name} is required")
    return revision_of(raw, name)


def revision_of(raw: str, what: str = "revision") -> int:
    text = raw.removeprefix("r") if what == "revision" else raw
    if not text.isdigit() or len(text) > 12:
        raise Invalid(f"{what} must be a whole number, got {raw!r}")
    return int(text)

