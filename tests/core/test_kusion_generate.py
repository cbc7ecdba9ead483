"""Generate against Kusion: its own examples, rendered as Kusion renders them, give the Spec
Kusion's generators give (golden Specs under fixtures/golden/specs/kusion)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.generate import generate_stack, render_spec
from tests.core.test_generate import snapshot_of
from tests.golden import assert_golden

ROOT = Path(__file__).resolve().parents[2]
KUSION = ROOT / "fixtures" / "configs" / "kusion"
GOLDEN = ROOT / "fixtures" / "golden" / "specs" / "kusion"
STACKS = ("quickstart/default",)


@pytest.mark.parametrize("stack", STACKS)
def test_kusion_shaped_stacks_match_golden_specs(stack: str) -> None:
    spec = generate_stack(snapshot_of(KUSION), stack)
    assert_golden(GOLDEN / f"{stack.replace('/', '-')}.yaml", render_spec(spec))


def test_raw_kcl_render_with_type_paths_everywhere_is_accepted() -> None:
    spec = generate_stack(snapshot_of(KUSION), "quickstart/default").by_id()
    deployment = spec["apps/v1:Deployment:quickstart:quickstart-default-quickstart"].attributes
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["lifecycle"]["preStop"] == {"exec": {"command": ["/bin/sh", "-c", "sleep 5"]}}
    assert "_type" not in render_spec(generate_stack(snapshot_of(KUSION), "quickstart/default"))
    assert "v1:Secret:quickstart:db" in spec
