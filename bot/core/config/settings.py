"""`shipmate.yaml`: optional repository settings, parsed strictly into a frozen `RepoSettings`.

```yaml
backend: {branch: shipmate-state}          # the state branch
apply: both                                # both | on-merge | on-comment
branches: [main, release/*]                # bases that apply (default: the default branch)
requirements: {apply: [approved, mergeable]}
permissions: {apply: write, destroy: maintain, approve: write}   # admin > maintain > write > triage > read
#   overridePolicy: maintain               # `/apply --override-policy REASON` past failing policies
#   projects: {shop: {apply: maintain}}    # per project and per workspace: can only raise a level
#   workspaces: {prod: {apply: maintain, approve: maintain}}
drift: {schedule: "0 6 * * *", issues: true, pullRequests: true}  # cron, or null for no drift checks;
                                           # issues: one per drifted stack; pullRequests: one writing
                                           # the live values that map back into the config
concurrency: 10
draftPreviews: false
secrets: {contextKeys: [KUBECONFIG_CONTENT]}
generate:                                  # how Specs are generated; the defaults are Kusion's
  namespace: kusion                        # kusion | extension
  terraformOnlyNamespace: true
  appMetadata: ignore                      # ignore | apply
lockQueue: {merges: true, expiry: 24h}     # a merge's apply waits in a locked stack's line too;
                                           # how long an entry waits before it is dropped
```

Every key is optional; unknown keys are errors. Workspace `context` keys named in
`secrets.contextKeys`, or matching one of `SECRET_KEY_PATTERNS`, hold secret values that are
never shown.

The bot reads this file from the repository's default branch (or the server's
`SHIPMATE_POLICY_BRANCH`), never from a pull request's base or head. `branches` names the
branches (exact names, or `*` globs such as `release/*`) whose pull requests `/apply` and
`/destroy` may run on and whose pushes apply on merge; pull requests into any other branch
are previewed only. `permissions.approve` is the least permission a reviewer needs for an
approval to satisfy `requirements.apply: [approved]`.

`generate` chooses between Kusion's generation and a deliberate difference, so that a stack
migrated from Kusion previews no changes until its owners opt in (bot/core/generate.py):
`namespace: kusion` keeps the catalog modules' resources (Deployments, Jobs, Services,
Ingresses, ConfigMaps) in the project-named namespace while the Namespace and the Secrets follow
a `kubernetesNamespace` extension, as Kusion's catalog does; `extension` puts them all in the
extension's namespace. `terraformOnlyNamespace: false` generates no Namespace for an app with no
Kubernetes resources (Kusion always does). `appMetadata: apply` puts an AppConfiguration's
`labels`/`annotations` on its modules' Kubernetes resources (Kusion ignores them).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from datetime import timedelta

from bot.core import policy
from bot.core import schedule as cron
from bot.core.config.checks import Checker
from bot.core.yamlio import load

SETTINGS_FILE = "shipmate.yaml"
APPLY_MODES = ("both", "on-merge", "on-comment")
PERMISSION_LEVELS = ("admin", "maintain", "write", "triage", "read")
NAMESPACE_MODES = ("kusion", "extension")
APP_METADATA_MODES = ("ignore", "apply")
SECRET_KEY_PATTERNS = ("*TOKEN*", "*SECRET*", "*PASSWORD*", "*CREDENTIAL*", "*_KEY")


@dataclass(frozen=True, slots=True)
class BackendSettings:
    branch: str = "shipmate-state"


@dataclass(frozen=True, slots=True)
class RequirementSettings:
    apply: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PermissionSettings:
    apply: str = "write"
    destroy: str = "maintain"
    approve: str = "write"
    override_policy: str = "maintain"  # `/apply --override-policy`: applying what the policies fail
    projects: tuple[tuple[str, policy.Levels], ...] = ()  # (project, the levels it sets)
    workspaces: tuple[tuple[str, policy.Levels], ...] = ()  # (workspace, the levels it sets)


@dataclass(frozen=True, slots=True)
class DriftSettings:
    schedule: str | None = None
    issues: bool = True  # a drifted stack gets an issue on the config repository
    pull_requests: bool = True  # ... and a pull request adopting what maps back (needs issues)


@dataclass(frozen=True, slots=True)
class SecretSettings:
    context_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GenerateSettings:
    """How Specs are generated: Kusion's way by default (see the module docstring)."""

    namespace: str = "kusion"
    terraform_only_namespace: bool = True
    app_metadata: str = "ignore"


