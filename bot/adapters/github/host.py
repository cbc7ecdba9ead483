"""`CodeHost` over PyGithub: pull requests, files, reviews, permissions, comments, statuses.

Works against github.com, GitHub Enterprise Server and the project's simulator alike: the
base URL is `GITHUB_API_URL`. Authentication is a token, or a GitHub App whose installation
tokens PyGithub mints and refreshes.

Every comment body and status description passes through the host's `Masker` on its way
out; the host adds its own token, App key and each installation token it sees to it.

With `metrics`, every call is counted by the `CodeHost` method that made it and its outcome
(`shipmate_github_api_calls_total`), and GitHub's `X-RateLimit-*` of the last answer is kept
(`shipmate_github_rate_limit_remaining`, ...).

Calls are few: comments, statuses, files and reviews go through objects PyGithub does not read
first (`withLazy`), so each is one request, not a GET of the issue or commit and then the
call. With `throttle` (the default), every content-creating call (comments, statuses,
reactions) spends a slot of the write budget first (`bot.adapters.github.budget`), so a
burst stays within GitHub's secondary rate limits; reads are not paced.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from github import Auth, Github, GithubException
from github.PullRequest import PullRequest
from github.Repository import Repository
from urllib3.util.retry import Retry

from bot.adapters.github.budget import WriteBudget
from bot.core.errors import RuntimeFailed, TransientError
from bot.core.events import is_fork
from bot.core.mask import Masker
from bot.core.ports import CommentInfo, PullRequestInfo, ReviewInfo
from bot.core.render.checks import CheckRunText
from bot.metrics import ShipmateMetrics

DEFAULT_API_URL = "https://api.github.com"
IN_CLIENT_RETRIES = 2  # PyGithub's default retries ten times and sleeps out Retry-After in the worker
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Credentials:
    """How to reach GitHub: a token, or a GitHub App (id + private key + installation)."""

    api_url: str = DEFAULT_API_URL
    token: str | None = None
    app_id: str | None = None
    private_key: str | None = None
    installation_id: int | None = None
    bot_login: str | None = None


class GitHubHost:
    """The `CodeHost` port over PyGithub."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        throttle: bool = True,
        masker: Masker | None = None,
        metrics: ShipmateMetrics | None = None,
        budget: WriteBudget | None = None,
    ) -> None:
        self.credentials = credentials
        self.metrics = metrics
        # Writes keep within GitHub's secondary rate limits (`budget`); reads are not paced.
        self.budget = (budget or WriteBudget(metrics=metrics)) if throttle else None
        self.masker = masker if masker is not None else Masker()
        self.masker.add([credentials.token or "", credentials.private_key or ""], own=True)
        base_url = credentials.api_url.rstrip("/")
        if not throttle:
            self._github = Github(auth=_auth(credentials), base_url=base_url, seconds_between_requests=0,
                                  seconds_between_writes=0, retry=None)
        else:  # quick retries of reads on a blinking server; rate limits and longer waits are the queue's
            retry = Retry(
                total=IN_CLIENT_RETRIES, backoff_factor=0.5, status_forcelist=(502, 503, 504),
                allowed_methods=frozenset({"GET", "HEAD"}), respect_retry_after_header=False, raise_on_status=False,
            )
            self._github = Github(auth=_auth(credentials), base_url=base_url, retry=retry,
                                  seconds_between_requests=0, seconds_between_writes=0)
        # Objects of this one are not read before they are used: a comment, a status or a
        # list of files is one request, not two (GET the issue or commit first).
        self._lazy = self._github.withLazy(True)
        self._repos: dict[str, Repository] = {}
        self._lock = threading.Lock()
        self._login = credentials.bot_login

    # -- helpers ---------------------------------------------------------------------------
    def _call(self, call: str, what: str, fn: Callable[[], T], *, lazy: bool = False) -> T:
        """`_call(what, fn)`, counted as the code host call `call` by outcome, with the rate
        limit of GitHub's last answer (when the host has metrics); `lazy`: `fn` calls through
        the objects of `_unread`."""
        if self.metrics is None:
            return _call(what, fn)
        outcome = "ok"
        try:
            return _call(what, fn)
        except TransientError as exc:
            cause = exc.__cause__
            status = cause.status if isinstance(cause, GithubException) else 0
            outcome = "unreachable" if not status else ("server_error" if status >= 500 else "rate_limited")
            raise
        except RuntimeFailed:
            outcome = "client_error"
            raise
        finally:
            self.metrics.github_calls.inc(call=call, outcome=outcome)
            requester = (self._lazy if lazy else self._github).requester
            remaining, limit = requester.rate_limiting
            if limit > 0:
                self.metrics.github_rate.observe(remaining, limit, requester.rate_limiting_resettime)

    def _write(self, call: str, what: str, fn: Callable[[], T], *, lazy: bool = False) -> T:
        """A content-creating `_call`, within the write budget."""
        if self.budget is not None:
            self.budget.spend(what)
        return self._call(call, what, fn, lazy=lazy)

    def _masked(self, text: str) -> str:
        """`text` as it may leave the process (the current installation token learnt first)."""
        if not self.credentials.token:
            self._installation_token()
        return self.masker.text(text)

    def _repo(self, name: str) -> Repository:
        with self._lock:
            repo = self._repos.get(name)
        if repo is None:
            repo = self._call("repository", f"read repository {name}", lambda: self._github.get_repo(name))
            with self._lock:
                self._repos[name] = repo
        return repo

    def _unread(self, name: str) -> Repository:
        """The repository as an object not read from GitHub: its URL and the calls on it."""
        return self._lazy.get_repo(name)

    def _pull(self, repo: str, number: int) -> PullRequest:
        return self._call("pull_request", f"read pull request {repo}#{number}", lambda: self._repo(repo).get_pull(number))

    # -- CodeHost --------------------------------------------------------------------------
    def pull_request(self, repo: str, number: int) -> PullRequestInfo:
        return _info(repo, self._pull(repo, number))

    def open_pull_requests(self, repo: str) -> Sequence[PullRequestInfo]:
        pulls = self._call("open_pull_requests", f"list pull requests of {repo}",
                           lambda: list(self._repo(repo).get_pulls(state="open")))
        return [_info(repo, p, listed=True) for p in pulls]

    def merged_pull_request_for(self, repo: str, sha: str) -> PullRequestInfo | None:
        def find() -> PullRequestInfo | None:
            pulls = self._repo(repo).get_pulls(state="closed", sort="updated", direction="desc")
            for index, pull in enumerate(pulls):
                if pull.merged and pull.merge_commit_sha == sha:
                    return _info(repo, pull)
                if index >= 50:
                    break
            return None

        return self._call("merged_pull_request_for", f"find the pull request merged as {sha[:7]}", find)

    def changed_files(self, repo: str, number: int) -> Sequence[str]:
        def files() -> list[str]:
            paths: list[str] = []
            for f in self._unread(repo).get_pull(number).get_files():
                paths.append(f.filename)
                if f.previous_filename:
                    paths.append(f.previous_filename)
            return paths

        return self._call("changed_files", f"list files of {repo}#{number}", files, lazy=True)

    def reviews(self, repo: str, number: int) -> Sequence[ReviewInfo]:
        def reviews() -> list[ReviewInfo]:
            return [
                ReviewInfo(r.user.login if r.user else "", r.state, r.commit_id or "",
                           author_is_bot=bool(r.user) and (r.user.type == "Bot" or r.user.login.endswith("[bot]")))
                for r in self._unread(repo).get_pull(number).get_reviews()
            ]

        return self._call("reviews", f"list reviews of {repo}#{number}", reviews, lazy=True)

    def permission(self, repo: str, login: str) -> str:
        """The collaborator's role: `role_name` is exact (maintain, triage), while the legacy
        `permission` field folds maintain into write and triage into read."""
        url = f"{self._unread(repo).url}/collaborators/{login}/permission"

        def read() -> dict[str, object]:
            try:
                return dict(self._github.requester.requestJsonAndCheck("GET", url)[1])
            except GithubException as exc:
                if exc.status in (403, 404) and not isinstance(_failure("", exc), TransientError):
                    return {}
                raise

        data = self._call("permission", f"read permission of {login} on {repo}", read)
        role = data.get("role_name") or data.get("permission") or "none"
        return {"pull": "read", "push": "write"}.get(str(role), str(role))

    def team_members(self, org: str, team: str) -> Sequence[str]:
        def read() -> list[str]:
            logins: list[str] = []
            for page in range(1, 101):  # 10,000 members at most
                try:
                    _, data = self._github.requester.requestJsonAndCheck(
                        "GET", f"/orgs/{org}/teams/{team}/members", parameters={"per_page": 100, "page": page})
                except GithubException as exc:
                    if exc.status in (403, 404) and not isinstance(_failure("", exc), TransientError):
                        return logins  # no such team, or not one this installation may see
                    raise
                batch = [str(user.get("login", "")) for user in data or () if isinstance(user, dict)]
                logins.extend(batch)
                if len(batch) < 100:
                    break
            return logins

        return self._call("team_members", f"read the members of team {org}/{team}", read)

    def comments(self, repo: str, number: int) -> Sequence[CommentInfo]:
        def comments() -> list[CommentInfo]:
            issue = self._unread(repo).get_issue(number)
            return [CommentInfo(c.id, c.user.login if c.user else "", c.body or "") for c in issue.get_comments()]

        return self._call("comments", f"list comments of {repo}#{number}", comments, lazy=True)

    def create_comment(self, repo: str, number: int, body: str) -> int:
        body = self._masked(body)
        return self._write(
            "create_comment",
            f"comment on {repo}#{number}",
            lambda: self._unread(repo).get_issue(number).create_comment(body).id,
            lazy=True,
        )

    def create_issue(self, repo: str, title: str, body: str) -> int:
        url = self._unread(repo).url + "/issues"
        data = {"title": self._masked(title), "body": self._masked(body)}
        _, made = self._write("create_issue", f"open an issue on {repo}",
                              lambda: self._github.requester.requestJsonAndCheck("POST", url, input=data))
        return int(made["number"])

    def edit_issue(self, repo: str, number: int, *, body: str | None = None, state: str | None = None) -> None:
        data = {key: value for key, value in (("body", self._masked(body) if body is not None else None),
                                               ("state", state)) if value is not None}
        self._request("edit_issue", "PATCH", repo, f"/issues/{number}", data, f"edit issue {repo}#{number}")

    def issue_state(self, repo: str, number: int) -> str:
        url = self._unread(repo).url + f"/issues/{number}"
        _, data = self._call("issue_state", f"read issue {repo}#{number}",
                             lambda: self._github.requester.requestJsonAndCheck("GET", url))
        return str(data.get("state") or "open")

    def push_files(self, repo: str, branch: str, base_sha: str, files: Mapping[str, str], message: str) -> str:
        """The branch is moved (forced) or created at `base_sha`, then each file is written with
        the contents API (one commit a file: the API GitHub offers Apps and tokens alike)."""
        base = self._unread(repo).url
        requester = self._github.requester
        exists = self._call("branch_head", f"read branch {branch} of {repo}",
                            lambda: _exists(lambda: requester.requestJsonAndCheck("GET", f"{base}/git/ref/heads/{branch}")))
        if exists:
            self._write("push_files", f"reset branch {branch} of {repo}", lambda: requester.requestJsonAndCheck(
                "PATCH", f"{base}/git/refs/heads/{branch}", input={"sha": base_sha, "force": True}))
        else:
            self._write("push_files", f"create branch {branch} of {repo}", lambda: requester.requestJsonAndCheck(
                "POST", f"{base}/git/refs", input={"ref": f"refs/heads/{branch}", "sha": base_sha}))
        head = base_sha
        for path, text in sorted(files.items()):
            head = self._put_file(repo, branch, path, text, message)
        return head

    def _put_file(self, repo: str, branch: str, path: str, text: str, message: str) -> str:
        """Write one file on `branch` (the contents API: a commit); the commit's SHA."""
        url = f"{self._unread(repo).url}/contents/{quote(path)}"
        requester = self._github.requester

        def read() -> Any:
            return _exists(lambda: requester.requestJsonAndCheck("GET", url, parameters={"ref": branch}))

        found = self._call("contents", f"read {path} on {branch} of {repo}", read)
        data: dict[str, Any] = {"message": message, "branch": branch,
                                "content": base64.b64encode(text.encode()).decode()}
        if isinstance(found, dict) and found.get("sha"):
            data["sha"] = found["sha"]
        _, made = self._write("push_files", f"write {path} on {branch} of {repo}",
                              lambda: requester.requestJsonAndCheck("PUT", url, input=data))
        return str(made["commit"]["sha"])

    def create_pull_request(self, repo: str, head: str, base: str, title: str, body: str) -> int:
        url = self._unread(repo).url + "/pulls"
        data = {"title": self._masked(title), "body": self._masked(body), "head": head, "base": base}
        _, made = self._write("create_pull_request", f"open a pull request on {repo}",
                              lambda: self._github.requester.requestJsonAndCheck("POST", url, input=data))
        return int(made["number"])

    def delete_branch(self, repo: str, branch: str) -> None:
        url = f"{self._unread(repo).url}/git/refs/heads/{quote(branch)}"

        def delete() -> None:
            try:
                self._github.requester.requestJsonAndCheck("DELETE", url)
            except GithubException as exc:
                if exc.status not in (404, 422):  # gone already ("Reference does not exist")
                    raise

        self._write("delete_branch", f"delete branch {branch} of {repo}", delete)

    def create_commit_comment(self, repo: str, sha: str, body: str) -> str:
        url = f"{self._unread(repo).url}/commits/{sha}/comments"
        body = self._masked(body)
        _, data = self._write(
            "create_commit_comment",
            f"comment on commit {sha[:7]} of {repo}",
            lambda: self._github.requester.requestJsonAndCheck("POST", url, input={"body": body}),
        )
        return str(data.get("html_url") or "")

    def edit_comment(self, repo: str, comment_id: int, body: str) -> None:
        body = self._masked(body)
        self._request("edit_comment", "PATCH", repo, f"/issues/comments/{comment_id}", {"body": body},
                      f"edit comment {comment_id}")

    def delete_comment(self, repo: str, comment_id: int) -> None:
        self._request("delete_comment", "DELETE", repo, f"/issues/comments/{comment_id}", None,
                      f"delete comment {comment_id}")

    def react(self, repo: str, comment_id: int, content: str) -> None:
        self._request(
            "react", "POST", repo, f"/issues/comments/{comment_id}/reactions", {"content": content},
            f"react to comment {comment_id}",
        )

    def _request(self, call: str, verb: str, repo: str, path: str, body: dict[str, str] | None, what: str) -> None:
        url = self._unread(repo).url + path
        self._write(call, what, lambda: self._github.requester.requestJsonAndCheck(verb, url, input=body))

    def set_status(
        self, repo: str, sha: str, context: str, state: str, description: str, target_url: str = ""
    ) -> None:
        description = self._masked(description)

        def status() -> None:
            commit = self._unread(repo).get_commit(sha)
            kwargs = {"target_url": target_url} if target_url else {}
            commit.create_status(state=state, description=description[:140], context=context[:255], **kwargs)

        self._write("set_status", f"set status {context} on {sha[:7]}", status, lazy=True)

    def create_check_run(self, repo: str, sha: str, run: CheckRunText) -> int:
        """Create check run `run` on commit `sha` (a GitHub App's installation only); its ID."""
        url = self._unread(repo).url + "/check-runs"
        body = {"name": run.name, "head_sha": sha, "external_id": run.external_id, **self._check_fields(run)}
        _, data = self._write("create_check_run", f"create check run {run.name} on {sha[:7]}",
                              lambda: self._github.requester.requestJsonAndCheck("POST", url, input=body))
        return int(data["id"])

    def update_check_run(self, repo: str, run_id: int, run: CheckRunText) -> None:
        """Make check run `run_id` read `run` (its status, conclusion, output and buttons)."""
        url = self._unread(repo).url + f"/check-runs/{run_id}"
        body = self._check_fields(run)
        self._write("update_check_run", f"update check run {run_id}",
                    lambda: self._github.requester.requestJsonAndCheck("PATCH", url, input=body))

    def _check_fields(self, run: CheckRunText) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "status": run.status,
            "output": {"title": self._masked(run.title), "summary": self._masked(run.summary)},
            "actions": [{"label": a.label, "description": a.description, "identifier": a.identifier}
                        for a in run.actions],
        }
        if run.conclusion is not None:
            fields["conclusion"] = run.conclusion
        if run.details_url:
            fields["details_url"] = run.details_url
        return fields

    def branch_head(self, repo: str, branch: str) -> str:
        return self._call(
            "branch_head",
            f"read branch {branch} of {repo}",
            lambda: self._repo(repo).get_git_ref(f"heads/{branch}").object.sha,
        )

    def default_branch(self, repo: str) -> str:
        return self._call("default_branch", f"read repository {repo}", lambda: self._repo(repo).default_branch)

    def repository_url(self, repo: str) -> str:
        return self._call("repository", f"read repository {repo}", lambda: str(self._repo(repo).html_url or ""))

    def bot_login(self) -> str:
        if self._login is None:
            self._login = self._call("bot_login", "read the authenticated user",
                                     lambda: self._github.get_user().login)
        return self._login

    def clone_url(self, repo: str) -> str:
        """An HTTPS clone URL carrying a token, for the checkout cache."""
        url = self._repo(repo).clone_url
        token = self.credentials.token or self._installation_token()
        if not token or "://" not in url:
            return url
        scheme, rest = url.split("://", 1)
        return f"{scheme}://x-access-token:{token}@{rest}"

    def _installation_token(self) -> str | None:
        auth = self._github.requester.auth
        token = getattr(auth, "token", None)
        if token:
            self.masker.add([str(token)], own=True)
        return str(token) if token else None


