"""Signing people in with GitHub: the OAuth web flow of an OAuth App (or a GitHub App's user
authorisation), and what a signed-in person may do, asked with their own token.

`GitHubSignIn` is used by the dashboard (`bot.web.auth`):

- `authorize_url(redirect_uri, state)`: where the browser is sent to sign in
  (`<web host>/login/oauth/authorize`; the web host is github.com for api.github.com, else
  the API's host, as GitHub Enterprise Server and the simulator serve both), asking for
  `scopes` (a GitHub App needs none; an OAuth App's token reads private repositories only
  with `repo`);
- `exchange(code)`: the code GitHub sent back, traded for the person's access token
  (`POST /login/oauth/access_token`);
- `revoke(token)`: the token no longer works (`DELETE /applications/{client_id}/token`, with
  the App's client id and secret), when the person signs out;
- `login(token)`: whose token it is (`GET /user`), None when GitHub does not know it;
- `role(token, repo)`: the person's role on `owner/name` (`GET /repos/{owner}/{repo}`'s
  `permissions`: `read`, `triage`, `write`, `maintain` or `admin`), None when they may not
  see it (GitHub answers 404 or 403 then); a token GitHub no longer accepts (revoked,
  expired) is `SignInRefused`.

Everything goes through PyGithub's requester; errors leave on the retry axis like every
GitHub call (`bot.adapters.github.host`): unreachable, 5xx and rate limits are
`TransientError`, a refused code is `SignInRefused`, the rest `RuntimeFailed`.
"""

from __future__ import annotations

from urllib.parse import urlencode

from github import Auth, BadCredentialsException, Github, GithubException, UnknownObjectException
from github.ApplicationOAuth import ApplicationOAuth
from urllib3.util.retry import Retry

from bot.adapters.github.host import DEFAULT_API_URL, IN_CLIENT_RETRIES
from bot.adapters.github.host import _call as call_github
from bot.core.errors import RuntimeFailed

TIMEOUT_SECONDS = 10
# GitHub's `permissions` keys, strongest first, and the role each one names.
_ROLES = (("admin", "admin"), ("maintain", "maintain"), ("push", "write"), ("triage", "triage"), ("pull", "read"))


class SignInRefused(RuntimeFailed):
    """GitHub did not accept the code it was shown (unknown, used or expired, or the App's
    credentials are wrong): the person signs in again."""


class GitHubSignIn:
    """The OAuth App `client_id`/`client_secret` on the GitHub at `api_url`."""

    def __init__(self, api_url: str, client_id: str, client_secret: str, scopes: tuple[str, ...] = ()) -> None:
        self.api_url = (api_url or DEFAULT_API_URL).rstrip("/")
        self.scopes = scopes
        self._client_id = client_id
        self._client_secret = client_secret
        self._app: ApplicationOAuth = self._github(None).get_oauth_application(client_id, client_secret)

    def _github(self, token: str | None) -> Github:
        retry = Retry(total=IN_CLIENT_RETRIES, backoff_factor=0.2, status_forcelist=(502, 503, 504),
                      allowed_methods=frozenset({"GET", "HEAD"}), respect_retry_after_header=False,
                      raise_on_status=False)
        return Github(auth=Auth.Token(token) if token else None, base_url=self.api_url, timeout=TIMEOUT_SECONDS,
                      retry=retry, seconds_between_requests=0, seconds_between_writes=0)

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        """Where to send the browser to sign in; GitHub comes back to `redirect_uri` with a
        code and `state`."""
        url = self._app.get_login_url(redirect_uri=redirect_uri, state=state)
        return f"{url}&{urlencode({'scope': ' '.join(self.scopes)})}" if self.scopes else url

    def exchange(self, code: str) -> str:
        """The access token `code` stands for (a code is good once, for ten minutes)."""
        def trade() -> str:
            try:
                token = self._app.get_access_token(code)
            except BadCredentialsException as exc:
                raise SignInRefused("GitHub refused the sign-in code: it is unknown, used or expired") from exc
            except GithubException as exc:
                data = exc.data if isinstance(exc.data, dict) else {}
                if exc.status == 200 and data.get("error"):  # GitHub's OAuth errors come with 200
                    raise SignInRefused(f"GitHub refused the sign-in: {data['error']}") from exc
                raise
            if not token.token:
                raise SignInRefused("GitHub answered the sign-in without an access token")
            return token.token

        return call_github("exchange a sign-in code", trade)

    def revoke(self, token: str) -> None:
        """Tell GitHub the token is done with (a token already gone is fine)."""
        def delete() -> None:
            github = Github(auth=Auth.Login(self._client_id, self._client_secret), base_url=self.api_url,
                            timeout=TIMEOUT_SECONDS, retry=None, seconds_between_requests=0, seconds_between_writes=0)
            try:
                github.requester.requestJsonAndCheck("DELETE", f"/applications/{self._client_id}/token",
                                                     input={"access_token": token})
            except GithubException as exc:
                if exc.status != 422:  # 422: GitHub no longer knows the token
                    raise

        call_github("revoke the signed-in user's token", delete)

    def login(self, token: str) -> str | None:
        """The login `token` belongs to, None when GitHub does not accept it."""
        def read() -> str | None:
            try:
                data = self._github(token).requester.requestJsonAndCheck("GET", "/user")[1]
            except BadCredentialsException:
                return None
            login = data.get("login") if isinstance(data, dict) else None
            return str(login) if login else None

        return call_github("read the signed-in user", read)

    def role(self, token: str, repo: str) -> str | None:
        """The role of `token`'s owner on `repo`, None when they may not read it."""
        def read() -> str | None:
            try:
                data = self._github(token).requester.requestJsonAndCheck("GET", f"/repos/{repo}")[1]
            except BadCredentialsException as exc:
                raise SignInRefused("GitHub no longer accepts the viewer's token: sign in again") from exc
            except UnknownObjectException:
                return None
            except GithubException as exc:
                if exc.status == 403 and "rate limit" not in str(exc.data).lower():
                    return None
                raise
            permissions = data.get("permissions") if isinstance(data, dict) else None
            if not isinstance(permissions, dict):  # a public repository read anonymously
                return "read"
            return next((role for key, role in _ROLES if permissions.get(key)), None)

        return call_github(f"read the signed-in user's permission on {repo}", read)
