"""A merge whose apply waits in the lock queue, and what it may apply when its turn comes.

When a pull request is merged while another open pull request holds the lock of a stack the
merge changed, the merge's apply does not fail naming the holder: the merge waits, as a whole,
in that lock's line (`bot.core.lockqueue`, an entry with `merge: {commit, stacks}`), so that no
stack of it applies out of order. It gives back the locks it held itself meanwhile (others may
go; holding them while it waits could deadlock two merges), and the merged pull request gets
one comment, kept up to date, saying its place and the holder. `lockQueue.merges: false` in
shipmate.yaml keeps the refusal.

When the holder frees the lock (`bot.app.waiting.hand_over`), the merge's turn comes, and the
decision about what it may apply is this:

- **from the head of the base branch**, not from the merge commit: the head holds this merge
  and whatever merged since (the holder's own merge, typically). Applying the older merge commit
  would take back what the holder applied;
- **only what the pull request's approvers saw**: each stack is previewed there and applied only
  when what it would change (each changed resource with its field differences, before and after:
  `Fingerprint.pending`) is what the merged head's last preview showed. The commit, the rest of
  the Spec and the live state of what the merge does not touch have moved with the holder's
  apply and are not compared. When the holder changed the same fields, the stack is not applied,
  nothing changes, and the comment says so (apply with a new pull request, or `shipmate apply`);
- a stack whose change went live already (a later merge included it) previews no change and is
  recorded as applied with nothing to do;
- every lock the merge needs is taken first; another one held by another pull request sends the
  merge to that lock's line in turn.

The locks it took are freed at the end and handed to the next in their lines.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.app import builder, dashboard_previews
from bot.app.policycheck import check
from bot.app.runner import StackRunner
from bot.app.services import Access, Services
from bot.app.trust import PolicySource, PolicyUnreadable
from bot.app.waiting import Freed, join
from bot.core.lock import Lock, LockedOut
from bot.core.lockqueue import Waiting
from bot.core.ports import Clock, PullRequestInfo, StateBackend
from bot.core.render import queue as queue_text
from bot.core.reporter import Reporter
from bot.core.runplan import Request, RunPlan

log = logging.getLogger("shipmate.bot")


def held_by_other(backend: StateBackend, plan: RunPlan, number: int, now: datetime) -> Lock | None:
    """The first lock (in key order) of a stack of `plan` that another open pull request's
    owner holds; None when the merge may go ahead now."""
    keys = {f"{project}/{workspace}" for project, workspace in plan.keys}
    held = [lock for lock in backend.list_locks() if lock.key in keys and not lock.expired(now)
            and lock.pull_request is not None and lock.pull_request != number]
    return min(held, key=lambda lock: lock.key) if held else None


def wait(access: Access, repo: str, backend: StateBackend, clock: Clock, reporter: Reporter, freed: Freed,
         pr: PullRequestInfo, holder: Lock, actor: str, merge_commit: str, stacks: Sequence[str],
         expiry: timedelta) -> int:
    """Put the merge of `pr` in `holder`'s line (its own locks given back, its `/apply` out of
    every line) and tell the merged pull request; its place."""
    own = backend.release_pull_request_locks(pr.number)
    left = backend.leave_queues(pr.number)
    place = join(backend, clock, holder, pr.number, actor, None, "/apply", expiry,
                 merge_commit=merge_commit, stacks=tuple(stacks))
    log.info("%s: the merge of #%d (%s) waits for %s held by #%s, %d in line", repo, pr.number, merge_commit[:7],
             holder.key, holder.pull_request, place)
    reporter.waiting(Request(repo, pr.number), holder.key, queue_text.merge_waiting(actor, holder, place))
    if own or left:
        freed(access, repo, backend, [*(lock.key for lock in own), *left])
    return place


def take_turn(services: Services, policy_source: PolicySource, access: Access, repo: str, entry: Waiting,
              freed: Freed) -> None:
    """The lock a merge waited for is free: apply its stacks from the base branch's head, as
    the module docstring says, then hand the locks on."""
    host = access.host
    reporter = services.reporter(access)
    pr = host.pull_request(repo, entry.pull_request)
    request = Request(repo, pr.number, actor=entry.actor)
    try:
        policy = policy_source.read(access, repo)
    except PolicyUnreadable as exc:
        reporter.refused(request, "the apply of this merge", f"shipmate.yaml on {exc.branch} is invalid: {exc}")
        return
    settings = policy.settings
    head = host.branch_head(repo, pr.base_ref)
    tree = services.tree(access, repo, head)
    refs = tuple(s for s in builder.select(tree, None).stacks if s.path in entry.stacks)
    gone = sorted(set(entry.stacks) - {s.path for s in refs})
    if gone:
        log.info("%s: the merge of #%d waited for stacks no longer on %s: %s", repo, pr.number, pr.base_ref,
                 ", ".join(gone))
    if not refs:
        return
    plan = builder.waited_merge(pr, tree, refs, entry.actor, policy)
    ops = services.ops(access, repo, settings)
    pins = dashboard_previews.pins(ops.backend, pr.number, pr.head_sha) or {}
    fingerprints = {key: pin.fingerprint for key, pin in pins.items() if pin.fingerprint is not None}
    runner = StackRunner(ops, tree, settings, reporter, pinned=fingerprints, merged_head=pr.head_sha,
                         pin_pending=True, policies=check(services.policy_engine, policy.policies, pr))
    try:
        result = runner.run(plan)
    except LockedOut as exc:
        if exc.holder.pull_request is None or exc.holder.pull_request == pr.number:
            reporter.refused(request, "the apply of this merge", str(exc))
            return
        wait(access, repo, ops.backend, services.clock, reporter, freed, pr, exc.holder, entry.actor,
             entry.merge_commit, entry.stacks, settings.lock_queue.expiry)
        return
    log.info("%s: the merge of #%d applied from %s after waiting: %s", repo, pr.number, head[:7],
             "ok" if result.ok else "not all applied")
    freed(access, repo, ops.backend, [f"{p}/{w}" for p, w in plan.keys])
