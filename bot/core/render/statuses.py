"""Commit status descriptions: one line of at most GitHub's 140 characters saying how a
preview, an apply on merge or a drift check went, and the short reasons they quote.

    3 stacks: 2 to create, 1 to update, 0 to delete, 4 unchanged
    1 of 2 stacks failed: shop/prod: Error: creating ...
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.core import mask
from bot.core.outcome import StackOutcome
from bot.core.preview.model import Counts

DESCRIPTION_LIMIT = 140

# Terraform's source excerpt under a diagnostic ("with null_resource.x,", "on main.tf.json
# line 17, in ...:", "17: }"): where, not why; left out of the short reason.
_SOURCE_LINE = re.compile(r"^(with \S.*,|on \S+ line \d+.*|\d+:.*)$")


def _stacks(n: int) -> str:
    return f"{n} stack{'s' if n != 1 else ''}"


def short_reason(text: str, limit: int) -> str:
    """A failure message on one line of at most `limit` characters: blank lines and Terraform's
    source excerpts dropped, and when still too long its end (where the innermost cause is)."""
    flat = " ".join(ln for ln in (raw.strip() for raw in text.splitlines()) if ln and not _SOURCE_LINE.match(ln))
    return flat if len(flat) <= limit else "…" + flat[len(flat) - limit + 1:]


def invalid_policy(error: str) -> str:
    """The `shipmate/apply` description when shipmate.yaml cannot be read."""
    lead = "shipmate.yaml is invalid: "
    return lead + short_reason(error, DESCRIPTION_LIMIT - len(lead))


def apply_failure(runs: Sequence[StackOutcome], secrets: mask.Literals) -> str:
    """The `shipmate/apply` failure description: how many stacks failed, the first one and
    why (masked), within GitHub's 140 characters."""
    bad = [r for r in runs if not r.ok]
    first = bad[0]
    causes = [msg for _, msg in first.failed]
    reason = mask.mask_text(causes[0] if causes else first.error or "failed", secrets)
    more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
    prefix = f"{len(bad)} of {_stacks(len(runs))} failed: {first.name}{more}: "
    short = short_reason(reason, max(20, DESCRIPTION_LIMIT - len(prefix)))
    return prefix + mask.mask_text(short, secrets)


def apply_result(runs: Sequence[StackOutcome]) -> tuple[str, str]:
    """(state, description) of the `shipmate/apply` status for these runs."""
    n = len(runs)
    bad = [r for r in runs if not r.ok]
    if bad:
        names = ", ".join(r.name for r in bad)
        return "failure", f"{len(bad)} of {_stacks(n)} failed: {names}"
    if n:
        revisions = ", ".join(f"{r.name} r{r.revision}" for r in runs)
        return "success", f"{_stacks(n)} applied: {revisions}"
    return "success", "no stacks to apply"


def preview(stacks: int, failed: int, counts: Counts) -> tuple[str, str]:
    """(state, description) of the `shipmate/preview` status."""
    if failed:
        return "failure", f"{failed} of {_stacks(stacks)} failed to preview"
    if not stacks:
        return "success", "no stacks changed"
    return "success", f"{_stacks(stacks)}: {counts.summary()}"


def drift(checked: Sequence[str], drifted: Sequence[str], failed: Sequence[str]) -> tuple[str, str]:
    """(state, description) of the `shipmate/drift` status over `project/stack` names."""
    if failed:
        return "error", f"drift check failed for {', '.join(failed)}"
    if drifted:
        return "failure", f"drift in {len(drifted)} of {len(checked)} stacks: {', '.join(drifted)}"
    return "success", f"no drift in {_stacks(len(checked))}"
