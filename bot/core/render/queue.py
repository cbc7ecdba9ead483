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


def turn(actor: str, key: str) -> str:
    """The waiting comment once the lock is this pull request's."""
    return (f"@{actor} {code(key)} is free and it is this pull request's turn: it is previewed again and "
            "your `/apply` runs now.")
