"""`bot.adapters.github.oauth.GitHubSignIn` against the GitHub simulator: the authorize URL,
trading a code, whose token it is, every role GitHub can answer, and errors on the retry axis
(a refused code, an unknown token, GitHub away)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from bot.adapters.github.oauth import GitHubSignIn, SignInRefused
from bot.core.errors import RuntimeFailed, TransientError
from bot.settings import DASHBOARD_ROLES
from fixtures.github_sim import GitHubSim, SimUser

CALLBACK = "http://127.0.0.1:9/login/callback"


@pytest.fixture(scope="module")
def gh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHubSim]:
    users = [SimUser("alice", "alice-token", "admin"), SimUser("bob", "bob-token", "read")]
    with GitHubSim.start(tmp_path_factory.mktemp("oauth") / "sim", users=users) as sim:
        sim.oauth_app("client", "secret", CALLBACK)
        sim.create_repo("alice", "private", private=True, auto_init=True)
        sim.create_repo("alice", "public", private=False, auto_init=True)
        yield sim


def code_for(gh: GitHubSim, sign_in: GitHubSignIn, login: str) -> str:
    url = sign_in.authorize_url(CALLBACK, "st")
    answer = requests.get(url, params={"login": login}, allow_redirects=False, timeout=10)
    return parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]


def test_the_authorize_url_is_on_the_web_host_of_the_api(gh: GitHubSim) -> None:
    url = urlsplit(GitHubSignIn(gh.api_url, "client", "secret").authorize_url(CALLBACK, "st-1"))
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{gh.url}/login/oauth/authorize"
    assert parse_qs(url.query) == {"client_id": ["client"], "redirect_uri": [CALLBACK], "state": ["st-1"]}
    public = urlsplit(GitHubSignIn("https://api.github.com", "client", "secret").authorize_url(CALLBACK, "s"))
    assert (public.netloc, public.path) == ("github.com", "/login/oauth/authorize")
    scoped = GitHubSignIn(gh.api_url, "client", "secret", ("repo", "read:org")).authorize_url(CALLBACK, "s")
    assert parse_qs(urlsplit(scoped).query)["scope"] == ["repo read:org"]


def test_a_code_becomes_its_users_token_once(gh: GitHubSim) -> None:
    sign_in = GitHubSignIn(gh.api_url, "client", "secret")
    code = code_for(gh, sign_in, "bob")
    token = sign_in.exchange(code)
    assert sign_in.login(token) == "bob"
    with pytest.raises(SignInRefused):
        sign_in.exchange(code)


def test_a_wrong_client_secret_is_a_refused_sign_in(gh: GitHubSim) -> None:
    code = code_for(gh, GitHubSignIn(gh.api_url, "client", "secret"), "bob")
    with pytest.raises(SignInRefused) as caught:
        GitHubSignIn(gh.api_url, "client", "guessed").exchange(code)
    assert isinstance(caught.value, RuntimeFailed) and "incorrect_client_credentials" in str(caught.value)


def test_an_unknown_token_is_nobody(gh: GitHubSim) -> None:
    assert GitHubSignIn(gh.api_url, "client", "secret").login("gho_never-issued") is None


@pytest.mark.parametrize("role", DASHBOARD_ROLES)
def test_every_role_is_read_as_github_names_it(gh: GitHubSim, role: str) -> None:
    gh.set_permission("alice", "private", "bob", role)
    assert GitHubSignIn(gh.api_url, "client", "secret").role("bob-token", "alice/private") == role


def test_no_access_is_none_and_a_public_repository_is_read(gh: GitHubSim) -> None:
    sign_in = GitHubSignIn(gh.api_url, "client", "secret")
    gh.set_permission("alice", "private", "bob", "none")
    gh.set_permission("alice", "public", "bob", "none")
    assert sign_in.role("bob-token", "alice/private") is None
    assert sign_in.role("bob-token", "alice/missing") is None
    assert sign_in.role("bob-token", "alice/public") == "read"
    assert sign_in.role("alice-token", "alice/private") == "admin"


def test_a_token_github_no_longer_accepts_is_refused(gh: GitHubSim) -> None:
    with pytest.raises(SignInRefused):
        GitHubSignIn(gh.api_url, "client", "secret").role("gho_revoked", "alice/private")


def test_github_away_is_temporary(gh: GitHubSim) -> None:
    sign_in = GitHubSignIn(gh.api_url, "client", "secret")
    gh.inject_fault(r"^/api/v3/repos/alice/private$", status=503, times=10)
    gh.inject_fault(r"^/login/oauth/access_token$", status=502, times=1)
    try:
        with pytest.raises(TransientError):
            sign_in.role("alice-token", "alice/private")
        with pytest.raises(TransientError):
            sign_in.exchange("any-code")
    finally:
        gh.faults.clear()
    gh.inject_fault(r"^/api/v3/user$", status=403, times=1, rate_limit=True)
    try:
        with pytest.raises(TransientError):
            sign_in.login("alice-token")
    finally:
        gh.faults.clear()


def test_a_revoked_token_no_longer_works_and_revoking_twice_is_fine(gh: GitHubSim) -> None:
    sign_in = GitHubSignIn(gh.api_url, "client", "secret")
    token = sign_in.exchange(code_for(gh, sign_in, "bob"))
    with pytest.raises(RuntimeFailed):
        GitHubSignIn(gh.api_url, "client", "guessed").revoke(token)
    assert sign_in.login(token) == "bob"
    sign_in.revoke(token)
    assert sign_in.login(token) is None
    sign_in.revoke(token)
