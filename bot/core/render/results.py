"""The Markdown of the bot's result comments: applies, destroys, merges, locks and refusals.

Pure functions of their inputs (golden files in `fixtures/golden/bot/`). Every text that can
carry a value from the config or a runtime (errors, failure messages) goes through
`bot.core.mask.mask_text` with the stack's secret literals first; resource IDs and names are
not secret.

    ## Shipmate apply
    @alice asked to apply commit `1a2b3c4`: ✅ 2 succeeded.
    | Stack | Workspace | Result | Release | Changes |
    <details> per stack with its changed resources, then one section per failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.core import mask
from bot.core.lock import Lock
from bot.core.outcome import StackOutcome
from bot.core.render.comment import action_cell, code, fenced


def result_cell(run: StackOutcome) -> str:
    """`✅ succeeded`, `❌ failed` or `⛔ not run`."""
    if run.ok:
        return "✅ succeeded"
    return "❌ failed" if run.ran else "⛔ not run"


def tally(runs: Sequence[StackOutcome]) -> str:
    """`✅ 2 succeeded, ❌ 1 failed, ⛔ 1 not run`."""
    ok = sum(1 for r in runs if r.ok)
    failed = sum(1 for r in runs if not r.ok and r.ran)
    skipped = sum(1 for r in runs if not r.ok and not r.ran)
    parts = [f"✅ {ok} succeeded"] if ok or not runs else []
    if failed:
        parts.append(f"❌ {failed} failed")
    if skipped:
        parts.append(f"⛔ {skipped} not run")
    return ", ".join(parts)


def operation_comment(
    runs: Sequence[StackOutcome],
    *,
    title: str,
    lead: str,
    secrets: Iterable[str] = (),
    state_branch: str = "",
    footer: Sequence[str] = (),
) -> str:
    """An apply/destroy result: `lead` (who did what), a table, changes, failures, footer."""
    lits = mask.Literals.of(secrets)
    out = [f"## {title}", "", f"{lead}: {tally(runs)}." if runs else f"{lead}: no stacks to run.", ""]
    if runs:
        out.extend(["| Stack | Workspace | Result | Release | Changes |", "|---|---|---|---|---|"])
        for run in runs:
            release = f"r{run.revision}" if run.revision is not None else "—"
            changes = run.counts.summary() if run.counts is not None else "—"
            out.append(
                f"| {code(run.project)} / {code(run.stack)} | {code(run.workspace)} | "
                f"{result_cell(run)} | {release} | {changes} |"
            )
        out.append("")
    for run in runs:
        if not run.changes:
            continue
        n = len(run.changes)
        out.extend([f"<details><summary>{run.name}: {n} change{'s' if n != 1 else ''}</summary>", ""])
        out.extend(["| Resource | Action |", "|---|---|"])
        out.extend(f"| {code(rid)} | {action_cell(action)} |" for rid, action in run.changes)
        out.extend(["", "</details>", ""])
    for run in runs:
        if run.ok:
            continue
        out.extend([f"### {'❌' if run.ran else '⛔'} {code(run.project)} / {code(run.stack)}", ""])
        if run.error:
            out.extend(fenced(mask.mask_text(run.error, lits)))
            out.append("")
        if run.problems and not (run.error and all(rid in run.error for rid, _ in run.problems)):
            out.extend(["| Resource | Problem |", "|---|---|"])
            for rid, message in run.problems:
                first = mask.mask_text(message, lits).strip().split("\n", 1)[0]
                out.append(f"| {code(rid)} | {code(first[:300])} |")
            out.append("")
    recorded = [r for r in runs if r.ran]
    if recorded and state_branch:
        revisions = ", ".join(f"{r.project}/{r.workspace} r{r.revision}" for r in recorded)
        out.extend([f"Releases recorded on the state branch {code(state_branch)}: {revisions}.", ""])
    out.extend(footer)
    return "\n".join(out).rstrip("\n") + "\n"


def action_summary(command: str, repo: str, previews: Sequence[str], runs: Sequence[StackOutcome],
                   drift: str | None) -> str:
    """The Action's job summary: the preview bodies, a result row per stack run, the drift line."""
    parts = [f"## Shipmate {command} on {repo}", "", *previews]
    if runs:
        parts.extend(["| stack | workspace | result | release |", "|---|---|---|---|"])
        for r in runs:
            parts.append(f"| `{r.name}` | `{r.workspace}` | {result_cell(r)} | {f'r{r.revision}' if r.ran else '-'} |")
    if drift is not None:
        parts.append(drift)
    if len(parts) == 2:
        parts.append("Nothing to do for this event.")
    return "\n".join(parts) + "\n"


def lock_lines(locks: Sequence[Lock]) -> list[str]:
    """Bullet lines naming each lock and who held it."""
    return [f"- {code(lock.key)} (held by {code(lock.owner)})" for lock in sorted(locks, key=lambda x: x.key)]


def locked_notice(locks: Sequence[Lock]) -> list[str]:
    """For a preview: stacks another pull request (or run) holds, so /apply would wait in line
    (or be refused)."""
    out = []
    for lock in sorted(locks, key=lambda x: x.key):
        if lock.pull_request is not None:
            out.append(
                f"> 🔒 {code(lock.key)} is locked by pull request #{lock.pull_request}: `/apply` here "
                "waits in line until it is merged or closed, or someone comments `/unlock` on it "
                "(`/apply --no-wait` is refused instead)."
            )
        else:
            out.append(
                f"> 🔒 {code(lock.key)} is locked by {code(lock.owner)} while it applies: `/apply` "
                "here is refused until it has finished."
            )
        out.append("")
    return out


def unlocked_comment(locks: Sequence[Lock], reason: str) -> str:
    if not locks:
        return f"## Shipmate locks\n\n{reason}: this pull request held no locks.\n"
    return "\n".join(["## Shipmate locks", "", f"{reason}; released:", "", *lock_lines(locks)]) + "\n"


def refusal(reason: str, actor: str, command: str) -> str:
    """The answer to a command that may not run."""
    return f"**`{command}` was not run** (requested by @{actor}): {reason}\n"


def apply_lead(author: str, sha: str) -> str:
    """The first line of an `/apply` result: who asked, for which commit."""
    return f"@{author} asked to apply commit `{sha[:7]}`"


def destroy_lead(author: str, project: str, stack: str) -> str:
    """The first line of a `/destroy` result: who asked, for which stack."""
    return f"@{author} asked to destroy `{project}/{stack}`"


def merge_lead(sha: str, *, merged: bool, branch: str) -> str:
    """The first line of an apply on merge (or on a push to `branch`): the commit applied from."""
    where = f"Merged as `{sha[:7]}`" if merged else f"Pushed to {code(branch)} as `{sha[:7]}`"
    return f"{where}; applied from that commit"


def invalid_policy_apply(*, merged: bool, branch: str, error: str) -> str:
    """The apply-on-merge (or push) comment when shipmate.yaml on the policy branch is invalid."""
    return (f"## Shipmate apply on {'merge' if merged else 'push'}\n\nNothing was applied: "
            f"shipmate.yaml on {code(branch)} is invalid.\n\n" + "\n".join(fenced(error)) + "\n")


FORK_NOTICE = (
    "## Shipmate preview\n\n"
    "This pull request comes from a fork, so Shipmate does not check it out, preview or apply "
    "it: generating a preview runs code (Terraform providers, modules) with the credentials of "
    "this repository. Push the branch to this repository to get a preview.\n"
)
