"""The repository's Rego policies on one run's stacks (policy as code, `bot.core.policy_code`):
the files read from the policy branch, the engine that evaluates them, and what the pull
request says of itself.

`PolicyCheck.evaluate` answers for one stack's preview: failures, warnings, or, when the
policies cannot be evaluated (a file that does not compile), a result that holds the stack
back. A preview shows the result; an apply is declined before anything changes while it
blocks (`bot.app.runner`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.app.stacks import LoadedStack
from bot.core import policy_code
from bot.core.policy_code import PolicyError, PolicyFile, PolicyResult
from bot.core.ports import ConfigReader, PolicyEngine, PullRequestInfo
from bot.core.preview.model import ChangeSet


@dataclass(frozen=True)
class PolicyCheck:
    """Policies of one repository, to evaluate on the stacks of one run."""

    files: tuple[PolicyFile, ...]
    engine: PolicyEngine
    pull_request: Mapping[str, Any] | None = None

    def evaluate(self, loaded: LoadedStack, changeset: ChangeSet | None) -> PolicyResult:
        ident = loaded.identity
        document = policy_code.policy_input(
            loaded.spec, changeset, project=ident.project, stack=ident.stack, workspace=ident.workspace,
            pull_request=self.pull_request,
        )
        try:
            answers = self.engine.evaluate(self.files, policy_code.queries(self.files), document)
        except PolicyError as exc:
            return policy_code.failed(exc)
        return policy_code.decide(answers)


def read_policies(reader: ConfigReader) -> tuple[PolicyFile, ...]:
    """`policies/*.rego` of a tree (the policy branch's)."""
    listing = []
    for path in reader.list_files(policy_code.POLICY_DIR):
        if path.endswith(".rego"):
            text = reader.read(path)
            if text is not None:
                listing.append((path, text))
    return policy_code.policy_files(listing)


def pull_request_facts(pr: PullRequestInfo | None) -> dict[str, Any] | None:
    """What a policy may know of the pull request (`input.pull_request`)."""
    if pr is None:
        return None
    return {"number": pr.number, "author": pr.author, "title": pr.title, "base": pr.base_ref,
            "head": pr.head_ref, "head_sha": pr.head_sha, "draft": pr.draft}


def check(engine: PolicyEngine | None, files: tuple[PolicyFile, ...], pr: PullRequestInfo | None) -> PolicyCheck | None:
    """The check for a run, or None when the repository has no policies (or no engine)."""
    if engine is None or not files:
        return None
    return PolicyCheck(files, engine, pull_request_facts(pr))
