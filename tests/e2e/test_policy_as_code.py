"""Policy as code, end to end: Rego policies in the config repository's `policies/` (the
examples of docs/examples/policies) show in a pull request's preview, and a stack they fail is
not applied by `/apply`; fixed, it applies. Through the simulated GitHub and Kubernetes with
the bot built as `shipmate serve` builds it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.gitstate import git_backend
from bot.cli.sandbox import Sandbox
from tests.e2e.world import bodies, comment, open_pr, replace

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "policies"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    files = {f"policies/{name}.rego": (EXAMPLES / f"{name}.rego").read_text() for name in ("images", "limits")}
    with Sandbox.start(tmp_path_factory.mktemp("policies"), files=files) as sandbox:
        yield sandbox


def test_a_failing_policy_shows_in_the_preview_and_holds_the_apply_back(box: Sandbox, tmp_path: Path) -> None:
    pr = open_pr(box, "bob", {"shop/dev/main.yaml": replace("image: nginx:1.25", "image: nginx:latest")},
                 title="Latest nginx in dev")
    box.settle()
    [preview] = bodies(box, pr.number)
    assert "**🛑 1 policy failure** holds this stack's apply back:" in preview
    assert ("- `shipmate.images`: apps/v1:Deployment:shop:shop-dev-web: container web runs nginx:latest; "
            "pin a version instead of :latest") in preview
    assert "To apply this stack, comment `/apply -p shop -s dev`." not in preview

    box.repo("alice").get_pull(pr.number).create_review(event="APPROVE")
    asked = comment(box, "bob", pr.number, "/apply")
    box.settle()
    [result] = bodies(box, pr.number, after=asked.id)
    assert "not applied, nothing was changed: the repository's policies fail this stack: shipmate.images:" in result
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "state") as backend:
        assert backend.latest("shop", "dev") is None  # nothing was recorded, nothing applied

    # Closed (its locks go) and proposed again with a pinned image: the stack passes and applies.
    box.repo("bob").get_pull(pr.number).edit(state="closed")
    box.settle()
    fixed = open_pr(box, "bob", {"shop/dev/main.yaml": replace("image: nginx:1.25", "image: nginx:1.27")},
                    title="nginx 1.27 in dev")
    box.settle()
    [preview] = bodies(box, fixed.number)
    assert "✅ The repository's policies pass." in preview
    box.repo("alice").get_pull(fixed.number).create_review(event="APPROVE")
    asked = comment(box, "bob", fixed.number, "/apply")
    box.settle()
    [result] = bodies(box, fixed.number, after=asked.id)
    assert "not applied" not in result
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "state2") as backend:
        latest = backend.latest("shop", "dev")
        assert latest is not None and latest.phase.value == "succeeded" and latest.pull_request == fixed.number
    box.repo("bob").get_pull(fixed.number).edit(state="closed")  # its locks go
    box.settle()


def test_a_maintainer_may_apply_past_failing_policies_with_a_recorded_reason(box: Sandbox, tmp_path: Path) -> None:
    pr = open_pr(box, "bob", {"shop/dev/main.yaml": replace("image: nginx:1.25", "image: nginx:latest")},
                 title="Latest nginx in dev, urgently")
    box.settle()
    box.repo("alice").get_pull(pr.number).create_review(event="APPROVE")

    asked = comment(box, "bob", pr.number, '/apply --override-policy "it is only dev"')
    box.settle()
    [refused] = bodies(box, pr.number, after=asked.id)
    assert "@bob has write permission on this repository; /apply --override-policy needs maintain" in refused

    asked = comment(box, "alice", pr.number, '/apply --override-policy "INC-42: dev needs the latest build"')
    box.settle()
    [result] = bodies(box, pr.number, after=asked.id)
    assert "not applied" not in result
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "state") as backend:
        latest = backend.latest("shop", "dev")
        assert latest is not None and latest.phase.value == "succeeded" and latest.pull_request == pr.number
        assert latest.policy_override == "@alice: INC-42: dev needs the latest build"
        text = backend.store.snapshot().read(f"releases/shop/dev/{latest.revision}.yaml")
        assert text is not None and b"policyOverride: '@alice: INC-42: dev needs the latest build'" in text
    box.repo("bob").get_pull(pr.number).edit(state="closed")  # its locks go
    box.settle()



def test_a_merge_leaves_a_stack_the_policies_fail_unapplied(box: Sandbox, tmp_path: Path) -> None:
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "before") as backend:
        before = backend.latest("shop", "dev")
    pr = open_pr(box, "bob", {"shop/dev/main.yaml": replace("image: nginx:1.25", "image: busybox")},
                 title="An untagged image in dev")
    box.settle()
    seen = max(c["id"] for c in box.github.comments("acme", "config", pr.number))
    box.repo("alice").get_pull(pr.number).create_review(event="APPROVE")
    box.repo("alice").get_pull(pr.number).merge(merge_method="merge")
    box.settle()
    [told] = [b for b in bodies(box, pr.number, after=seen) if "apply on merge" in b]
    assert "the repository's policies fail this stack: shipmate.images:" in told
    assert "runs busybox without a tag; pin a version" in told
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "after") as backend:
        after = backend.latest("shop", "dev")
        assert (after.revision if after else None) == (before.revision if before else None)  # nothing recorded
