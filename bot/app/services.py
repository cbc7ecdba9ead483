"""What the bot's handlers work with: the code host, checkouts, state backends and stack use
cases for one repository, plus the conventions they share (lock owners, status contexts).

`Services` is built once by `bot.wiring` from settings; `Services.access(repo, installation)`
gives the `Access` (code host, checkouts, backends) for a repository, which for a GitHub App
depends on the installation the event came from. `Services.tree(access, repo, sha)` is a
read-only view of the repository at one commit: the trees come from the checkout cache, so
they are never the pull request's branch being written to.

Trust: `shipmate.yaml` decides who may apply, which branch holds the state and which context
keys are secret, so handlers read it from the policy branch (`Services.policy_tree`: the
server's `SHIPMATE_POLICY_BRANCH`, else the default branch), never from a pull request's head
or base. See `bot.app.trust` for why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from bot.app.stacks import LoadedStack, StackOps, secret_literals
from bot.core.config.settings import SETTINGS_FILE, RepoSettings, parse_settings
from bot.core.ports import Checkouts, Clock, CodeHost, ConfigReader, PolicyEngine, StateBackend
from bot.core.reporter import APPLY_STATUS, DRIFT_STATUS, PREVIEW_STATUS, Reporter

log = logging.getLogger("shipmate.bot")

__all__ = ["APPLY_STATUS", "DRIFT_STATUS", "PREVIEW_STATUS", "Access", "Services", "Tree", "secrets_of"]

# A pull request keeps its locks after `/apply` (the default branch is behind the live
# infrastructure until it merges); they end on merge, close or `/unlock`, so the lease is
# long. Operations without a pull request hold theirs only while they run.
PULL_REQUEST_LEASE_SECONDS = 14 * 24 * 3600.0
RUN_LEASE_SECONDS = 900.0


@dataclass(frozen=True)
class Access:
    """The code host, checkout cache and state backends reachable with one set of credentials."""

    host: CodeHost
    checkouts: Checkouts
    backends: Callable[[str, str], StateBackend]  # (owner/repo, state branch) → backend


@dataclass(frozen=True)
class Tree:
    """A repository at one commit, read through a `ConfigReader`."""

    repo: str
    sha: str
    reader: ConfigReader

    def settings(self) -> RepoSettings:
        """`shipmate.yaml` at this commit (defaults when absent; ConfigError when invalid)."""
        return parse_settings(SETTINGS_FILE, self.reader.read(SETTINGS_FILE))


@dataclass(frozen=True)
class Services:
    """Everything the handlers need, built by `bot.wiring` (callers' overrides, such as the
    Action's inputs, are passed when it is built: `bot.wiring.Overrides`)."""

    access_for: Callable[[str, int | None], Access]
    reader: Callable[[str], ConfigReader]  # a checkout directory → its reader
    stack_ops: Callable[[StateBackend], StackOps]
    clock: Clock
    # The reporter telling a code host's pull requests and commits about runs (the GitHub
    # adapter's; the Action adds its outputs and job summary beside it).
    reporter_for: Callable[[CodeHost], Reporter] = field(default=lambda host: Reporter())
    concurrency: int | None = None  # overrides shipmate.yaml's (the Action's `concurrency` input)
    policy_branch: str | None = None  # SHIPMATE_POLICY_BRANCH; None: each repository's default branch
    stack_concurrency: int = 1  # SHIPMATE_STACK_CONCURRENCY: stacks of one event at once
    policy_engine: PolicyEngine | None = None  # evaluates the repositories' Rego policies

    def access(self, repo: str, installation_id: int | None = None) -> Access:
        """The access for `repo` (through the App installation, when given)."""
        return self.access_for(repo, installation_id)

    def reporter(self, access: Access) -> Reporter:
        """The reporter on `access`'s code host."""
        return self.reporter_for(access.host)

    def tree(self, access: Access, repo: str, sha: str) -> Tree:
        return Tree(repo, sha, self.reader(access.checkouts.checkout(repo, sha)))

    def base_tree(self, access: Access, repo: str, branch: str) -> Tree:
        """The current head of `branch` (the trusted side of a pull request)."""
        return self.tree(access, repo, access.host.branch_head(repo, branch))

    def policy_tree(self, access: Access, repo: str) -> Tree:
        """The head of the repository's policy branch, the only place `shipmate.yaml` is
        trusted from (see `bot.app.trust`)."""
        return self.base_tree(access, repo, self.policy_branch or access.host.default_branch(repo))

    def ops(self, access: Access, repo: str, settings: RepoSettings) -> StackOps:
        """The stack use cases on the repository's state branch, with its concurrency."""
        base = self.stack_ops(access.backends(repo, settings.backend.branch))
        return replace(base, concurrency=self.concurrency or settings.concurrency, parallel=self.stack_concurrency)


def secrets_of(loaded: LoadedStack, trusted: RepoSettings) -> frozenset[str]:
    """The stack's secret literals under its own settings and the trusted ones: a pull
    request cannot un-mark a context key as secret to get its value printed."""
    return loaded.secrets | secret_literals(loaded.spec.context, trusted)