@dataclass(frozen=True, slots=True)
class RolloutSettings:
    """How an apply of many stacks goes: `batch_size` stacks at a time (0: all at once), a
    pause between batches, and whether a failed batch stops the rest (`bot.core.rollout`)."""

    batch_size: int = 0
    pause_seconds: int = 0
    stop_on_failure: bool = True


@dataclass(frozen=True, slots=True)
class LockQueueSettings:
    """The lock queue (`bot.core.lockqueue`): whether a merge's apply waits in line too, and
    how long an entry waits (seconds) before it is dropped."""

    merges: bool = True
    expiry_seconds: int = 24 * 3600

    @property
    def expiry(self) -> timedelta:
        return timedelta(seconds=self.expiry_seconds)


@dataclass(frozen=True, slots=True)
class RepoSettings:
    """The repository's Shipmate settings with defaults for everything not written."""

    backend: BackendSettings = field(default_factory=BackendSettings)
    apply: str = "both"
    branches: tuple[str, ...] | None = None  # None: the repository's default branch
    requirements: RequirementSettings = field(default_factory=RequirementSettings)
    permissions: PermissionSettings = field(default_factory=PermissionSettings)
    drift: DriftSettings = field(default_factory=DriftSettings)
    concurrency: int = 10
    draft_previews: bool = False
    secrets: SecretSettings = field(default_factory=SecretSettings)
    generate: GenerateSettings = field(default_factory=GenerateSettings)
    rollout: RolloutSettings = field(default_factory=RolloutSettings)
    lock_queue: LockQueueSettings = field(default_factory=lambda: LockQueueSettings())

    @property
    def apply_on_merge(self) -> bool:
        return self.apply in ("both", "on-merge")

    @property
    def apply_on_comment(self) -> bool:
        return self.apply in ("both", "on-comment")

    def apply_branches(self, default_branch: str) -> tuple[str, ...]:
        """The branch names or globs that apply: `branches`, else the default branch."""
        return self.branches if self.branches is not None else (default_branch,)

    def applies_to(self, branch: str, default_branch: str) -> bool:
        """Whether pull requests into (and pushes to) `branch` may apply."""
        return any(fnmatch.fnmatchcase(branch, p) for p in self.apply_branches(default_branch))

    def is_secret_context_key(self, key: str) -> bool:
        """True when a workspace context value under `key` must never be shown."""
        if key in self.secrets.context_keys:
            return True
        upper = key.upper()
        return any(fnmatch.fnmatchcase(upper, pattern) for pattern in SECRET_KEY_PATTERNS)

    def rules(self) -> policy.Rules:
        """The apply/destroy policy these settings describe."""
        return policy.Rules(
            apply_permission=self.permissions.apply,
            destroy_permission=self.permissions.destroy,
            requirements=self.requirements.apply,
            approve_permission=self.permissions.approve,
            projects=self.permissions.projects,
            workspaces=self.permissions.workspaces,
        )