def _auth(credentials: Credentials) -> Auth.Auth:
    if credentials.token:
        return Auth.Token(credentials.token)
    if credentials.app_id and credentials.private_key:
        if credentials.installation_id is None:
            raise RuntimeFailed("a GitHub App needs an installation id to act on a repository")
        return Auth.AppAuth(credentials.app_id, credentials.private_key).get_installation_auth(
            credentials.installation_id
        )
    raise RuntimeFailed("no GitHub credentials: set GITHUB_TOKEN or a GitHub App id and private key")


def _info(repo: str, pull: PullRequest, listed: bool = False) -> PullRequestInfo:
    """`listed`: an item of GitHub's list of open pull requests, which carries neither `merged`
    (an open pull request is not) nor `mergeable` (left None): reading them would fetch every
    pull request of the list once more."""
    head_repo = pull.head.repo.full_name if pull.head.repo else None  # None: the fork was deleted
    return PullRequestInfo(
        repo=repo,
        number=pull.number,
        title=pull.title or "",
        author=pull.user.login if pull.user else "",
        state=pull.state,
        merged=False if listed else bool(pull.merged),
        draft=bool(pull.draft),
        head_sha=pull.head.sha,
        head_ref=pull.head.ref,
        head_repo=head_repo or "",
        base_ref=pull.base.ref,
        base_sha=pull.base.sha,
        is_fork=is_fork(head_repo, repo),
        mergeable=None if listed else pull.mergeable,
        merge_commit_sha=pull.merge_commit_sha,
        html_url=pull.html_url or "",
    )


