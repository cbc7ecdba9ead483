"""The simulator's OAuth web flow, driven over HTTP as a browser and an OAuth App drive
github.com's: authorize, the code exchange (form and JSON answers), the token on the REST API,
and GitHub's error answers for a wrong secret, a reused code and a foreign redirect."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import github
import pytest
import requests

from fixtures.github_sim import GitHubSim

CALLBACK = "http://127.0.0.1:8080/login/callback"
ROOT = Path(__file__).resolve().parents[2]
USERS = ["alice:tok-alice:admin", "bob:tok-bob:read", "mallory:tok-mallory:read"]


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[GitHubSim]:
    with GitHubSim.start(tmp_path / "sim", users=USERS) as sim:
        sim.oauth_app("client-1", "secret-1", CALLBACK)
        sim.create_repo("alice", "config", private=True, auto_init=True)
        sim.set_permission("alice", "config", "bob", "maintain")
        sim.set_permission("alice", "config", "mallory", "none")
        yield sim


def authorize(gh: GitHubSim, **params: str) -> requests.Response:
    query = {"client_id": "client-1", "redirect_uri": CALLBACK, "state": "st-1", **params}
    return requests.get(f"{gh.url}/login/oauth/authorize", params=query, allow_redirects=False, timeout=10)


def redirected(answer: requests.Response) -> tuple[str, dict[str, str]]:
    assert answer.status_code == 302, answer.text
    where = urlsplit(answer.headers["Location"])
    return f"{where.scheme}://{where.netloc}{where.path}", {k: v[0] for k, v in parse_qs(where.query).items()}


def exchange(gh: GitHubSim, code: str, secret: str = "secret-1", *, as_json: bool = True, **extra: str) -> dict[str, str]:
    headers = {"Accept": "application/json"} if as_json else {}
    answer = requests.post(f"{gh.url}/login/oauth/access_token", headers=headers, timeout=10,
                           data={"client_id": "client-1", "client_secret": secret, "code": code, **extra})
    assert answer.status_code == 200
    if as_json:
        assert answer.headers["Content-Type"].startswith("application/json")
        data: dict[str, str] = answer.json()
        return data
    assert answer.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    return {k: v[0] for k, v in parse_qs(answer.text).items()}


def test_the_web_flow_signs_in_the_chosen_user_and_its_token_reads_the_api(gh: GitHubSim) -> None:
    url, query = redirected(authorize(gh, login="bob", scope="repo read:org"))
    assert url == CALLBACK and query["state"] == "st-1" and query["code"]
    token = exchange(gh, query["code"])
    assert token["token_type"] == "bearer" and token["access_token"].startswith("gho_")
    assert token["scope"] == "repo,read:org"
    client = gh.client(token["access_token"])
    assert client.get_user().login == "bob"
    assert client.get_repo("alice/config").permissions.maintain is True
    assert client.get_repo("alice/config").permissions.admin is False


def test_the_browsers_user_signs_in_when_no_login_is_named(gh: GitHubSim) -> None:
    page = authorize(gh)
    assert page.status_code == 200 and '<form method="post" action="/login/oauth/authorize">' in page.text
    gh.browse_as("alice")
    _, query = redirected(authorize(gh))
    token = exchange(gh, query["code"], as_json=False)
    assert gh.client(token["access_token"]).get_user().login == "alice"


def test_the_sign_in_form_posts_back_to_authorize(gh: GitHubSim) -> None:
    form = {"client_id": "client-1", "redirect_uri": CALLBACK, "state": "st-9", "login": "bob"}
    answer = requests.post(f"{gh.url}/login/oauth/authorize", data=form, allow_redirects=False, timeout=10)
    _, query = redirected(answer)
    assert query["state"] == "st-9" and exchange(gh, query["code"])["access_token"]


def test_cancelling_the_sign_in_form_is_access_denied(gh: GitHubSim) -> None:
    form = {"client_id": "client-1", "redirect_uri": CALLBACK, "state": "st-2", "login": "", "deny": "1"}
    answer = requests.post(f"{gh.url}/login/oauth/authorize", data=form, allow_redirects=False, timeout=10)
    url, query = redirected(answer)
    assert url == CALLBACK and query["error"] == "access_denied" and query["state"] == "st-2" and "code" not in query


def test_a_code_is_good_once(gh: GitHubSim) -> None:
    _, query = redirected(authorize(gh, login="bob"))
    assert "access_token" in exchange(gh, query["code"])
    again = exchange(gh, query["code"])
    assert again["error"] == "bad_verification_code"
    assert again["error_description"] == "The code passed is incorrect or expired."
    assert exchange(gh, "made-up")["error"] == "bad_verification_code"


def test_a_wrong_client_secret_is_refused_and_the_code_survives(gh: GitHubSim) -> None:
    _, query = redirected(authorize(gh, login="bob"))
    assert exchange(gh, query["code"], secret="guess")["error"] == "incorrect_client_credentials"
    assert "access_token" in exchange(gh, query["code"])


def test_a_redirect_outside_the_callback_url_goes_back_with_an_error(gh: GitHubSim) -> None:
    url, query = redirected(authorize(gh, login="bob", redirect_uri="http://evil.example/login/callback"))
    assert url == CALLBACK
    assert query["error"] == "redirect_uri_mismatch" and query["state"] == "st-1" and "code" not in query
    _, below = redirected(authorize(gh, login="bob", redirect_uri=CALLBACK + "/deeper"))
    assert "code" in below
    _, beside = redirected(authorize(gh, login="bob", redirect_uri="http://127.0.0.1:8080/login/callbackx"))
    assert beside["error"] == "redirect_uri_mismatch"


def test_the_token_request_must_name_the_authorize_redirect(gh: GitHubSim) -> None:
    _, query = redirected(authorize(gh, login="bob"))
    refused = exchange(gh, query["code"], redirect_uri="http://127.0.0.1:8080/other")
    assert refused["error"] == "redirect_uri_mismatch"


def test_an_unknown_client_is_not_found(gh: GitHubSim) -> None:
    assert authorize(gh, client_id="nobody").status_code == 404


def test_a_user_without_access_to_a_private_repository_gets_404(gh: GitHubSim) -> None:
    _, query = redirected(authorize(gh, login="mallory"))
    client = gh.client(exchange(gh, query["code"])["access_token"])
    with pytest.raises(github.UnknownObjectException):
        client.get_repo("alice/config")
    assert requests.get(f"{gh.api_url}/user", headers={"Authorization": "Bearer gho_unknown"}, timeout=10).status_code == 401


def test_the_control_api_registers_apps_and_the_browsers_user(gh: GitHubSim) -> None:
    app = {"client_id": "client-2", "client_secret": "s2", "callback_url": "http://localhost:9/cb"}
    assert requests.post(f"{gh.url}/_sim/oauth/apps", json=app, timeout=10).status_code == 201
    assert requests.put(f"{gh.url}/_sim/oauth/browser", json={"login": "alice"}, timeout=10).json() == {"login": "alice"}
    answer = requests.get(f"{gh.url}/login/oauth/authorize", params={"client_id": "client-2"}, allow_redirects=False, timeout=10)
    url, query = redirected(answer)
    assert url == "http://localhost:9/cb" and "state" not in query and query["code"]
    assert requests.put(f"{gh.url}/_sim/oauth/browser", json={"login": "ghost"}, timeout=10).status_code == 404


def test_the_command_line_registers_oauth_apps(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "fixtures.github_sim", "--data", str(tmp_path / "sim"), "--user", "bob:tok-bob:read",
               "--oauth-app", f"cli-client:cli-secret:{CALLBACK}"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().split()[3]
            answer = requests.get(f"{url}/login/oauth/authorize", allow_redirects=False, timeout=10,
                                  params={"client_id": "cli-client", "login": "bob"})
            assert answer.status_code == 302 and answer.headers["Location"].startswith(CALLBACK + "?code=")
        finally:
            process.terminate()
    bad = subprocess.run([*command[:-1], "no-callback"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert bad.returncode == 2 and "expected CLIENT_ID:CLIENT_SECRET:CALLBACK_URL" in bad.stderr


def test_the_app_deletes_a_token_it_issued(gh: GitHubSim) -> None:
    _, query = redirected(authorize(gh, login="bob"))
    token = exchange(gh, query["code"])["access_token"]
    url = f"{gh.api_url}/applications/client-1/token"
    assert requests.delete(url, auth=("client-1", "guess"), json={"access_token": token}, timeout=10).status_code == 404
    assert requests.delete(url, auth=("client-1", "secret-1"), json={"access_token": "tok-bob"}, timeout=10).status_code == 422
    assert requests.delete(url, auth=("client-1", "secret-1"), json={"access_token": token}, timeout=10).status_code == 204
    assert requests.get(f"{gh.api_url}/user", headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 401
    assert requests.delete(url, auth=("client-1", "secret-1"), json={"access_token": token}, timeout=10).status_code == 422
