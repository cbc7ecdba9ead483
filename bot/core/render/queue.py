"""What a pull request is told while its `/apply` waits in line for a lock (`bot.core.lockqueue`).

    @bob `/apply` waits: `shop/dev` is locked by #12 and this pull request is 1st in line for
    it. It runs when #12 frees the lock (merged and applied, closed, or `/unlock`); comment
    `/apply --no-wait` to be refused instead, `/unlock` to leave the line.
"""

from __future__ import annotations

from bot.core.lock import Lock
from bot.core.lockqueue import ordinal
from bot.core.render.comment import code


def waiting(actor: str, holder: Lock, place: int) -> str:
    """The reply to an `/apply` that joined the line for `holder`'s lock at `place` (kept up to
    date as the line moves)."""
    by = f"#{holder.pull_request}" if holder.pull_request is not None else code(holder.owner)
    return (f"@{actor} `/apply` waits: {code(holder.key)} is locked by {by} and this pull request is "
            f"{ordinal(place)} in line for it. It runs when {by} frees the lock (merged and applied, closed, "
            "or `/unlock`), after a fresh preview; comment `/apply --no-wait` to be refused instead, "
            "`/unlock` to leave the line.")


def merge_waiting(actor: str, holder: Lock, place: int) -> str:
    """The merged pull request's comment while the apply of its merge waits in `holder`'s line."""
    by = f"#{holder.pull_request}" if holder.pull_request is not None else code(holder.owner)
    return (f"@{actor} merged this pull request; the apply of the merge waits: {code(holder.key)} is locked by "
            f"{by} and this merge is {ordinal(place)} in line for it. When {by} frees the lock, the merge's "
            "stacks are applied from the head of the base branch, each only if what it would change is still "
            "what this pull request's last preview showed; comment `/unlock` to leave the line.")


def merge_turn(actor: str, key: str) -> str:
    """The merged pull request's waiting comment once the lock is the merge's."""
    return (f"@{actor} {code(key)} is free and it is this merge's turn: its stacks are applied now from the head "
            "of the base branch.")


def turn(actor: str, key: str) -> str:
    """The waiting comment once the lock is this pull request's."""
    return (f"@{actor} {code(key)} is free and it is this pull request's turn: it is previewed again and "
            "your `/apply` runs now.")