def _exists(read: Callable[[], tuple[Any, Any]]) -> Any:
    """What a GET answered, or None when GitHub says there is no such thing (404)."""
    try:
        return read()[1]
    except GithubException as exc:
        if exc.status == 404:
            return None
        raise


def _reason(exc: GithubException) -> str:
    data = exc.data if isinstance(exc.data, dict) else {}
    message = data.get("message") or str(exc)
    return f"HTTP {exc.status}: {message}"


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds GitHub asked us to wait: `Retry-After` (seconds or an HTTP date), or until
    `X-RateLimit-Reset` when no requests remain."""
    h = {k.lower(): v for k, v in (headers or {}).items()}
    value = h.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
            except (TypeError, ValueError):
                return None
    if h.get("x-ratelimit-remaining") == "0" and h.get("x-ratelimit-reset", "").isdigit():
        return max(0.0, float(h["x-ratelimit-reset"]) - time.time())
    return None


def _failure(what: str, exc: GithubException) -> RuntimeFailed | TransientError:
    """GitHub's answer on the retry axis: 5xx, 429 and rate-limit 403s are temporary."""
    message = f"GitHub: {what}: {_reason(exc)}"
    retry_after = _retry_after(exc.headers)
    status = exc.status or 0
    rate_limited = status == 403 and (retry_after is not None or "rate limit" in message.lower())
    if status >= 500 or status == 429 or rate_limited:
        return TransientError(message, retry_after=retry_after)
    return RuntimeFailed(message)


def _call(what: str, fn: Callable[[], T]) -> T:
    """Every GitHub call goes through here: errors leave on the retry axis (temporary:
    transport errors, 5xx, 429, rate limits; permanent: the rest)."""
    try:
        return fn()
    except GithubException as exc:
        raise _failure(what, exc) from exc
    except requests.RequestException as exc:  # connection refused or reset, timeouts, retries used up
        raise TransientError(f"GitHub: {what}: {type(exc).__name__}: {exc}") from exc
