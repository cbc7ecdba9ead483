"""Where the bot's policy comes from, and which branches it lets apply.

`shipmate.yaml` decides who may apply or destroy, which requirements hold, which branch keeps
the state and which context keys are secret. The bot reads it from ONE trusted branch: the
server's `SHIPMATE_POLICY_BRANCH` when set (a protected branch), else the repository's
default branch. Never from a pull request's head (what the pull request proposes) and never
from its base: anyone who can push a branch can open a pull request into a branch they made,
with a `shipmate.yaml` of their choosing, so the base would let the author pick the policy.

The policy's `branches` (default: the default branch) names the bases whose pull requests may
`/apply` or `/destroy` and the branches whose pushes apply on merge. A pull request into any
other base is previewed at most, and its preview says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.app.policycheck import read_policies
from bot.app.services import Access, Services
from bot.core.config.settings import RepoSettings
from bot.core.errors import ConfigError
from bot.core.policy_code import PolicyFile


class PolicyUnreadable(ConfigError):
    """`shipmate.yaml` on the policy branch is invalid: nothing can be authorised. Its
    problems are the file's; `branch` names the policy branch."""

    def __init__(self, branch: str, error: ConfigError) -> None:
        super().__init__(error.problems)
        self.branch = branch


@dataclass(frozen=True, slots=True)
class Policy:
    """The repository's trusted settings, the branch they were read from, its default branch."""

    settings: RepoSettings
    branch: str
    default_branch: str
    policies: tuple[PolicyFile, ...] = ()  # policies/*.rego of the policy branch (policy as code)

    def applies_to(self, branch: str) -> bool:
        """Whether pull requests into `branch`, and pushes to it, may apply."""
        return self.settings.applies_to(branch, self.default_branch)

    @property
    def apply_branches(self) -> tuple[str, ...]:
        """The branch names and globs that apply."""
        return self.settings.apply_branches(self.default_branch)


class PolicySource:
    """Reads a repository's `Policy` from its policy branch."""

    def __init__(self, services: Services, branch: str | None = None) -> None:
        self.services = services
        self.branch = branch or services.policy_branch  # None: each repository's default branch

    def read(self, access: Access, repo: str) -> Policy:
        """The policy at the head of the policy branch; PolicyUnreadable when it is invalid."""
        default = access.host.default_branch(repo)
        branch = self.branch or default
        tree = self.services.base_tree(access, repo, branch)
        try:
            settings = tree.settings()
        except ConfigError as exc:
            raise PolicyUnreadable(branch, exc) from None
        return Policy(settings, branch, default, read_policies(tree.reader))