def parse_settings(file: str, text: str | None) -> RepoSettings:
    """Parse `shipmate.yaml` text (None or empty → defaults); ConfigError lists every problem."""
    if text is None:
        return RepoSettings()
    doc = load(file, text)
    c = Checker(type_paths=False)
    data = c.mapping(doc.data, ())
    c.fields(
        data,
        (),
        ("backend", "apply", "branches", "requirements", "permissions", "drift", "concurrency",
         "draftPreviews", "secrets", "generate", "rollout", "lockQueue"),
    )

    backend = c.mapping(data.get("backend"), ("backend",))
    c.fields(backend, ("backend",), ("branch",))
    branch = c.get(backend, "branch", ("backend",), "string", "shipmate-state")
    if isinstance(branch, str) and not _valid_branch(branch):
        c.add(("backend", "branch"), f"expected a git branch name, got {branch!r}")

    apply = c.get(data, "apply", (), "string", "both")
    if "apply" in data and isinstance(apply, str) and not c.one_of(apply, ("apply",), APPLY_MODES):
        apply = "both"

    branches: list[str] | None = c.get(data, "branches", (), "string-list", None)
    for i, pattern in enumerate(branches or []):
        if isinstance(pattern, str) and not _valid_branch(pattern.replace("*", "x")):
            c.add(("branches", i), f"expected a branch name or a `*` glob such as release/*, got {pattern!r}")
    if branches is not None and len(set(branches)) != len(branches):
        c.add(("branches",), "expected each branch at most once")

    req = c.mapping(data.get("requirements"), ("requirements",))
    c.fields(req, ("requirements",), ("apply",))
    req_apply = c.get(req, "apply", ("requirements",), "string-list", [])
    for i, item in enumerate(req_apply):
        c.one_of(item, ("requirements", "apply", i), policy.REQUIREMENTS)
    if len(set(req_apply)) != len(req_apply):
        c.add(("requirements", "apply"), "expected each requirement at most once")

    perms = c.mapping(data.get("permissions"), ("permissions",))
    c.fields(perms, ("permissions",), ("apply", "destroy", "approve", "overridePolicy", "projects", "workspaces"))
    perm_apply = c.get(perms, "apply", ("permissions",), "string", "write")
    perm_destroy = c.get(perms, "destroy", ("permissions",), "string", "maintain")
    perm_approve = c.get(perms, "approve", ("permissions",), "string", "write")
    perm_override = c.get(perms, "overridePolicy", ("permissions",), "string", "maintain")
    for key, value in (("apply", perm_apply), ("destroy", perm_destroy), ("approve", perm_approve),
                       ("overridePolicy", perm_override)):
        if key in perms and isinstance(value, str):
            c.one_of(value, ("permissions", key), PERMISSION_LEVELS)
    per_project = _scoped_levels(c, perms, "projects")
    per_workspace = _scoped_levels(c, perms, "workspaces")

    drift = c.mapping(data.get("drift"), ("drift",))
    c.fields(drift, ("drift",), ("schedule", "issues", "pullRequests"))
    schedule = c.get(drift, "schedule", ("drift",), "string", None)
    drift_issues = c.get(drift, "issues", ("drift",), "boolean", True)
    drift_pulls = c.get(drift, "pullRequests", ("drift",), "boolean", True)
    why = cron.problem(schedule) if isinstance(schedule, str) else None
    if why is not None:
        fields_wrong = why.startswith("expected 5 cron fields")
        c.add(("drift", "schedule"), f"expected a cron expression with 5 fields (or null), got {schedule!r}"
              + ("" if fields_wrong else f": {why}"))

    concurrency = c.get(data, "concurrency", (), "integer", 10)
    if isinstance(concurrency, int) and not 1 <= concurrency <= 100:
        c.add(("concurrency",), f"expected an integer from 1 to 100, got {concurrency}")

    draft = c.get(data, "draftPreviews", (), "boolean", False)

    secrets = c.mapping(data.get("secrets"), ("secrets",))
    c.fields(secrets, ("secrets",), ("contextKeys",))
    keys = c.get(secrets, "contextKeys", ("secrets",), "string-list", [])

    gen = c.mapping(data.get("generate"), ("generate",))
    c.fields(gen, ("generate",), ("namespace", "terraformOnlyNamespace", "appMetadata"))
    namespace = c.get(gen, "namespace", ("generate",), "string", "kusion")
    if "namespace" in gen and isinstance(namespace, str):
        c.one_of(namespace, ("generate", "namespace"), NAMESPACE_MODES)
    tf_namespace = c.get(gen, "terraformOnlyNamespace", ("generate",), "boolean", True)
    app_metadata = c.get(gen, "appMetadata", ("generate",), "string", "ignore")
    if "appMetadata" in gen and isinstance(app_metadata, str):
        c.one_of(app_metadata, ("generate", "appMetadata"), APP_METADATA_MODES)

    rollout = c.mapping(data.get("rollout"), ("rollout",))
    c.fields(rollout, ("rollout",), ("batchSize", "pause", "stopOnFailure"))
    batch_size = c.get(rollout, "batchSize", ("rollout",), "integer", 0)
    if isinstance(batch_size, int) and not 1 <= batch_size <= 100 and "batchSize" in rollout:
        c.add(("rollout", "batchSize"), f"expected an integer from 1 to 100, got {batch_size}")
    pause_text = c.get(rollout, "pause", ("rollout",), "string", "0s")
    pause = _seconds(pause_text) if isinstance(pause_text, str) else None
    if pause is None or pause > MAX_ROLLOUT_PAUSE:
        c.add(("rollout", "pause"), f"expected a duration such as 30s or 2m, at most 10m, got {pause_text!r}")
    stop = c.get(rollout, "stopOnFailure", ("rollout",), "boolean", True)

    line = c.mapping(data.get("lockQueue"), ("lockQueue",))
    c.fields(line, ("lockQueue",), ("merges", "expiry"))
    queue_merges = c.get(line, "merges", ("lockQueue",), "boolean", True)
    expiry_text = c.get(line, "expiry", ("lockQueue",), "string", "24h")
    expiry = _seconds(expiry_text) if isinstance(expiry_text, str) else None
    if expiry is None or not MIN_QUEUE_EXPIRY <= expiry <= MAX_QUEUE_EXPIRY:
        c.add(("lockQueue", "expiry"), f"expected a duration from 1m to 168h such as 30m or 24h, got {expiry_text!r}")

    c.raise_for(doc)
    return RepoSettings(
        backend=BackendSettings(branch=branch),
        apply=apply,
        branches=tuple(branches) if branches is not None else None,
        requirements=RequirementSettings(apply=tuple(req_apply)),
        permissions=PermissionSettings(apply=perm_apply, destroy=perm_destroy, approve=perm_approve,
                                       override_policy=perm_override, projects=per_project,
                                       workspaces=per_workspace),
        drift=DriftSettings(schedule=schedule, issues=drift_issues, pull_requests=drift_pulls),
        concurrency=concurrency,
        draft_previews=draft,
        secrets=SecretSettings(context_keys=tuple(keys)),
        generate=GenerateSettings(namespace, tf_namespace, app_metadata),
        rollout=RolloutSettings(batch_size, pause or 0, stop),
        lock_queue=LockQueueSettings(queue_merges, expiry or DEFAULT_QUEUE_EXPIRY),
    )


