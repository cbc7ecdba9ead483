"""`kusion preview -o json`: `{"changeSteps": {id: {id, action, from, to}}, "stepKeys": [...]}`.

`from` is the live resource and `to` the dry-run result (the planned one for a Create); both
are always printed, `null` where there is none (`from` of a Create, `to` of a Delete), as
Kusion prints them: its `ChangeStep.From`/`To` are `interface{}` fields tagged `omitempty`
that hold a typed `*v1.Resource`, so a nil resource is not empty to `encoding/json` and
becomes `null` (kusion 02cc9d8, `pkg/engine/operation/models/change.go`,
`pkg/engine/operation/graph/resource_node.go` `updateChangeOrder(operation, rn,
liveResource, dryRunResource)`). Keys are sorted, so equal change sets give equal bytes.

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
        entry: dict[str, Any] = {
            "id": step.id,
            "action": str(KUSION_ACTION.get(step.action, step.action)),
            "from": None if step.from_ is None else step.from_.to_dict(),
            "to": None if step.to is None else step.to.to_dict(),
        }
        steps[step.id] = entry
    return {"stepKeys": list(changeset.step_keys), "changeSteps": steps}


def render(changeset: ChangeSet) -> str:
    return json.dumps(document(changeset), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
