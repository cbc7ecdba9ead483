"""A Mermaid flowchart of one stack's dependency DAG, coloured by planned action.

Edges point from a resource to the resources that depend on it (the order of apply). Built
from each resource's `depends_on` as recorded on its change step; only small graphs are drawn
(the caller passes a node limit), since a big one is unreadable in a comment.
"""

from __future__ import annotations

from bot.core.preview.model import Action, ChangeSet

_CLASSES = {
    Action.CREATE: ("create", "fill:#dafbe1,stroke:#1a7f37,color:#1f2328"),
    Action.UPDATE: ("update", "fill:#fff8c5,stroke:#9a6700,color:#1f2328"),
    Action.DELETE: ("delete", "fill:#ffebe9,stroke:#cf222e,color:#1f2328"),
    Action.UNCHANGED: ("unchanged", "fill:#f6f8fa,stroke:#8c959f,color:#59636e"),
    Action.REPLACE: ("replace", "fill:#fff1e5,stroke:#bc4c00,color:#1f2328"),
}


def edges(changeset: ChangeSet) -> list[tuple[str, str]]:
    ids = {s.id for s in changeset.steps}
    out = set()
    for step in changeset.steps:
        for dep in step.resource.depends_on:
            if dep in ids and dep != step.id:
                out.add((dep, step.id))
    return sorted(out)


def flowchart(changeset: ChangeSet, max_nodes: int = 30) -> list[str] | None:
    """Lines of a ```mermaid block body, or None when the graph is trivial or too big."""
    steps = changeset.steps
    links = edges(changeset)
    if len(steps) < 2 or len(steps) > max_nodes or not links:
        return None
    node = {s.id: f"n{i}" for i, s in enumerate(steps)}
    out = ["flowchart LR"]
    for s in steps:
        label = s.id.replace('"', "#quot;")
        out.append(f'  {node[s.id]}["{label}"]')
    out.extend(f"  {node[a]} --> {node[b]}" for a, b in links)
    used = [a for a in Action if any(s.action is a for s in steps)]
    for action in used:
        name, style = _CLASSES[action]
        members = ",".join(node[s.id] for s in steps if s.action is action)
        out.append(f"  classDef {name} {style}")
        out.append(f"  class {members} {name}")
    return out
