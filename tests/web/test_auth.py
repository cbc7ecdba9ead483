"""Signing in to the dashboard and what a viewer may do (`bot.web.auth`), on a server built
as `shipmate serve` builds it, against the GitHub simulator's OAuth web flow: the whole
sign-in, a forged state, a reused code, cookies' flags, a reader against a maintainer, a token
caller, 401/403/404, CSRF, and the dashboard switched off."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Blueprint, Flask, jsonify
from flask.testing import FlaskClient

from bot.adapters.github.oauth import GitHubSignIn
from bot.settings import DashboardSettings, Settings
from bot.web import auth
from bot.wiring import ServerParts, build_server
from fixtures.github_sim import GitHubSim, SimUser

PUBLIC = "https://shipmate.test"
CALLBACK = f"{PUBLIC}/login/callback"
REPO = "acme/config"
TOKENS = {"shipmate-bot": "bot-token", "bob": "bob-token", "rita": "rita-token", "mallory": "mallory-token"}


def probes() -> Blueprint:
    """Routes standing in for a page and an action: what `auth` says of the caller."""
    probe = Blueprint("probe", __name__)

    @probe.get("/ui/probe/<owner>/<name>")
    def read(owner: str, name: str) -> Any:
        role = auth.require(f"{owner}/{name}", "read")
        viewer = auth.current_viewer()
        assert viewer is not None
        return jsonify(login=viewer.login, via=viewer.via, role=role, csrf=auth.csrf_token())

    @probe.get("/ui/probe-visible")
    def visible() -> Any:
        return jsonify(auth.visible(["acme/config", "acme/other", "acme/missing"]))

    @probe.post("/api/v1/probe/<owner>/<name>")
    def act(owner: str, name: str) -> Any:
        return jsonify(role=auth.require(f"{owner}/{name}", auth.acting_role()))

    return probe


@dataclass
class Served:
    sim: GitHubSim
    parts: ServerParts

    def client(self) -> FlaskClient:
        return self.parts.app.test_client()


def environment(sim: GitHubSim, data: Path, **more: str) -> dict[str, str]:
    return {"GITHUB_TOKEN": TOKENS["shipmate-bot"], "GITHUB_API_URL": sim.api_url, "SHIPMATE_DATA_DIR": str(data),
            "SHIPMATE_WEBHOOK_SECRET": "webhook-secret", "SHIPMATE_OAUTH_CLIENT_ID": "shipmate-client",
            "SHIPMATE_OAUTH_CLIENT_SECRET": "client-secret", "SHIPMATE_SESSION_SECRET": "s" * 40,
            "SHIPMATE_PUBLIC_URL": PUBLIC, **more}


def start_sim(root: Path) -> GitHubSim:
    users = [SimUser("shipmate-bot", TOKENS["shipmate-bot"], "admin"), SimUser("bob", TOKENS["bob"], "read"),
             SimUser("rita", TOKENS["rita"], "read"), SimUser("mallory", TOKENS["mallory"], "read")]
    sim = GitHubSim.start(root / "sim", users=users)
    sim.oauth_app("shipmate-client", "client-secret", CALLBACK)
    for name in ("config", "other"):
        sim.create_repo("acme", name, private=True, auto_init=True)
        sim.set_permission("acme", name, "mallory", "none")
    sim.set_permission("acme", "config", "bob", "maintain")
    return sim


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("auth")
    with start_sim(root) as sim:
        (root / "data").mkdir()
        env = environment(sim, root / "data")
        parts = build_server(Settings.from_env(env), env, scheduler=False)
        parts.app.register_blueprint(probes())
        try:
            yield Served(sim, parts)
        finally:
            parts.queue.close()


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def github_authorizes(sim: GitHubSim, authorize_url: str, login: str) -> dict[str, str]:
    """What the browser does at GitHub: follow the authorize URL as `login`, come back."""
    answer = requests.get(authorize_url, params={"login": login}, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    back = answer.headers["Location"]
    assert back.startswith(CALLBACK + "?")
    return query_of(back)


def sign_in(served: Served, client: FlaskClient, login: str, next_path: str = "/ui/probe/acme/config") -> Any:
    started = client.get("/login", query_string={"next": next_path})
    assert started.status_code == 302
    back = github_authorizes(served.sim, started.headers["Location"], login)
    return client.get("/login/callback", query_string=back)


def test_signing_in_through_github_lands_on_the_page_asked_for(served: Served) -> None:
    client = served.client()
    started = client.get("/login", query_string={"next": "/ui/probe/acme/config"})
    assert started.status_code == 302
    where = urlsplit(started.headers["Location"])
    assert f"{where.scheme}://{where.netloc}{where.path}" == f"{served.sim.url}/login/oauth/authorize"
    asked = query_of(started.headers["Location"])
    assert asked["client_id"] == "shipmate-client" and asked["redirect_uri"] == CALLBACK and len(asked["state"]) >= 32
    landed = client.get("/login/callback", query_string=github_authorizes(served.sim, started.headers["Location"], "bob"))
    assert landed.status_code == 303 and landed.headers["Location"] == "/ui/probe/acme/config"
    seen = client.get("/ui/probe/acme/config").get_json()
    assert (seen["login"], seen["via"], seen["role"]) == ("bob", "session", "maintain")


def test_the_session_cookie_is_secure_http_only_same_site_lax_and_hides_the_token(served: Served) -> None:
    landed = sign_in(served, served.client(), "bob")
    cookie = next(h for h in landed.headers.getlist("Set-Cookie") if h.startswith(f"{auth.COOKIE}="))
    flags = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")[1:]}
    assert "secure" in flags and "httponly" in flags and flags["samesite"].strip() == "SameSite=Lax"
    assert "expires" in flags  # eight hours, not the browser's lifetime
    assert all(token not in cookie for token in TOKENS.values()) and "gho_" not in cookie


def test_a_callback_with_another_state_is_refused(served: Served) -> None:
    client = served.client()
    started = client.get("/login")
    back = github_authorizes(served.sim, started.headers["Location"], "bob")
    forged = client.get("/login/callback", query_string={**back, "state": "made-up"})
    assert forged.status_code == 400 and "state" in forged.get_json()["reason"]
    assert client.get("/ui/probe/acme/config").status_code == 401
    stranger = served.client().get("/login/callback", query_string=back)  # a browser that never started it
    assert stranger.status_code == 400


def test_a_code_used_once_is_refused_the_second_time(served: Served) -> None:
    client = served.client()
    started = client.get("/login")
    back = github_authorizes(served.sim, started.headers["Location"], "bob")
    assert client.get("/login/callback", query_string=back).status_code == 303
    again = served.client()
    state = query_of(again.get("/login").headers["Location"])["state"]
    replayed = again.get("/login/callback", query_string={"code": back["code"], "state": state})
    assert replayed.status_code == 400 and "refused" in replayed.get_json()["reason"]
    assert again.get("/ui/probe/acme/config").status_code == 401


def test_github_refusing_the_sign_in_is_told(served: Served) -> None:
    client = served.client()
    state = query_of(client.get("/login").headers["Location"])["state"]
    denied = client.get("/login/callback", query_string={"error": "access_denied", "state": state,
                                                         "error_description": "The user has denied your application access."})
    assert denied.status_code == 400 and "denied" in denied.get_json()["reason"]


def test_a_browser_is_told_in_a_page(served: Served) -> None:
    client = served.client()
    html = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    started = client.get("/login", headers=html)
    state = query_of(started.headers["Location"])["state"]
    denied = client.get("/login/callback", headers=html, query_string={
        "error": "access_denied", "state": state, "error_description": "<b>denied</b>"})
    assert denied.status_code == 400 and denied.mimetype == "text/html"
    page = denied.get_data(as_text=True)
    assert "GitHub did not sign you in: &lt;b&gt;denied&lt;/b&gt;" in page and '<a href="/login">' in page


def test_next_never_leaves_the_site(served: Served) -> None:
    for target in ("https://evil.example/", "//evil.example/ui", "ui", "/\\evil.example"):
        assert sign_in(served, served.client(), "bob", target).headers["Location"] == "/ui"


def test_a_reader_reads_but_may_not_act_and_is_told_the_role(served: Served) -> None:
    client = served.client()
    sign_in(served, client, "rita")
    csrf = client.get("/ui/probe/acme/config").get_json()["csrf"]
    refused = client.post("/api/v1/probe/acme/config", headers={auth.CSRF_HEADER: csrf})
    assert refused.status_code == 403
    assert "maintain role on acme/config" in refused.get_data(as_text=True)
    maintainer = served.client()
    sign_in(served, maintainer, "bob")
    csrf = maintainer.get("/ui/probe/acme/config").get_json()["csrf"]
    done = maintainer.post("/api/v1/probe/acme/config", headers={auth.CSRF_HEADER: csrf})
    assert done.status_code == 200 and done.get_json() == {"role": "maintain"}


def test_a_repository_the_viewer_may_not_read_is_404_like_one_that_does_not_exist(served: Served) -> None:
    client = served.client()
    sign_in(served, client, "mallory", "/ui")
    hidden, missing = client.get("/ui/probe/acme/config"), client.get("/ui/probe/acme/missing")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_data(as_text=True).replace("config", "X") == missing.get_data(as_text=True).replace("missing", "X")
    assert client.get("/ui/probe-visible").get_json() == []


def test_visible_keeps_what_the_viewer_may_read(served: Served) -> None:
    client = served.client()
    sign_in(served, client, "bob", "/ui")
    assert client.get("/ui/probe-visible").get_json() == ["acme/config", "acme/other"]


def test_not_signed_in_is_401(served: Served) -> None:
    client = served.client()
    assert client.get("/ui/probe/acme/config").status_code == 401
    assert client.post("/api/v1/probe/acme/config").status_code == 401
    assert client.get("/ui/probe-visible").get_json() == []


def test_a_token_caller_is_the_tokens_owner_and_needs_no_csrf_token(served: Served) -> None:
    bearer = {"Authorization": f"Bearer {TOKENS['bob']}"}
    answer = served.client().get("/ui/probe/acme/config", headers=bearer)
    seen = answer.get_json()
    assert (seen["login"], seen["via"], seen["role"], seen["csrf"]) == ("bob", "token", "maintain", "")
    assert "Set-Cookie" not in answer.headers  # a token caller gets no session
    assert served.client().post("/api/v1/probe/acme/config", headers=bearer).status_code == 200
    as_token = served.client().post("/api/v1/probe/acme/config", headers={"Authorization": f"token {TOKENS['rita']}"})
    assert as_token.status_code == 403
    for header in ("Bearer not-a-token", "Bearer ", "Basic Ym9iOmJvYi10b2tlbg=="):
        assert served.client().get("/ui/probe/acme/config", headers={"Authorization": header}).status_code == 401


def test_an_action_with_the_session_cookie_needs_the_csrf_token(served: Served) -> None:
    client = served.client()
    sign_in(served, client, "bob")
    csrf = client.get("/ui/probe/acme/config").get_json()["csrf"]
    refused = client.post("/api/v1/probe/acme/config")
    assert refused.status_code == 403
    assert refused.get_json() == {"error": "forbidden",
                                  "reason": "the CSRF token is missing or wrong: reload the page and try again"}
    assert client.post("/api/v1/probe/acme/config", headers={auth.CSRF_HEADER: "wrong"}).status_code == 403
    assert client.delete("/ui/probe/acme/config").status_code == 403  # refused before any view is looked for
    assert client.post("/api/v1/probe/acme/config", data={auth.CSRF_FIELD: csrf}).status_code == 200
    assert client.post("/api/v1/probe/acme/config", headers={auth.CSRF_HEADER: csrf}).status_code == 200


def issued(sim: GitHubSim, login: str) -> set[str]:
    """The OAuth tokens the simulator holds for `login` (the ones sign-ins got)."""
    return {token for token, who in sim.state.tokens.items() if who == login and token.startswith("gho_")}


def test_signing_out_ends_the_session_and_revokes_the_token(served: Served) -> None:
    client = served.client()
    before = issued(served.sim, "bob")
    sign_in(served, client, "bob")
    (token,) = issued(served.sim, "bob") - before
    assert client.get("/ui/probe/acme/config").status_code == 200
    kept = client.get_cookie(auth.COOKIE)
    assert kept is not None
    csrf = client.get("/ui/probe/acme/config").get_json()["csrf"]
    assert client.get("/logout").status_code == 405  # a link on another site cannot sign anyone out
    assert client.post("/logout").status_code == 403  # nor a form without the session's CSRF token
    assert client.get("/ui/probe/acme/config").status_code == 200
    out = client.post("/logout", data={auth.CSRF_FIELD: csrf})
    assert out.status_code == 303 and "signed out of Shipmate" in client.get(out.headers["Location"]).get_data(as_text=True)
    assert client.get("/ui/probe/acme/config").status_code == 401
    assert token not in issued(served.sim, "bob")
    replayed = served.client()
    replayed.set_cookie(auth.COOKIE, kept.value, domain="localhost")  # a copy of the cookie taken before
    assert replayed.get("/ui/probe/acme/config").status_code == 401
    assert out.status_code == 303
    assert client.get(out.headers["Location"]).status_code == 200
    assert client.get("/ui/probe/acme/config").status_code == 401


def test_a_session_cookie_forged_without_the_secret_is_nobody(served: Served) -> None:
    client = served.client()
    sign_in(served, client, "bob")
    real = client.get_cookie(auth.COOKIE)
    assert real is not None
    carried = served.client()
    carried.set_cookie(auth.COOKIE, real.value, domain="localhost")
    assert carried.get("/ui/probe/acme/config").status_code == 200  # the cookie alone is the session
    other = Flask("forger")
    other.secret_key = "another secret of at least thirty-two characters"
    other.config.update(SESSION_COOKIE_NAME=auth.COOKIE)
    with other.test_request_context():
        from flask import session
        from flask.sessions import SecureCookieSessionInterface

        session["login"] = "bob"
        forged = SecureCookieSessionInterface().get_signing_serializer(other)
        assert forged is not None
        value = forged.dumps(dict(session))
    stranger = served.client()
    stranger.set_cookie(auth.COOKIE, value, domain="localhost")
    assert stranger.get("/ui/probe/acme/config").status_code == 401


def test_a_token_github_revoked_ends_the_session(served: Served) -> None:
    client = served.client()
    before = issued(served.sim, "rita")
    sign_in(served, client, "rita", "/ui")
    (token,) = issued(served.sim, "rita") - before
    with served.sim.state.lock:
        del served.sim.state.tokens[token]  # the person revoked Shipmate's access in GitHub's settings
    refused = client.get("/ui/probe-visible")
    assert refused.status_code == 401 and "sign in again" in refused.get_data(as_text=True)
    assert client.get_cookie(auth.COOKIE) is None or client.get("/ui/probe/acme/config").status_code == 401


def test_permissions_are_kept_briefly_per_viewer(tmp_path: Path) -> None:
    now = [1000.0]
    with start_sim(tmp_path) as sim:
        app = Flask("cache")
        settings = DashboardSettings("shipmate-client", "client-secret", "s" * 40, public_url=PUBLIC)
        auth.install(app, settings, GitHubSignIn(sim.api_url, "shipmate-client", "client-secret"), clock=lambda: now[0])
        app.register_blueprint(probes())
        bearer = {"Authorization": f"Bearer {TOKENS['rita']}"}

        def role() -> Any:
            answer = app.test_client().get("/ui/probe/acme/config", headers=bearer)
            return answer.get_json()["role"] if answer.status_code == 200 else answer.status_code

        assert role() == "read"
        sim.set_permission("acme", "config", "rita", "admin")
        assert role() == "read"
        now[0] += auth.PERMISSION_SECONDS + 1
        assert role() == "admin"
        sim.set_permission("acme", "config", "rita", "none")
        now[0] += auth.PERMISSION_SECONDS + 1
        assert role() == 404


def test_a_session_lasts_eight_hours_from_signing_in_however_busy(tmp_path: Path) -> None:
    wall = [1_700_000_000.0]
    with start_sim(tmp_path) as sim:
        app = Flask("lifetime")
        settings = DashboardSettings("shipmate-client", "client-secret", "s" * 40, public_url=PUBLIC)
        auth.install(app, settings, GitHubSignIn(sim.api_url, "shipmate-client", "client-secret"), wall=lambda: wall[0])
        app.register_blueprint(probes())
        client = app.test_client()
        started = client.get("/login")
        assert client.get("/login/callback", query_string=github_authorizes(sim, started.headers["Location"], "bob")).status_code == 303
        for _ in range(8):
            wall[0] += 3600 - 1
            assert client.get("/ui/probe/acme/config").status_code == 200
        wall[0] += 60
        assert client.get("/ui/probe/acme/config").status_code == 401


def test_github_away_is_503_with_the_reason(served: Served) -> None:
    served.sim.inject_fault(r"^/api/v3/user$", status=502, times=10)
    try:
        away = served.client().get("/ui/probe/acme/config", headers={"Authorization": "Bearer never-seen-token"})
    finally:
        served.sim.faults.clear()
    assert away.status_code == 503 and "GitHub cannot be reached" in away.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/ui", "/ui/locks", "/api/v1/repos", "/login", "/logout"])
def test_without_its_settings_the_dashboard_is_404_with_the_reason(tmp_path: Path, path: str) -> None:
    env = {"SHIPMATE_WEBHOOK_SECRET": "webhook-secret", "SHIPMATE_DATA_DIR": str(tmp_path)}
    parts = build_server(Settings.from_env(env), env, scheduler=False)
    try:
        answer = parts.app.test_client().get(path)
        assert answer.status_code == 404
        assert answer.get_json() == {"error": "not found", "reason": "the dashboard is off: set SHIPMATE_OAUTH_CLIENT_ID, "
                                     "SHIPMATE_OAUTH_CLIENT_SECRET and SHIPMATE_SESSION_SECRET to serve it"}
        assert parts.app.test_client().get("/healthz").status_code == 200
    finally:
        parts.queue.close()


def test_without_github_credentials_the_dashboard_says_so(tmp_path: Path) -> None:
    env = {"SHIPMATE_WEBHOOK_SECRET": "webhook-secret", "SHIPMATE_DATA_DIR": str(tmp_path),
           "SHIPMATE_OAUTH_CLIENT_ID": "id", "SHIPMATE_OAUTH_CLIENT_SECRET": "secret", "SHIPMATE_SESSION_SECRET": "s" * 32}
    parts = build_server(Settings.from_env(env), env, scheduler=False)
    try:
        answer = parts.app.test_client().get("/api/v1/repos")
        assert answer.status_code == 404 and "GITHUB_TOKEN" in answer.get_json()["reason"]
    finally:
        parts.queue.close()
