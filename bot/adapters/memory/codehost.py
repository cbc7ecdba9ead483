"""`CodeHost` in memory: repositories, branches, pull requests, comments, statuses, reviews.

It answers as the GitHub adapter does over GitHub: unknown repositories, pull requests and
comments are an HTTP 404 `RuntimeFailed`, an empty comment, one longer than GitHub's 65,536
characters or one on an unknown commit an HTTP 422; status descriptions are cut to 140 characters and contexts to
255; every comment body and status description passes through the host's `Masker`; the
bot's own comments carry `bot_login()`; a renamed file counts with its old and new path.

Tests drive the other side through the same object: `create_repo`, `push`,
`open_pull_request` (a fork, a deleted fork, a draft), `comment_as`, `review`, `grant`,
`merge` and `close` change what the port then reads, and `statuses`, `reactions` and
`commit_comments` show what the bot wrote. Commits live in `Commits`, which the in-memory
checkouts read.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from bot.adapters.memory.commits import Commits
from bot.core.errors import RuntimeFailed
from bot.core.events import is_fork
from bot.core.mask import Masker
from bot.core.ports import CommentInfo, PullRequestInfo, ReviewInfo
from bot.core.render.split import GITHUB_LIMIT

MAX_STATUS_DESCRIPTION = 140
MAX_STATUS_CONTEXT = 255
STATES = ("pending", "success", "failure", "error")
MERGED_SEARCH_DEPTH = 51  # the GitHub adapter looks at the 51 most recently updated closed pulls


@dataclass(frozen=True, slots=True)
class Status:
    """A commit status as set."""

    sha: str
    context: str
    state: str
    description: str
    target_url: str = ""


@dataclass(frozen=True, slots=True)
class Reaction:
    comment_id: int
    content: str


@dataclass(frozen=True, slots=True)
class CommitComment:
    sha: str
    body: str
    url: str


@dataclass
class _Pull:
    info: PullRequestInfo
    renamed: dict[str, str] = field(default_factory=dict)  # new path -> old path
    reviews: list[ReviewInfo] = field(default_factory=list)
    touched: int = 0  # when it last changed (the GitHub adapter reads the newest first)


@dataclass
class _Comment:
    number: int
    info: CommentInfo


@dataclass
class _Repo:
    default_branch: str
    branches: dict[str, str] = field(default_factory=dict)
    pulls: dict[int, _Pull] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)


def _not_found(what: str) -> RuntimeFailed:
    return RuntimeFailed(f"GitHub: {what}: HTTP 404: Not Found")


def _invalid(what: str) -> RuntimeFailed:
    return RuntimeFailed(f"GitHub: {what}: HTTP 422: Validation Failed")


class MemoryCodeHost:
    """The `CodeHost` port in memory (see the module docstring)."""

    def __init__(self, commits: Commits | None = None, *, login: str = "shipmate[bot]",
                 masker: Masker | None = None) -> None:
        self.commits = commits if commits is not None else Commits()
        self.login = login
        self.masker = masker if masker is not None else Masker()
        self._repos: dict[str, _Repo] = {}
        self._comments: dict[int, _Comment] = {}
        self._next_id = 1000
        self._clock = 0
        self._lock = threading.RLock()
        self.statuses: list[Status] = []
        self.reactions: list[Reaction] = []
        self.commit_comments: list[CommitComment] = []
        self.teams: dict[str, tuple[str, ...]] = {}  # "org/team" (lower case) -> member logins
        self.issues: dict[tuple[str, int], dict[str, str]] = {}  # (repo, number) -> title, body, state

    # -- the other side: what people do on the host ------------------------------------------
    def create_repo(self, repo: str, files: Mapping[str, str], default_branch: str = "main") -> str:
        """A repository whose default branch holds `files`; returns that commit's SHA."""
        with self._lock:
            self._repos[repo] = _Repo(default_branch)
        return self.push(repo, default_branch, files)

    def push(self, repo: str, branch: str, files: Mapping[str, str]) -> str:
        """Point `branch` at a commit of `files` (created when new); returns its SHA."""
        sha = self.commits.commit(repo, files)
        with self._lock:
            self._repo(repo, f"push to {repo}").branches[branch] = sha
        return sha

    def files(self, repo: str, ref: str) -> Mapping[str, str]:
        """The files of a branch (or a SHA)."""
        with self._lock:
            sha = self._repo(repo, f"read {repo}").branches.get(ref, ref)
        return self.commits.files(repo, sha)

    def grant(self, repo: str, login: str, role: str) -> None:
        """Make `login` a collaborator with `role` (admin, maintain, write, triage, read)."""
        with self._lock:
            self._repo(repo, f"add collaborator to {repo}").permissions[login] = role

    def open_pull_request(
        self,
        repo: str,
        files: Mapping[str, str],
        *,
        author: str,
        number: int | None = None,
        title: str = "Change",
        branch: str = "change",
        base: str | None = None,
        draft: bool = False,
        head_repo: str | None = None,
        renamed: Mapping[str, str] | None = None,
    ) -> PullRequestInfo:
        """A pull request from `branch` (of `head_repo`, a fork when it is another repository,
        "" when the fork was deleted) whose head holds `files`, into `base` (the default branch)."""
        with self._lock:
            found = self._repo(repo, f"create a pull request on {repo}")
            base_ref = base or found.default_branch
            base_sha = found.branches[base_ref]
            head = repo if head_repo is None else head_repo
            head_sha = self.commits.commit(repo, files)  # a fork's head too, as refs/pull/N/head
            if head == repo:
                found.branches[branch] = head_sha
            number = number or (max(found.pulls, default=0) + 1)
            info = PullRequestInfo(
                repo=repo, number=number, title=title, author=author, state="open", merged=False,
                draft=draft, head_sha=head_sha, head_ref=branch, head_repo=head, base_ref=base_ref,
                base_sha=base_sha, is_fork=is_fork(head or None, repo), mergeable=True,
                html_url=f"https://github.test/{repo}/pull/{number}",
            )
            found.pulls[number] = _Pull(info, dict(renamed or {}), touched=self._tick())
            return info

    def update_pull_request(self, repo: str, number: int, files: Mapping[str, str]) -> PullRequestInfo:
        """A new head commit (a push to the pull request's branch)."""
        with self._lock:
            pull = self._pull(repo, number)
            sha = self.commits.commit(repo, files)
            if not pull.info.is_fork:
                self._repos[repo].branches[pull.info.head_ref] = sha
            pull.info = replace(pull.info, head_sha=sha)
            pull.touched = self._tick()
            return pull.info

    def set_pull_request(self, repo: str, number: int, **changes: object) -> PullRequestInfo:
        """Change fields of a pull request as GitHub would show them (`draft`, `title`, ...)."""
        with self._lock:
            pull = self._pull(repo, number)
            pull.info = replace(pull.info, **changes)  # type: ignore[arg-type]
            pull.touched = self._tick()
            return pull.info

    def merge(self, repo: str, number: int) -> str:
        """Merge: the base branch gets the head's files as a new commit; returns its SHA."""
        with self._lock:
            pull = self._pull(repo, number)
            files = dict(self.commits.files(repo, pull.info.head_sha))
            files[".merged"] = f"{number}\n"  # a merge commit differs from the head commit
            sha = self.commits.commit(repo, files)
            self._repos[repo].branches[pull.info.base_ref] = sha
            pull.info = replace(pull.info, state="closed", merged=True, merge_commit_sha=sha, mergeable=None)
            pull.touched = self._tick()
            return sha

    def close(self, repo: str, number: int) -> PullRequestInfo:
        with self._lock:
            pull = self._pull(repo, number)
            pull.info = replace(pull.info, state="closed")
            pull.touched = self._tick()
            return pull.info

    def review(self, repo: str, number: int, author: str, state: str = "APPROVED", *,
               commit_id: str | None = None, author_is_bot: bool = False) -> None:
        """A review of the head commit (or `commit_id`)."""
        with self._lock:
            pull = self._pull(repo, number)
            pull.reviews.append(ReviewInfo(author, state, commit_id or pull.info.head_sha, author_is_bot))

    def comment_as(self, author: str, repo: str, number: int, body: str) -> CommentInfo:
        """A comment someone else writes on a pull request (or issue)."""
        with self._lock:
            self._pull(repo, number)
            return self._add_comment(number, author, body)

    def status(self, sha: str, context: str) -> Status | None:
        """The newest status of `context` on `sha`."""
        with self._lock:
            return next((s for s in reversed(self.statuses) if s.sha == sha and s.context == context), None)

    def reactions_to(self, comment_id: int) -> list[str]:
        with self._lock:
            return [r.content for r in self.reactions if r.comment_id == comment_id]

    # -- helpers ------------------------------------------------------------------------------
    def _tick(self) -> int:
        self._clock += 1
        return self._clock

    def _repo(self, repo: str, what: str) -> _Repo:
        found = self._repos.get(repo)
        if found is None:
            raise _not_found(what)
        return found

    def _pull(self, repo: str, number: int) -> _Pull:
        pull = self._repo(repo, f"read pull request {repo}#{number}").pulls.get(number)
        if pull is None:
            raise _not_found(f"read pull request {repo}#{number}")
        return pull

    def _next_number(self, found: _Repo, repo: str) -> int:
        """The next issue or pull request number: they share one sequence, as on GitHub."""
        return max([*found.pulls, *(n for r, n in self.issues if r == repo)], default=0) + 1

    def _commentable(self, repo: str, number: int) -> None:
        """A pull request or an issue (both take comments on GitHub); 404 otherwise."""
        if (repo, number) not in self.issues:
            self._pull(repo, number)

    def _known(self, repo: str, sha: str, error: RuntimeFailed) -> None:
        try:
            self.commits.files(repo, sha)
        except RuntimeFailed:
            raise error from None

    def _body(self, body: str, what: str) -> str:
        body = self.masker.text(body)
        if not body or len(body) > GITHUB_LIMIT:
            raise _invalid(what)
        return body

    def _add_comment(self, number: int, author: str, body: str) -> CommentInfo:
        self._next_id += 1
        info = CommentInfo(self._next_id, author, body)
        self._comments[info.id] = _Comment(number, info)
        return info

    def _comment(self, repo: str, comment_id: int, what: str) -> _Comment:
        self._repo(repo, what)
        found = self._comments.get(comment_id)
        if found is None:
            raise _not_found(what)
        return found

    # -- CodeHost -----------------------------------------------------------------------------
    def pull_request(self, repo: str, number: int) -> PullRequestInfo:
        with self._lock:
            return self._pull(repo, number).info

    def open_pull_requests(self, repo: str) -> Sequence[PullRequestInfo]:
        with self._lock:
            pulls = self._repo(repo, f"list pull requests of {repo}").pulls
            return [p.info for _, p in sorted(pulls.items()) if p.info.state == "open"]

    def merged_pull_request_for(self, repo: str, sha: str) -> PullRequestInfo | None:
        with self._lock:
            pulls = self._repo(repo, f"find the pull request merged as {sha[:7]}").pulls.values()
            closed = sorted((p for p in pulls if p.info.state == "closed"), key=lambda p: -p.touched)
            for pull in closed[:MERGED_SEARCH_DEPTH]:
                if pull.info.merged and pull.info.merge_commit_sha == sha:
                    return pull.info
            return None

    def changed_files(self, repo: str, number: int) -> Sequence[str]:
        with self._lock:
            pull = self._pull(repo, number)
            base = self.commits.files(repo, pull.info.base_sha)
            head = self.commits.files(repo, pull.info.head_sha)
            paths: list[str] = []
            for path in sorted(set(base) | set(head)):
                if base.get(path) == head.get(path) or (path not in head and path in pull.renamed.values()):
                    continue
                paths.append(path)
                if path in pull.renamed:
                    paths.append(pull.renamed[path])
            return paths

    def reviews(self, repo: str, number: int) -> Sequence[ReviewInfo]:
        with self._lock:
            return list(self._pull(repo, number).reviews)

    def permission(self, repo: str, login: str) -> str:
        with self._lock:
            return self._repo(repo, f"read permission of {login} on {repo}").permissions.get(login, "none")

    def create_issue(self, repo: str, title: str, body: str) -> int:
        with self._lock:
            number = self._next_number(self._repo(repo, f"open an issue on {repo}"), repo)
            self.issues[(repo, number)] = {"title": self.masker.text(title), "body": self.masker.text(body),
                                           "state": "open"}
            return number

    def push_files(self, repo: str, branch: str, base_sha: str, files: Mapping[str, str], message: str) -> str:
        base = dict(self.commits.files(repo, base_sha))
        sha = self.commits.commit(repo, {**base, **files})
        with self._lock:
            found = self._repo(repo, f"push to {branch} of {repo}")
            found.branches[branch] = sha
            for pull in found.pulls.values():
                if pull.info.head_ref == branch and not pull.info.is_fork and pull.info.state == "open":
                    pull.info = replace(pull.info, head_sha=sha)
                    pull.touched = self._tick()
        return sha

    def create_pull_request(self, repo: str, head: str, base: str, title: str, body: str) -> int:
        with self._lock:
            found = self._repo(repo, f"open a pull request on {repo}")
            if head not in found.branches or base not in found.branches:
                raise _invalid(f"open a pull request on {repo}")
            number = self._next_number(found, repo)
            info = self.open_pull_request(repo, self.commits.files(repo, found.branches[head]), author=self.login,
                                          number=number, title=self.masker.text(title), branch=head, base=base)
            self.issues[(repo, number)] = {"title": info.title, "body": self.masker.text(body), "state": "open"}
            return number

    def delete_branch(self, repo: str, branch: str) -> None:
        with self._lock:
            found = self._repo(repo, f"delete branch {branch} of {repo}")
            if branch == found.default_branch:
                raise _invalid(f"delete branch {branch} of {repo}")
            found.branches.pop(branch, None)

    def edit_issue(self, repo: str, number: int, *, body: str | None = None, state: str | None = None) -> None:
        with self._lock:
            issue = self.issues[(repo, number)]
            pull = self._repos[repo].pulls.get(number) if repo in self._repos else None
            if pull is not None and state is not None:
                pull.info = replace(pull.info, state=state)
                pull.touched = self._tick()
            if body is not None:
                issue["body"] = self.masker.text(body)
            if state is not None:
                issue["state"] = state

    def issue_state(self, repo: str, number: int) -> str:
        with self._lock:
            return self.issues[(repo, number)]["state"]

    def team_members(self, org: str, team: str) -> Sequence[str]:
        with self._lock:
            return self.teams.get(f"{org}/{team}".lower(), ())

    def comments(self, repo: str, number: int) -> Sequence[CommentInfo]:
        with self._lock:
            self._commentable(repo, number)
            return [c.info for _, c in sorted(self._comments.items()) if c.number == number]

    def create_comment(self, repo: str, number: int, body: str) -> int:
        what = f"comment on {repo}#{number}"
        with self._lock:
            self._commentable(repo, number)
            return self._add_comment(number, self.login, self._body(body, what)).id

    def create_commit_comment(self, repo: str, sha: str, body: str) -> str:
        what = f"comment on commit {sha[:7]} of {repo}"
        with self._lock:
            self._repo(repo, what)
            self._known(repo, sha, _invalid(what))  # GitHub: 422, no commit found for the SHA
            url = f"https://github.test/{repo}/commit/{sha}#commitcomment-{len(self.commit_comments) + 1}"
            self.commit_comments.append(CommitComment(sha, self._body(body, what), url))
            return url

    def edit_comment(self, repo: str, comment_id: int, body: str) -> None:
        what = f"edit comment {comment_id}"
        with self._lock:
            found = self._comment(repo, comment_id, what)
            found.info = replace(found.info, body=self._body(body, what))

    def delete_comment(self, repo: str, comment_id: int) -> None:
        with self._lock:
            self._comment(repo, comment_id, f"delete comment {comment_id}")
            del self._comments[comment_id]

    def react(self, repo: str, comment_id: int, content: str) -> None:
        with self._lock:
            self._comment(repo, comment_id, f"react to comment {comment_id}")
            self.reactions.append(Reaction(comment_id, content))

    def set_status(
        self, repo: str, sha: str, context: str, state: str, description: str, target_url: str = ""
    ) -> None:
        what = f"set status {context} on {sha[:7]}"
        with self._lock:
            self._repo(repo, what)
            self._known(repo, sha, _invalid(what))
            if state not in STATES:
                raise _invalid(what)
            description = self.masker.text(description)[:MAX_STATUS_DESCRIPTION]
            self.statuses.append(Status(sha, context[:MAX_STATUS_CONTEXT], state, description, target_url))

    def branch_head(self, repo: str, branch: str) -> str:
        with self._lock:
            sha = self._repo(repo, f"read branch {branch} of {repo}").branches.get(branch)
        if sha is None:
            raise _not_found(f"read branch {branch} of {repo}")
        return sha

    def default_branch(self, repo: str) -> str:
        with self._lock:
            return self._repo(repo, f"read repository {repo}").default_branch

    def repository_url(self, repo: str) -> str:
        with self._lock:
            self._repo(repo, f"read repository {repo}")
        return f"https://github.test/{repo}"

    def bot_login(self) -> str:
        return self.login