MAX_ROLLOUT_PAUSE = 600  # seconds: a pause holds the apply (and its locks) that long
MIN_QUEUE_EXPIRY, DEFAULT_QUEUE_EXPIRY, MAX_QUEUE_EXPIRY = 60, 24 * 3600, 168 * 3600  # seconds


def _seconds(text: str) -> int | None:
    """`30s`, `2m`, `24h` or `45` (seconds) as seconds; None when it is none of them."""
    match = re.fullmatch(r"(\d{1,6})([smh]?)", text.strip())
    if match is None:
        return None
    return int(match.group(1)) * {"m": 60, "h": 3600}.get(match.group(2), 1)


def _scoped_levels(c: Checker, perms: dict[str, object], scope: str) -> tuple[tuple[str, policy.Levels], ...]:
    """`permissions.projects` or `.workspaces`: each name's apply/destroy/approve levels."""
    where = ("permissions", scope)
    scoped = c.mapping(perms.get(scope), where)
    out: list[tuple[str, policy.Levels]] = []
    for name in sorted(scoped):
        at = (*where, name)
        levels = c.mapping(scoped[name], at)
        c.fields(levels, at, ("apply", "destroy", "approve"))
        if not levels:
            c.add(at, "expected at least one of apply, destroy, approve")
        got: dict[str, str | None] = {}
        for key in ("apply", "destroy", "approve"):
            value = c.get(levels, key, at, "string", None)
            ok = isinstance(value, str) and c.one_of(value, (*at, key), PERMISSION_LEVELS)
            got[key] = value if ok else None
        out.append((str(name), policy.Levels(got["apply"], got["destroy"], got["approve"])))
    return tuple(out)


def _valid_branch(name: str) -> bool:
    return bool(name) and not (
        name.startswith(("-", "/")) or name.endswith(("/", ".lock", "."))
        or ".." in name or any(ch in name for ch in " ~^:?*[\\") or "@{" in name
    )
