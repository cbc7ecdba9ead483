"""Helpers for the bot's tests: acting on the sandbox's GitHub as people do (git pushes,
pull requests and comments through PyGithub) and reading what the bot wrote back."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from bot.cli.sandbox import BOT, REPO_NAME, REPO_OWNER, Sandbox, git

Edit = Callable[[str], str] | str | None  # a function of the old text, the new text, or delete

_branches = itertools.count(1)


def push_branch(box: Sandbox, login: str, edits: Mapping[str, Edit], *, branch: str | None = None,
                message: str = "Change config") -> str:
    """Commit `edits` on a new branch off main as `login` and push it; returns the branch."""
    name = branch or f"change-{next(_branches)}"
    work = box.root / "clones" / f"{login}-{name}"
    box.clone(login, work)
    git("checkout", "-q", "-b", name, cwd=work)
    apply_edits(work, edits)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", message, cwd=work)
    git("push", "-q", "origin", name, cwd=work)
    return name


def apply_edits(work: Path, edits: Mapping[str, Edit]) -> None:
    for rel, edit in edits.items():
        path = work / rel
        if edit is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(edit(path.read_text()) if callable(edit) else edit)


def open_pr(box: Sandbox, login: str, edits: Mapping[str, Edit], *, title: str = "Change config",
            draft: bool = False) -> Any:
    """Push `edits` and open a pull request as `login` (PyGithub PullRequest)."""
    branch = push_branch(box, login, edits, message=title)
    return box.repo(login).create_pull(title=title, body="", head=branch, base="main", draft=draft)


def comment(box: Sandbox, login: str, number: int, body: str) -> Any:
    return box.repo(login).get_issue(number).create_comment(body)


def approve_and_apply(box: Sandbox, number: int, *, approver: str = "alice", asker: str = "bob") -> Any:
    """`approver` approves the head of #number and `asker` comments `/apply`; once settled, the
    asking comment (PyGithub IssueComment)."""
    box.repo(approver).get_pull(number).create_review(event="APPROVE")
    asked = comment(box, asker, number, "/apply")
    box.settle()
    return asked


def comments(box: Sandbox, number: int, *, by: str | None = BOT, after: int = 0) -> list[dict[str, Any]]:
    """Comments on #number (the bot's by default), oldest first, with IDs above `after`."""
    return [c for c in box.github.comments(REPO_OWNER, REPO_NAME, number)
            if (by is None or c["user"]["login"] == by) and c["id"] > after]


def bodies(box: Sandbox, number: int, **kwargs: Any) -> list[str]:
    return [c["body"] for c in comments(box, number, **kwargs)]


def statuses(box: Sandbox, sha: str) -> dict[str, tuple[str, str]]:
    """context → (state, description) of the latest statuses of a commit."""
    return {s["context"]: (s["state"], s["description"]) for s in box.github.statuses(REPO_OWNER, REPO_NAME, sha)}


def reactions(box: Sandbox, number: int, comment_id: int) -> list[str]:
    issue = box.repo("alice").get_issue(number)
    return sorted(r.content for r in issue.get_comment(comment_id).get_reactions())


def all_bot_text(box: Sandbox, numbers: Iterable[int]) -> str:
    """Everything the bot wrote on these pull requests: comments and status descriptions."""
    out = []
    for number in numbers:
        pull = box.repo("alice").get_pull(number)
        out.extend(bodies(box, number))
        out.extend(d for _, d in statuses(box, pull.head.sha).values())
    return "\n".join(out)


def forms(secret: str) -> list[str]:
    """A secret as it could leak: as is, and base64-encoded as Secrets store it."""
    return [secret, base64.b64encode(secret.encode()).decode()]


def replace(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, f"{old!r} not in the file"
        return text.replace(old, new, 1)

    return edit


def manifest_stack(project: str, depends_on: str, manifest: str) -> dict[str, str]:
    """The files of a one-stack project `<project>/dev` deploying `manifest` (k8s_manifest);
    `depends_on`: its stack.yaml's `dependsOn` line, or ""."""
    return {
        f"{project}/project.yaml": f"name: {project}\n",
        f"{project}/dev/stack.yaml": f"name: dev\n{depends_on}",
        f"{project}/dev/main.yaml": ("objects:\n  accessories:\n    manifests:\n"
                                     "      _type: k8s_manifest.K8sManifest\n      paths: [objects.yaml]\n"),
        f"{project}/dev/objects.yaml": manifest,
    }


# A Deployment that fails fast when its image does not run (`nginx:fail` in the simulator).
DB_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: db}
spec:
  progressDeadlineSeconds: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: "nginx:1.25"}]
"""


# shipmate.yaml for tests that need no approvals: writers apply, generation as the example's.
NO_APPROVALS = """\
backend: {branch: shipmate-state}
permissions: {apply: write}
generate: {namespace: extension, terraformOnlyNamespace: false, appMetadata: apply}
"""
