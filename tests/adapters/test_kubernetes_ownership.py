"""Taking fields over from other field managers (`ownership`): properties over generated
objects, and the shapes the API server writes (keyed items with defaulted keys, `.` nodes)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.adapters.kubernetes import ownership

KEYS = st.sampled_from(["a", "b", "c", "d"])
Obj = dict[str, Any]
trees: st.SearchStrategy[Obj] = st.recursive(
    st.dictionaries(KEYS, st.just("v"), max_size=3),
    lambda inner: st.dictionaries(KEYS, st.one_of(st.just("v"), inner), max_size=3),
    max_leaves=12,
)


def fields_of(obj: Obj) -> Obj:
    """The `fieldsV1` set an Update manager gets for writing `obj` (maps and leaves only)."""
    out: Obj = {}
    for key, value in obj.items():
        out[f"f:{key}"] = ({".": {}, **fields_of(value)} if value else {".": {}}) \
            if isinstance(value, dict) else {}
    return out


def members(tree: Obj) -> set[tuple[str, ...]]:
    return set(ownership.members(tree))


@given(trees, trees)
def test_exactly_the_dropped_fields_change_hands(prior: Obj, planned: Obj) -> None:
    created = [{"manager": "kubectl-create", "operation": "Update", "apiVersion": "v1",
                "fieldsType": "FieldsV1", "fieldsV1": fields_of(prior)}]
    found = ownership.takeover(created, prior, planned, manager="shipmate", api_version="v1", now="t")
    dropped = {p for p in members(fields_of(prior)) if not ownership.present(planned, p)}
    if not dropped:
        assert found is None
        return
    assert found is not None
    assert set(found.paths) == dropped
    by_manager = {e["manager"]: members(e["fieldsV1"]) for e in found.managed_fields}
    assert by_manager["shipmate"] == dropped
    assert by_manager.get("kubectl-create", set()) == members(fields_of(prior)) - dropped
    left = ownership.without(prior, found.paths)
    assert all(ownership.present(planned, p) for p in members(fields_of(left)))


def test_a_dropped_keyed_item_goes_whole_with_its_defaulted_key() -> None:
    def port(n: int) -> Obj:
        return {"containerPort": n}

    item = 'k:{"containerPort":9090,"protocol":"TCP"}'
    created = [{"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "v1",
                "fieldsType": "FieldsV1", "fieldsV1": {"f:ports": {
                    ".": {},
                    'k:{"containerPort":8080,"protocol":"TCP"}': {
                        ".": {}, "f:containerPort": {}, "f:protocol": {}},
                    item: {".": {}, "f:containerPort": {}, "f:protocol": {}},
                }}}]
    prior = {"ports": [port(8080), port(9090)]}
    planned = {"ports": [port(8080)]}
    found = ownership.takeover(created, prior, planned, manager="shipmate", api_version="v1", now="t")
    assert found is not None
    assert set(found.paths) == {("f:ports", item), ("f:ports", item, "f:containerPort"),
                                ("f:ports", item, "f:protocol")}
    live = {"ports": [{**port(8080), "protocol": "TCP"}, {**port(9090), "protocol": "TCP"}]}
    assert ownership.without(live, found.paths) == {"ports": [{**port(8080), "protocol": "TCP"}]}


def test_status_and_the_appliers_own_fields_stay_put() -> None:
    entries = [
        {"manager": "shipmate", "operation": "Apply", "apiVersion": "v1",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:x": {}}}},
        {"manager": "controller", "operation": "Update", "apiVersion": "v1", "subresource": "status",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:ready": {}}}},
    ]
    prior = {"data": {"x": "1"}, "status": {"ready": True}}
    assert ownership.takeover(entries, prior, {}, manager="shipmate", api_version="v1", now="t") is None
