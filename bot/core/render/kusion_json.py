"""`kusion preview -o json`: `{"changeSteps": {id: {id, action, from, to}}, "stepKeys": [...]}`.

`from` is the live resource and is omitted for Create; `to` is the dry-run result and is
omitted for Delete (Kusion's `omitempty`). Keys are sorted, so equal change sets give equal
bytes.

Kusion has no Replace action (its preview calls any difference an Update), so a Replace is
printed as `Update`, the action Kusion prints for the same change; the terminal and comment
renderings show it as Replace.
"""

from __future__ import annotations

import json
from typing import Any

from bot.core.preview.model import Action, ChangeSet

# Shipmate's actions that Kusion does not have, as Kusion prints them.
KUSION_ACTION = {Action.REPLACE: Action.UPDATE}


def document(changeset: ChangeSet) -> dict[str, Any]:
    steps: dict[str, Any] = {}
    for step in changeset.steps:
        entry: dict[str, Any] = {"id": step.id, "action": str(KUSION_ACTION.get(step.action, step.action))}
        if step.from_ is not None:
            entry["from"] = step.from_.to_dict()
        if step.to is not None:
            entry["to"] = step.to.to_dict()
        steps[step.id] = entry
    return {"stepKeys": list(changeset.step_keys), "changeSteps": steps}


def render(changeset: ChangeSet) -> str:
    return json.dumps(document(changeset), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
