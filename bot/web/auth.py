"""Who is looking at the dashboard and what they may do: GitHub sign-in, sessions, tokens,
repository permissions and CSRF, for `/ui` and `/api/v1`.

Signing in is GitHub's OAuth web flow (`bot.adapters.github.oauth`): `GET /login[?next=/ui/..]`
sends the browser to GitHub's `/login/oauth/authorize` with a fresh random `state` kept in the
session; `GET /login/callback` checks that `state` (the sign-in cannot be forged from another
site), trades the code for the person's token, and starts a new session (`next`, a path on
this site, is where they land); `POST /logout` (with the CSRF token) ends it and revokes the token at
GitHub. An API caller may instead send `Authorization: Bearer <GitHub token>` (a personal or
OAuth token, checked against GitHub's `GET /user`); `token <T>` is accepted too.

The session is Flask's signed cookie `shipmate_session` (`Secure`, `HttpOnly`,
`SameSite=Lax`), signed with `SHIPMATE_SESSION_SECRET`. It holds the login, a CSRF token and
the person's GitHub token encrypted (Fernet, a key derived from the same secret, good for
eight hours from signing in however busy the session): nothing is kept on the server, so
any replica answers any request.

Permissions are GitHub's, read with the viewer's own token (`GET /repos/{owner}/{repo}` ->
`permissions`) and kept `PERMISSION_SECONDS` per viewer and repository:

| call | answer |
|---|---|
| `current_viewer()` | the `Viewer` (login, `session` or `token`), None when not signed in |
| `require(repo, role)` | 401 not signed in (pages send the browser to sign in instead), 404 the viewer may not read `repo` (whether it exists stays unknown), 403 signed in without `role` (the answer names it); else the viewer's role |
| `visible(repos)` | those of `repos` the viewer may read, in order |
| `acting_role()` | the role unlock and retry take (`SHIPMATE_DASHBOARD_ROLE`, default `maintain`) |
| `csrf_token()` | the session's CSRF token, for forms (`csrf_token`) and scripts (`X-CSRF-Token`) |
| `check_csrf()` | 403 when a POST, PUT, PATCH or DELETE made with the session cookie lacks it |

Every unsafe request under `/ui`, `/api/v1` and `/logout` is checked before its view runs; a
caller with a bearer token sends no cookie a forger could ride on, so it needs no CSRF token.
Roles rank as GitHub's: `read < triage < write < maintain < admin`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import NoReturn, TypeVar
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    jsonify,
    redirect,
    request,
    session,
    url_for,
)
from markupsafe import escape
from werkzeug.exceptions import HTTPException, abort
from werkzeug.wrappers import Response as Redirect

from bot.adapters.github.oauth import GitHubSignIn, SignInRefused
from bot.core.errors import ShipmateError, TransientError
from bot.settings import DASHBOARD_ROLES, DashboardSettings

log = logging.getLogger("shipmate.web.auth")

ROLES = DASHBOARD_ROLES
RANK = {role: rank for rank, role in enumerate(ROLES, start=1)}
COOKIE = "shipmate_session"
SESSION_LIFETIME = timedelta(hours=8)
PERMISSION_SECONDS = 60.0
LOOKUPS_AT_ONCE = 8
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
GUARDED_PREFIXES = ("/ui", "/api/v1", "/logout")
_EXTENSION = "shipmate.auth"
K = TypeVar("K")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Viewer:
    """Someone signed in: their GitHub `login` and `via` what (`session` or `token`)."""

    login: str
    via: str
    token: str = field(repr=False, compare=False)


class Gate:
    """One app's sign-in and permission checks: the OAuth App, the acting role, the caches
    (who a bearer token is, a viewer's role per repository) and the cookie's token cipher."""

    def __init__(self, settings: DashboardSettings, sign_in: GitHubSignIn, *,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 cache_seconds: float = PERMISSION_SECONDS) -> None:
        assert settings.session_secret, "the dashboard needs SHIPMATE_SESSION_SECRET"
        self.settings = settings
        self.sign_in = sign_in
        self.clock = clock  # the caches' (monotonic seconds)
        self.wall = wall  # the sealed tokens' (Unix seconds)
        self.cache_seconds = cache_seconds
        key = hashlib.sha256(b"shipmate dashboard token key\0" + settings.session_secret.encode()).digest()
        self._cipher = Fernet(base64.urlsafe_b64encode(key))
        self._logins: dict[str, tuple[float, str | None]] = {}
        self._roles: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def seal(self, token: str) -> str:
        return self._cipher.encrypt_at_time(token.encode(), int(self.wall())).decode()

    def unseal(self, sealed: str) -> str | None:
        try:
            lifetime = int(SESSION_LIFETIME.total_seconds())
            return self._cipher.decrypt_at_time(sealed.encode(), lifetime, int(self.wall())).decode()
        except (InvalidToken, ValueError):
            return None

    def login_of(self, token: str) -> str | None:
        """Whose `token` it is (GitHub's `/user`, kept `cache_seconds`)."""
        return self._cached(self._logins, _digest(token), lambda: self.sign_in.login(token))

    def role_of(self, viewer: Viewer, repo: str) -> str | None:
        """The viewer's role on `repo` (kept `cache_seconds`), None when they may not read it."""
        return self._cached(self._roles, (_digest(viewer.token), repo.lower()),
                            lambda: self.sign_in.role(viewer.token, repo))

    def forget(self, token: str) -> None:
        """Drop what is kept about `token` (signed out): its next use asks GitHub again."""
        digest = _digest(token)
        with self._lock:
            self._logins.pop(digest, None)
            for key in [k for k in self._roles if k[0] == digest]:
                del self._roles[key]

    def roles_of(self, viewer: Viewer, repos: Sequence[str]) -> list[str | None]:
        """`role_of` each of `repos`, those not kept asked of GitHub `LOOKUPS_AT_ONCE` at a
        time (a first page over many repositories waits for the slowest few, not the sum)."""
        digest, now = _digest(viewer.token), self.clock()
        with self._lock:
            kept = {repo: hit[1] for repo in repos
                    if (hit := self._roles.get((digest, repo.lower()))) is not None and hit[0] > now}
        missing = [repo for repo in repos if repo not in kept]
        if len(missing) > 1:
            with ThreadPoolExecutor(max_workers=min(LOOKUPS_AT_ONCE, len(missing)), thread_name_prefix="permissions") as pool:
                kept.update(zip(missing, pool.map(lambda repo: self.role_of(viewer, repo), missing), strict=True))
        return [kept[repo] if repo in kept else self.role_of(viewer, repo) for repo in repos]

    def _cached(self, cache: dict[K, tuple[float, str | None]], key: K, read: Callable[[], str | None]) -> str | None:
        now = self.clock()
        with self._lock:
            hit = cache.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
        value = read()
        with self._lock:
            if len(cache) > 10_000:  # bounded: drop what has expired, else everything
                for stale in [k for k, (until, _) in cache.items() if until <= now] or list(cache):
                    del cache[stale]
            cache[key] = (now + self.cache_seconds, value)
        return value


def install(app: Flask, settings: DashboardSettings, sign_in: GitHubSignIn, *,
            clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> Gate:
    """Sessions, the CSRF check and the sign-in routes on `app` (`clock` and `wall` as `Gate`'s)."""
    gate = Gate(settings, sign_in, clock=clock, wall=wall)
    app.extensions[_EXTENSION] = gate
    assert settings.session_secret
    app.secret_key = settings.session_secret
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE, SESSION_COOKIE_SECURE=True, SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax", PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )
    app.before_request(_csrf_guard)
    app.register_blueprint(blueprint())
    return gate


def gate() -> Gate:
    found: Gate | None = current_app.extensions.get(_EXTENSION)
    if found is None:
        abort(404, description="the dashboard is off")
    return found


# --- the surface the pages and the API use ---------------------------------------------------


def current_viewer() -> Viewer | None:
    """Who sent this request: a bearer token's owner, else the session's, else None."""
    if "shipmate_viewer" in g:
        viewer: Viewer | None = g.shipmate_viewer
        return viewer
    viewer = _viewer()
    g.shipmate_viewer = viewer
    return viewer


def _viewer() -> Viewer | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        token = value.strip()
        if scheme.lower() not in ("bearer", "token") or not token:
            return None
        who = _github(lambda: gate().login_of(token))
        return Viewer(who, "token", token) if who else None
    login, sealed = session.get("login"), session.get("token")
    if not isinstance(login, str) or not isinstance(sealed, str):
        return None
    unsealed = gate().unseal(sealed)
    return Viewer(login, "session", unsealed) if unsealed else None


def require(repo: str, role: str) -> str:
    """The viewer's role on `repo` when it is at least `role`; else 401, 404 or 403."""
    viewer = current_viewer()
    if viewer is None:
        _deny(401, "not signed in: sign in at /login, or send Authorization: Bearer <GitHub token>")
    if role not in RANK:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    held = _role(viewer, repo)
    if held is None or held not in RANK:
        _deny(404, f"no repository {repo} is served here that you may read")
    if RANK[held] < RANK[role]:
        _deny(403, f"this takes the {role} role on {repo}; {viewer.login} has {held}")
    return held


def visible(repos: Iterable[str]) -> list[str]:
    """Those of `repos` the viewer may read (none when not signed in), in order."""
    viewer = current_viewer()
    if viewer is None:
        return []
    wanted = list(repos)
    roles = _as_viewer(lambda: gate().roles_of(viewer, wanted))
    return [repo for repo, role in zip(wanted, roles, strict=True) if role in RANK]


def acting_role() -> str:
    """The role unlocking and retrying take (`SHIPMATE_DASHBOARD_ROLE`)."""
    return gate().settings.role


def csrf_token() -> str:
    """The session's CSRF token (made on first use); forms send it as `csrf_token`, scripts
    as the `X-CSRF-Token` header. A bearer-token caller has no session and needs none: ''."""
    viewer = current_viewer()
    if viewer is not None and viewer.via == "token":
        return ""
    token = session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def check_csrf() -> None:
    """403 when this is an unsafe request made with the session cookie without its CSRF token."""
    if request.method not in UNSAFE_METHODS or request.headers.get("Authorization"):
        return
    if COOKIE not in request.cookies:
        return  # no ambient credentials to forge with: the view answers 401 when it needs a viewer
    expected = session.get("csrf")
    given = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD) or ""
    if not isinstance(expected, str) or not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        _deny(403, "the CSRF token is missing or wrong: reload the page and try again")


# --- sign-in routes -----------------------------------------------------------------------


def blueprint() -> Blueprint:
    """`/login`, `/login/callback` and `/logout`."""
    routes = Blueprint("auth", __name__)

    @routes.get("/login")
    def login() -> Redirect:
        state = secrets.token_urlsafe(24)
        session["oauth_state"] = state
        session["next"] = _local(request.args.get("next", ""))
        return redirect(_github(lambda: gate().sign_in.authorize_url(_callback_url(), state)), code=302)

    @routes.get("/login/callback")
    def callback() -> Redirect | tuple[Response, int]:
        expected = session.pop("oauth_state", None)
        given = request.args.get("state", "")
        if not isinstance(expected, str) or not hmac.compare_digest(expected.encode(), given.encode()):
            return _problem(400, "sign-in refused", "the sign-in's state does not match this browser's: start again at /login")
        if request.args.get("error"):
            reason = request.args.get("error_description") or request.args["error"]
            return _problem(400, "sign-in refused", f"GitHub did not sign you in: {reason}")
        code = request.args.get("code", "")
        if not code:
            return _problem(400, "sign-in refused", "GitHub sent no code back: start again at /login")
        try:
            token = _github(lambda: gate().sign_in.exchange(code))
        except SignInRefused as exc:
            return _problem(400, "sign-in refused", f"{exc}: start again at /login")
        login = _github(lambda: gate().sign_in.login(token))
        if not login:
            return _problem(400, "sign-in refused", "GitHub does not recognise the token it issued: start again at /login")
        landing = session.get("next") or "/ui"
        session.clear()  # a new session: nothing from before sign-in carries over
        session.permanent = True
        session.update(login=login, token=gate().seal(token), csrf=secrets.token_urlsafe(32))
        log.info("%s signed in to the dashboard", login)
        return redirect(_local(str(landing)) or "/ui", code=303)

    @routes.post("/logout")  # POST with the CSRF token: another site cannot sign a viewer out
    def logout() -> Redirect:
        sealed = session.get("token")
        token = gate().unseal(sealed) if isinstance(sealed, str) else None
        session.clear()
        if token:
            gate().forget(token)
            try:
                gate().sign_in.revoke(token)  # a stolen copy of the cookie is worth nothing now
            except ShipmateError as exc:
                log.warning("signing out: the token could not be revoked at GitHub: %s", exc)
        return redirect(url_for("auth.signed_out"), code=303)

    @routes.get("/login/signed-out")
    def signed_out() -> tuple[str, int]:
        return _page("Signed out", "You are signed out of Shipmate, and its access to your GitHub account is revoked."), 200

    return routes


# --- helpers ------------------------------------------------------------------------------


def _csrf_guard() -> tuple[Response, int] | None:
    """`check_csrf` before every view under the guarded paths; the API's answer is its JSON."""
    if not request.path.startswith(GUARDED_PREFIXES):
        return None
    try:
        check_csrf()
    except HTTPException as exc:
        if not request.path.startswith("/api/"):
            raise
        return _problem(exc.code or 403, "forbidden", exc.description or "")
    return None


def _role(viewer: Viewer, repo: str) -> str | None:
    return _as_viewer(lambda: gate().role_of(viewer, repo))


def _as_viewer(call: Callable[[], T]) -> T:
    """`call` made with the viewer's token: a token GitHub no longer accepts ends the session (401)."""
    try:
        return _github(call)
    except SignInRefused:
        session.clear()
        _deny(401, "GitHub no longer accepts your sign-in: sign in again at /login")


def _github(call: Callable[[], T]) -> T:
    """`call`, with GitHub being away answered 503 (the viewer retries) and any other failure
    502, both with the reason."""
    try:
        return call()
    except TransientError as exc:
        log.warning("dashboard: %s", exc)
        _deny(503, f"GitHub cannot be reached just now: {exc}")
    except SignInRefused:
        raise
    except ShipmateError as exc:
        log.warning("dashboard: %s", exc)
        _deny(502, f"GitHub answered with an error: {exc}")


def _deny(status: int, reason: str) -> NoReturn:
    abort(status, description=reason)


def _problem(status: int, error: str, reason: str) -> tuple[Response, int]:
    """The JSON error answer, or for a browser (it asks for HTML) a page saying the same."""
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        return Response(_page(error.capitalize(), reason), mimetype="text/html"), status
    return jsonify({"error": error, "reason": reason}), status


def _page(title: str, text: str) -> str:
    """A small page of the sign-in routes, in the dashboard's stylesheet, with a way back in."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)} · Shipmate</title><link rel="stylesheet" href="/ui/static/dashboard.css"></head>'
        f'<body><main><h1>{escape(title)}</h1><p class="notice">{escape(text)}</p>'
        '<p><a href="/login">Sign in with GitHub</a></p></main></body></html>'
    )


def _callback_url() -> str:
    base = gate().settings.public_url or request.url_root
    return base.rstrip("/") + "/login/callback"


def _local(target: str) -> str:
    """`target` when it is a path on this site (no scheme, host or `//`), else ''."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return ""
    return target


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


__all__ = [
    "CSRF_FIELD", "CSRF_HEADER", "ROLES", "Gate", "HTTPException", "Viewer", "acting_role", "check_csrf",
    "csrf_token", "current_viewer", "install", "require", "visible",
]
