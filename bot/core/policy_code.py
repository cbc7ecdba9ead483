"""Policy as code: Rego policies from the config repository, read with conftest's conventions,
evaluated on each stack's preview.

Files: every `policies/*.rego` of the policy branch (the same trusted branch `shipmate.yaml`
comes from, never a pull request's head). Each file declares a package; every package found
is queried, as `conftest test --all-namespaces` does, for three rules:

- `deny` and `violation`: failures. A failure blocks `/apply` and the apply of a merge for
  that stack unless overridden (`/apply --override-policy <reason>`);
- `warn`: warnings, shown folded in the preview.

A rule may be a set of strings (`deny contains msg if {...}`, or Rego v0's `deny[msg] {...}`),
of objects with a `msg` (conftest's structured results), or a single string or boolean. Each
message is reported with its package.

The input document, one per stack (`policy_input`):

    {"project": "shop", "stack": "prod", "workspace": "prod",
     "resources": [{"id", "type", "attributes", "dependsOn"}],       # the Spec
     "changes":   [{"id", "type", "action", "before", "after"}],     # the preview's change set
     "pull_request": {"number", "author", "base", "head", "title"}}  # null outside a pull request

`before` is the live object (null for a create) and `after` the planned one (null for a
delete), both as the preview saw them, secrets masked. Evaluation itself happens behind the
`PolicyEngine` port (`bot.adapters.rego`); this module only shapes what goes in and reads
what comes out. A file that does not compile fails the stack closed: its error, with file and
line, blocks the apply like a failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.preview.model import ChangeSet
from bot.core.spec import Spec

POLICY_DIR = "policies"
FAILURE_RULES = ("deny", "violation")
WARNING_RULES = ("warn",)
MAX_MESSAGE = 500  # characters of one message in a comment
_PACKAGE = re.compile(r"^\s*package\s+([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*$", re.M)


@dataclass(frozen=True, slots=True)
class PolicyFile:
    """One Rego file of the config repository: its path and text."""

    path: str
    text: str

    @property
    def package(self) -> str | None:
        found = _PACKAGE.search(self.text)
        return found.group(1) if found else None


@dataclass(frozen=True, slots=True)
class Finding:
    """One message of a policy rule, with the package that said it."""

    package: str
    message: str


@dataclass(frozen=True, slots=True)
class PolicyResult:
    """What the policies said of one stack: failures, warnings, or why they could not say."""

    failures: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()
    error: str | None = None  # the policies could not be evaluated (file:line: why)

    @property
    def blocks(self) -> bool:
        """Whether the stack may not be applied without an override."""
        return bool(self.failures) or self.error is not None


class PolicyError(Exception):
    """A policy file that does not compile or a query that fails; `where` is `file:line`."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        self.message = message


def policy_files(listing: Iterable[tuple[str, str]]) -> tuple[PolicyFile, ...]:
    """The `.rego` files directly under `policies/` among (path, text) pairs, by path."""
    return tuple(sorted(
        (PolicyFile(path, text) for path, text in listing
         if path.startswith(f"{POLICY_DIR}/") and path.endswith(".rego") and "/" not in path[len(POLICY_DIR) + 1:]),
        key=lambda f: f.path,
    ))


def queries(files: Sequence[PolicyFile]) -> tuple[str, ...]:
    """The rules to ask for: each package's failure and warning rules."""
    packages = sorted({f.package for f in files if f.package})
    return tuple(f"data.{pkg}.{rule}" for pkg in packages for rule in (*FAILURE_RULES, *WARNING_RULES))


def policy_input(
    spec: Spec, changeset: ChangeSet | None, *, project: str, stack: str, workspace: str,
    pull_request: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The input document for one stack (see the module docstring)."""
    changes = []
    for step in changeset.steps if changeset is not None else ():
        resource = step.to or step.from_
        changes.append({
            "id": step.id,
            "type": resource.type if resource is not None else "",
            "action": str(step.action),
            "before": dict(step.from_.attributes) if step.from_ is not None else None,
            "after": dict(step.to.attributes) if step.to is not None else None,
        })
    return {
        "project": project, "stack": stack, "workspace": workspace,
        "resources": [r.to_dict() for r in spec.resources],
        "changes": changes,
        "pull_request": dict(pull_request) if pull_request is not None else None,
    }


def decide(answers: Mapping[str, Any]) -> PolicyResult:
    """Read the engine's answers (query -> value; a rule no package defines is absent)."""
    failures: list[Finding] = []
    warnings: list[Finding] = []
    for query, value in sorted(answers.items()):
        package, _, rule = query.removeprefix("data.").rpartition(".")
        found = [Finding(package, _clip(m)) for m in _messages(value)]
        (failures if rule in FAILURE_RULES else warnings).extend(found)
    return PolicyResult(tuple(sorted(set(failures), key=_order)), tuple(sorted(set(warnings), key=_order)))


def failed(error: PolicyError) -> PolicyResult:
    """The result of policies that could not be evaluated: the stack is held back."""
    return PolicyResult(error=str(error))


def _messages(value: Any) -> list[str]:
    if value is None or value is False:
        return []
    if value is True:
        return ["(no message)"]
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        if "msg" in value:
            return [str(value["msg"])]
        # Rego v0's `deny[msg] {...}` read as v1: an object of message -> true.
        return [str(k) for k, v in value.items() if v]
    if isinstance(value, list | tuple | set | frozenset):
        out: list[str] = []
        for item in value:
            out.extend(_messages(item) if not isinstance(item, str) else [item])
        return out
    return [str(value)]


def _clip(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def _order(finding: Finding) -> tuple[str, str]:
    return finding.package, finding.message
