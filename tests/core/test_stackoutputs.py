"""Outputs between stacks: `$kusion_stack.<project>/<stack>.<resource id>.<attr>` resolved
from the dependency's latest Release."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.errors import PlanError
from bot.core.ports import KNOWN_AFTER_APPLY
from bot.core.release import Phase, Release
from bot.core.spec import Resource, Spec, State
from bot.core.stackoutputs import resolve_outputs, split_stack

VPC = Resource("hashicorp:aws:aws_vpc:main", "Terraform", {"id": "vpc-123", "cidr": "10.0.0.0/16",
                                                             "subnets": [{"id": "subnet-a"}]})
SERVICE = Resource("v1:Service:net:edge.v2", "Kubernetes", {"spec": {"clusterIP": "10.1.2.3"}})
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def release(*resources: Resource) -> Release:
    return Release("network", "prod", 4, "prod", Spec(resources), State(resources), Phase.SUCCEEDED, NOW, NOW)


def app(*values: str) -> Spec:
    return Spec((Resource("v1:ConfigMap:app:settings", "Kubernetes", {"data": {f"k{i}": v for i, v in enumerate(values)},
                                                                      "note": "$kusion_path.not-this"}),))


def test_values_filled_in_from_the_latest_release() -> None:
    spec = resolve_outputs(app("$kusion_stack.network/prod.hashicorp:aws:aws_vpc:main.id",
                               "$kusion_stack.network/prod.hashicorp:aws:aws_vpc:main.subnets.0.id",
                               "$kusion_stack.network/prod.v1:Service:net:edge.v2.spec.clusterIP",
                               "plain text"),
                           {"network/prod": release(VPC, SERVICE)})
    assert spec.resources[0].attributes == {
        "data": {"k0": "vpc-123", "k1": "subnet-a", "k2": "10.1.2.3", "k3": "plain text"},
        "note": "$kusion_path.not-this",
    }


def test_a_spec_without_references_is_returned_as_is() -> None:
    spec = app("plain")
    assert resolve_outputs(spec, {}) is spec


def test_known_after_apply_when_the_dependency_changes_in_the_same_run() -> None:
    spec = resolve_outputs(app("$kusion_stack.network/prod.hashicorp:aws:aws_vpc:main.id"),
                           {"network/prod": None}, pending={"network/prod"})
    assert spec.resources[0].attributes["data"] == {"k0": KNOWN_AFTER_APPLY}


@pytest.mark.parametrize(("value", "releases", "message"), [
    ("$kusion_stack.db/prod.x.y", {"network/prod": None},
     "unresolved reference $kusion_stack.db/prod.x.y: it names no stack this stack's dependsOn lists (network/prod)"),
    ("$kusion_stack.network/prod.hashicorp:aws:aws_vpc:main.id", {"network/prod": None},
     "unresolved reference $kusion_stack.network/prod.hashicorp:aws:aws_vpc:main.id: stack network/prod has no "
     "release yet"),
    ("$kusion_stack.network/prod.v1:Secret:net:gone.data", {"network/prod": release(VPC)},
     "unresolved reference $kusion_stack.network/prod.v1:Secret:net:gone.data: network/prod's release r4 has no "
     "such resource"),
    ("$kusion_stack.network/prod.hashicorp:aws:aws_vpc:main.arn", {"network/prod": release(VPC)},
     "unresolved reference $kusion_stack.network/prod.hashicorp:aws:aws_vpc:main.arn: resource "
     "hashicorp:aws:aws_vpc:main of network/prod (r4) has no attribute arn"),
])
def test_missing_release_resource_or_attribute_is_a_clear_error(
        value: str, releases: dict[str, Release | None], message: str) -> None:
    with pytest.raises(PlanError) as err:
        resolve_outputs(app(value), releases)
    assert str(err.value) == message


_NAME = st.from_regex(r"[a-z][a-z0-9.]{0,6}[a-z0-9]", fullmatch=True)


@given(st.lists(st.tuples(_NAME, _NAME).map("/".join), min_size=1, max_size=5, unique=True), st.data())
def test_split_stack_finds_the_longest_listed_name(names: list[str], data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(names))
    rest = data.draw(st.from_regex(r"[a-z0-9:.]{1,12}", fullmatch=True))
    got = split_stack(f"$kusion_stack.{name}.{rest}", names)
    assert got is not None
    found, tail = got
    assert f"{found}.{tail}" == f"{name}.{rest}"
    assert len(found) >= len(name) and found in names
    assert split_stack(f"$kusion_path.{name}.{rest}", names) is None
