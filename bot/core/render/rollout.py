"""The rollout comment: the batches of an apply rolled out batch by batch and where each is.

    ## Shipmate rollout
    @alice asked to apply commit `1a2b3c4` in 2 batches of at most 2 stacks, 30s apart:

    | Batch | Stacks | State |
    | 1/2 | `shop/dev`, `data/dev` | ✅ applied |
    | 2/2 | `edge/dev` | ⏳ applying |

Pure (golden file `tests/core/golden/rollout/progress.md`).
"""

from __future__ import annotations

from bot.core import rollout
from bot.core.render.comment import code

_ICONS = {
    rollout.WAITING: "🕒 waiting",
    rollout.APPLYING: "⏳ applying",
    rollout.APPLIED: "✅ applied",
    rollout.FAILED: "❌ failed",
    rollout.NOT_STARTED: "⛔ not started",
}


def progress(plan: rollout.Rollout, *, lead: str) -> str:
    """The comment's Markdown (without marker): `lead` says who asked for what."""
    n = len(plan.batches)
    size = max((len(b) for b in plan.batches), default=0)
    apart = f", {plan.pause_seconds}s apart" if plan.pause_seconds and n > 1 else ""
    out = ["## Shipmate rollout", "",
           f"{lead} in {n} batch{'es' if n != 1 else ''} of at most {size} stack{'s' if size != 1 else ''}{apart}:",
           "", "| Batch | Stacks | State |", "|---|---|---|"]
    for i, (names, state) in enumerate(zip(plan.batches, plan.states, strict=True), start=1):
        out.append(f"| {i}/{n} | {', '.join(code(name) for name in names)} | {_ICONS.get(state, state)} |")
    failed = [i for i, s in enumerate(plan.states, start=1) if s == rollout.FAILED]
    if failed and rollout.NOT_STARTED in plan.states:
        out.extend(["", f"Batch {failed[0]} failed, so the rollout stopped: the later batches were not started."])
    return "\n".join(out) + "\n"
