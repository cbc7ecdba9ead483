"""The dashboard's pages under `/ui`: server-rendered HTML over the read model.

Every page is a view of one `bot.app.dashboard.Dashboard` answer, rendered by Jinja2 from
`bot/web/templates/dashboard/` with the stylesheet and the small live-update script of
`bot/web/static/` (no build step, nothing from elsewhere):

| page | what it shows |
|---|---|
| `/ui` | repositories -> projects -> stacks with their latest release, lock and drift; a GET form filters by text and phase |
| `/ui/<owner>/<repo>/<project>/<workspace>` | the stack's releases, newest first (`?before=` pages on), a form to compare two |
| `.../<revision>` | one release: its provenance and the resources its Spec and state hold (masked, as stored) |
| `.../compare?a=12&b=15` | what changed between two revisions: Spec and state, masked |
| `/ui/locks` | the locks held, each with an Unlock button |
| `/ui/queue` | pending, running and dead-lettered jobs, a Retry button on the dead ones |
| `/ui/drift` | the last drift check of each stack, the drifted resources' diffs, what to do about it |
| `/ui/pulls` | open pull requests, their latest preview per stack, the locks they hold |

Access comes from `bot.web.auth`: a page shows only the repositories the viewer may read; a
visitor not signed in is sent to sign in, and comes back. The buttons are shown to everyone
signed in; the POST behind them checks the CSRF token (`auth`) and the configured role, and a
viewer without it gets the page again with a notice saying which role it takes (403).

Live updates: `static/dashboard.js` fetches the page again every few seconds with the header
`X-Shipmate-Fragment`, which is answered with the page's content alone (`fragment.html`), and
swaps it in. With JavaScript off every page is whole as served.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as Redirect

from bot.app.dashboard import Dashboard, Invalid, NotFound
from bot.core.release import Phase
from bot.core.yamlio import dump_data
from bot.web import auth

NAV: tuple[tuple[str, str], ...] = (
    ("pages.overview", "Overview"),
    ("pages.locks", "Locks"),
    ("pages.queue", "Queue"),
    ("pages.drift", "Drift"),
    ("pages.pulls", "Pull requests"),
)
FRAGMENT_HEADER = "X-Shipmate-Fragment"
HISTORY_PAGE = 50
QUEUE_STATES = ("dead", "failed", "running", "pending")
PHASES = (*(str(p) for p in Phase), "none")


def when(value: datetime | str | None) -> str:
    """A time as the pages show it: `2024-05-01 12:00:05 UTC` (RFC 3339 text is parsed)."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def short(commit: str | None) -> str:
    return (commit or "")[:7]


