"""Pushes to the default branch: apply what the push changed, from the pushed commit.

The stacks to apply are those the files changed between `before` and `after` touch; the
configuration is read from the pushed commit `after` (a merge commit), never from the
pull request's branch, which may have moved or been deleted since. When the push is the
merge of a pull request, the applies run with that pull request's lock owner, so they take
over the locks it kept since its `/apply`, free them when done, and comment the results on
the merged pull request. A push with no pull request (a direct push) applies under its own
owner and is refused on stacks some pull request holds.

Changed files come from comparing the two trees in the checkout cache (each file read
through the `ConfigReader` port); when `before` is unknown (a new branch, a commit that is
gone after a force push) the paths listed in the push payload are used instead.
`apply: on-comment` in `shipmate.yaml` turns this off.
"""

from __future__ import annotations

import logging

from bot.app import summary
from bot.app.applying import apply_stacks, apply_status
from bot.app.locking import pull_request_owner, push_owner
from bot.app.previews import select
from bot.app.pulls import preview_key
from bot.app.services import (
    APPLY_STATUS,
    RUN_LEASE_SECONDS,
    Access,
    Services,
    Tree,
)
from bot.app.stacks import Provenance
from bot.app.trust import PolicySource, PolicyUnreadable
from bot.core import mask
from bot.core.errors import ConfigError, RuntimeFailed, ShipmateError
from bot.core.events import ZERO_SHA, PushEvent
from bot.core.outcome import StackRun
from bot.core.ports import CodeHost, ConfigReader, PullRequestInfo
from bot.core.release import Trigger
from bot.core.render import results, split, statuses

log = logging.getLogger("shipmate.bot")


class Merges:
    """Handles `PushEvent`s to the branches the policy applies (`branches`, default: the
    default branch); the policy is read from the policy branch (`bot.app.trust`), never from
    the pushed commit. Pushes to any other branch apply nothing."""

    def __init__(self, services: Services, policy: PolicySource | None = None) -> None:
        self.services = services
        self.policy = policy or PolicySource(services)

    def handle(self, event: PushEvent) -> None:
        if event.branch is None or event.deleted or event.after == ZERO_SHA:
            return
        access = self.services.access(event.repo, event.installation_id)
        host, repo = access.host, event.repo
        try:
            policy = self.policy.read(access, repo)
        except PolicyUnreadable as exc:
            if event.branch != event.default_branch:
                return
            pr = host.merged_pull_request_for(repo, event.after)
            link = tell(host, repo, event.after, pr,
                        results.invalid_policy_apply(merged=pr is not None, branch=exc.branch, error=str(exc)))
            summary.status(host, repo, event.after, APPLY_STATUS, "error", statuses.invalid_policy(str(exc)),
                           target_url=link)
            return
        if not policy.applies_to(event.branch):
            log.info("%s: push to %s applies nothing (branches: %s)", repo, event.branch,
                     ", ".join(policy.apply_branches))
            return
        trusted = policy.settings
        tree = self.services.tree(access, repo, event.after)
        pr = host.merged_pull_request_for(repo, event.after)
        if not trusted.apply_on_merge:
            log.info("%s@%s: apply on merge is off (apply: %s)", repo, event.after[:7], trusted.apply)
            return
        changed = self.changed_paths(access, event, tree)
        selection = select(tree, changed)
        ops = self.services.ops(access, repo, trusted, lease_seconds=RUN_LEASE_SECONDS)
        runs: list[StackRun] = []
        secrets: set[str] = set()
        if selection.error is not None:
            runs = [StackRun.refused("(repository)", "*", "", selection.error)]
        owner = pull_request_owner(repo, pr.number) if pr is not None else push_owner(repo, event.after)
        held = [lock for lock in ops.backend.list_locks() if lock.owner == owner] if pr is not None else []
        if selection.error is None:
            actor = event.sender or event.pusher
            provenance = Provenance(Trigger.PUSH, actor, event.after, pr.number if pr is not None else None)
            runs, secrets = apply_stacks(ops, tree, selection.stacks, trusted, provenance, owner, keep_lock=False)
        self.services.report("runs", runs)
        freed = [*held, *(ops.backend.release_pull_request_locks(pr.number) if pr is not None else ())]
        lits = mask.Literals.of(secrets)
        for run in runs:
            if not run.ok:
                log.warning("%s@%s: apply on push of %s failed: %s", repo, event.after[:7], run.name,
                            mask.mask_text(run.error or "", lits))
        if not (runs or (pr is not None and freed)):
            return
        footer = []
        if freed:
            unique = list({lock.key: lock for lock in freed}.values())
            footer = ["The locks this pull request held are released:", "", *results.lock_lines(unique)]
        body = results.operation_comment(
            runs, title="Shipmate apply on merge" if pr is not None else "Shipmate apply on push",
            lead=results.merge_lead(event.after, merged=pr is not None, branch=event.branch or event.ref),
            secrets=secrets, state_branch=trusted.backend.branch, footer=footer,
        )
        link = tell(host, repo, event.after, pr, body)
        if runs:
            state, description = apply_status(runs, "applied")
            if state == "failure":
                description = statuses.apply_failure(runs, lits)
            summary.status(host, repo, event.after, APPLY_STATUS, state, description, target_url=link)

    def changed_paths(self, access: Access, event: PushEvent, after: Tree) -> tuple[str, ...]:
        if event.created or event.before == ZERO_SHA:
            return event.changed_paths
        try:
            before = self.services.tree(access, event.repo, event.before)
        except RuntimeFailed as exc:
            log.warning("%s: cannot read %s (%s); using the paths the push lists",
                        event.repo, event.before[:7], exc)
            return event.changed_paths
        return diff_trees(before.reader, after.reader)


def tell(host: CodeHost, repo: str, sha: str, pr: PullRequestInfo | None, body: str) -> str:
    """Post the outcome on the merged pull request, or as a comment on the pushed commit when
    no pull request was merged; returns the web URL of (the first part of) that comment, ""
    when it could not be posted (logged: the outcome is still in the Release and the log)."""
    try:
        if pr is not None:
            ids = summary.post(host, repo, pr.number, "merge", preview_key(pr.number), body)
            return f"{pr.html_url}#issuecomment-{ids[0]}" if ids and pr.html_url else ""
        marker = split.make_marker("merge", {"key": f"push-{sha[:12]}"})
        urls = [host.create_commit_comment(repo, sha, part)
                for part in split.split_markdown(f"{marker.line()}\n{body}")]
        return urls[0] if urls else ""
    except ShipmateError as exc:
        where = f"#{pr.number}" if pr is not None else f"commit {sha[:7]}"
        log.warning("%s: could not post the apply outcome on %s: %s", repo, where, exc)
        return ""


def diff_trees(a: ConfigReader, b: ConfigReader) -> tuple[str, ...]:
    """Paths whose content differs between two trees (added, removed or changed), sorted."""
    files_a = set(a.list_files("", recursive=True))
    files_b = set(b.list_files("", recursive=True))
    changed = (files_a ^ files_b) | {f for f in files_a & files_b if _differs(a, b, f)}
    return tuple(sorted(changed))


def _differs(a: ConfigReader, b: ConfigReader, path: str) -> bool:
    try:
        return a.read(path) != b.read(path)
    except ConfigError:  # not UTF-8 text, or too large to be config: count it as changed
        return True
