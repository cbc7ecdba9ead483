"""Notices the bot adds to its comments about where Shipmate applies (golden file
`fixtures/golden/bot/preview-only.md`). Branch names come from git and may hold Markdown,
so every one is inline code."""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.render.comment import code


def branch_list(branches: Sequence[str]) -> str:
    """`main`, `release/*` as inline code; "no branch" for none."""
    return ", ".join(code(b) for b in branches) or "no branch"


def applies_only_to(base: str, branches: Sequence[str], policy_branch: str) -> str:
    """Why a pull request into `base` is not applied: the policy's `branches` leave it out."""
    return (
        f"pull requests into {code(base)} are previewed only: Shipmate applies pull requests "
        f"into {branch_list(branches)} (`branches` in shipmate.yaml on {code(policy_branch)})"
    )


def preview_only(base: str, branches: Sequence[str], policy_branch: str) -> list[str]:
    """The lines a preview comment gets when its pull request's base does not apply."""
    return [
        f"> ℹ️ Not applied: {applies_only_to(base, branches, policy_branch)}; `/apply`, "
        "`/destroy` and apply on merge do not run here.",
        "",
    ]