def blueprint(dashboard: Dashboard, *, poll_seconds: float = 5.0) -> Blueprint:
    """The `/ui` pages over `dashboard`; the content refreshes every `poll_seconds` with
    JavaScript on."""
    pages = Blueprint("pages", __name__, url_prefix="/ui", template_folder="templates",
                      static_folder="static", static_url_path="/static")
    pages.add_app_template_filter(when, "ui_time")
    pages.add_app_template_filter(short, "ui_short")
    pages.add_app_template_filter(dump_data, "ui_yaml")

    def readable() -> list[str]:
        return list(auth.visible(list(dashboard.repositories())))

    def page(template: str, title: str, *, status: int = 200, **values: Any) -> tuple[str, int]:
        fragment = request.headers.get(FRAGMENT_HEADER) == "1"
        html = render_template(
            f"dashboard/{template}", layout="dashboard/fragment.html" if fragment else "dashboard/base.html",
            title=title, status=status, nav=NAV, viewer=auth.current_viewer(), poll_ms=int(poll_seconds * 1000),
            csrf_token=auth.csrf_token, role=auth.acting_role(), done=request.args.get("done", ""), **values,
        )
        return html, status

    def stack(owner: str, name: str, project: str, workspace: str) -> dict[str, Any]:
        auth.require(f"{owner}/{name}", "read")
        return {"repo": f"{owner}/{name}", "owner": owner, "name": name, "project": project, "workspace": workspace}

    @pages.before_request
    def signed_in() -> Redirect | None:
        if request.endpoint == "pages.static" or auth.current_viewer() is not None:
            return None
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))

    @pages.errorhandler(HTTPException)
    def refused(exc: HTTPException) -> Redirect | tuple[str, int]:
        if exc.code == 401:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return page("message.html", exc.name, status=exc.code or 500, message=exc.description or exc.name)

    @pages.errorhandler(NotFound)
    def not_found(exc: NotFound) -> tuple[str, int]:
        return page("message.html", "Not found", status=404, message=str(exc))

    @pages.errorhandler(Invalid)
    def invalid(exc: Invalid) -> tuple[str, int]:
        return page("message.html", "Cannot show that", status=400, message=str(exc))

    @pages.get("")
    def overview() -> tuple[str, int]:
        query = request.args.get("q", "").strip()
        phase = request.args.get("phase", "").strip() or None
        view = dashboard.overview(readable(), query=query, phase=phase)
        return page("overview.html", "Overview", view=view, query=query, phase=phase or "", phases=PHASES)

    @pages.get("/<owner>/<name>/<project>/<workspace>")
    def history(owner: str, name: str, project: str, workspace: str) -> tuple[str, int]:
        where = stack(owner, name, project, workspace)
        before = request.args.get("before", type=int)
        view = dashboard.history(where["repo"], project, workspace, before=before, limit=HISTORY_PAGE)
        return page("history.html", f"{project}/{workspace}", view=view, **where)

    @pages.get("/<owner>/<name>/<project>/<workspace>/<int:revision>")
    def release(owner: str, name: str, project: str, workspace: str, revision: int) -> tuple[str, int]:
        where = stack(owner, name, project, workspace)
        view = dashboard.release(where["repo"], project, workspace, revision)
        return page("release.html", f"{project}/{workspace} r{revision}", view=view, **where)

    @pages.get("/<owner>/<name>/<project>/<workspace>/compare")
    def compare(owner: str, name: str, project: str, workspace: str) -> tuple[str, int]:
        where = stack(owner, name, project, workspace)
        a, b = request.args.get("a", type=int), request.args.get("b", type=int)
        if a is None or b is None:
            raise Invalid("choose two revisions to compare (?a=12&b=15)")
        view = dashboard.compare(where["repo"], project, workspace, a, b)
        return page("compare.html", f"{project}/{workspace}: r{a} → r{b}", view=view, **where)

    @pages.get("/locks")
    def locks() -> tuple[str, int]:
        return page("locks.html", "Locks", view=dashboard.locks(readable()))

    @pages.post("/locks/unlock")
    def unlock() -> Redirect | tuple[str, int]:
        repo, project, workspace = (request.form.get(k, "") for k in ("repo", "project", "workspace"))
        refused = acting(repo, f"unlock {project}/{workspace}")
        if refused is not None:
            return page("locks.html", "Locks", status=403, view=dashboard.locks(readable()), notice=refused)
        done = dashboard.unlock(repo, project, workspace, viewer_login())
        freed = f" (lock of {done.freed.owner} freed)" if done.freed else ""
        return finished("pages.locks", f"Unlocked {repo} {project}/{workspace}{freed}.")

    @pages.get("/queue")
    def queue() -> tuple[str, int]:
        view = dashboard.queue(QUEUE_STATES, repos=readable())
        return page("queue.html", "Queue", view=view, states=QUEUE_STATES)

    @pages.post("/queue/<int:job_id>/retry")
    def retry(job_id: int) -> Redirect | tuple[str, int]:
        repo = dashboard.job(job_id).repo
        refused = acting(repo, f"retry job {job_id}")
        if refused is not None:
            view = dashboard.queue(QUEUE_STATES, repos=readable())
            return page("queue.html", "Queue", status=403, view=view, states=QUEUE_STATES, notice=refused)
        done = dashboard.retry(job_id, viewer_login())
        return finished("pages.queue", f"Job {job_id} is queued again as job {done.new_id}.")

    @pages.get("/drift")
    def drift() -> tuple[str, int]:
        return page("drift.html", "Drift", view=dashboard.drift(readable()))

    @pages.get("/pulls")
    def pulls() -> tuple[str, int]:
        return page("pulls.html", "Pull requests", view=dashboard.pulls(readable()))

    return pages


def acting(repo: str, what: str) -> str | None:
    """None when the viewer holds the acting role on `repo`, else the notice they read (a
    repository they may not read stays unknown: 404, as everywhere)."""
    try:
        auth.require(repo, auth.acting_role())
    except HTTPException as exc:
        if exc.code != 403:
            raise
        return f"Refused: you may not {what}. {exc.description or ''}".strip()
    return None


def viewer_login() -> str:
    viewer = auth.current_viewer()
    assert viewer is not None  # every page is behind sign-in
    return viewer.login


def finished(endpoint: str, message: str) -> Redirect:
    """Post/redirect/get: the page again, saying what was done."""
    return redirect(url_for(endpoint, done=message), code=303)


__all__ = ["blueprint"]
