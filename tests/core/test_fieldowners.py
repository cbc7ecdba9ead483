"""Kubernetes' managedFields read as field paths: every leaf of a fieldsV1 tree, list elements
by key, and the claims on a changed field or under it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.core import fieldowners

MANAGED = [
    {"manager": "shipmate", "operation": "Apply", "time": "2026-12-05T06:00:00Z",
     "fieldsV1": {"f:data": {"f:greeting": {}, "f:level": {}},
                  "f:spec": {"f:containers": {'k:{"name":"web"}': {".": {}, "f:image": {}}}}}},
    {"manager": "kubectl-edit", "operation": "Update", "time": "2026-12-05T07:00:00Z",
     "fieldsV1": {"f:data": {"f:greeting": {}}}},
    {"manager": "broken"},
]


def test_claims_are_read_as_paths() -> None:
    owners = fieldowners.parse(MANAGED)
    assert sorted((o.path, o.manager) for o in owners) == [
        ("data.greeting", "kubectl-edit"), ("data.greeting", "shipmate"), ("data.level", "shipmate"),
        ("spec.containers[name=web]", "shipmate"), ("spec.containers[name=web].image", "shipmate")]
    latest = fieldowners.owners_of(owners, "data.greeting")
    assert [(o.manager, o.operation) for o in latest] == [("kubectl-edit", "Update"), ("shipmate", "Apply")]
    assert {o.path for o in fieldowners.owners_of(owners, "spec.containers")} == {
        "spec.containers[name=web]", "spec.containers[name=web].image"}
    assert fieldowners.owners_of(owners, "data.green") == ()


names = st.text(alphabet="abcdefgh", min_size=1, max_size=5)
trees = st.recursive(st.just({}), lambda inner: st.dictionaries(names.map(lambda n: f"f:{n}"), inner,
                                                                 min_size=1, max_size=3), max_leaves=10)


def paths(tree: dict[str, object], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key, child in tree.items():
        path = f"{prefix}.{key[2:]}" if prefix else key[2:]
        out |= paths(child, path) if isinstance(child, dict) and child else {path}
    return out


@given(trees)
def test_every_leaf_of_a_tree_is_a_claim(tree: dict[str, object]) -> None:
    assert set(fieldowners.leaves(tree)) == paths(tree)
