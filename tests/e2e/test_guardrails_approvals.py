"""Approvals pinned to the preview and owners per stack, end to end: CODEOWNERS on the
default branch, `requirements.apply: [code_owners]`, a per-workspace permission and a
cluster edited between the preview and `/apply`, through the simulated GitHub and Kubernetes
with the bot built as `shipmate serve` builds it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from bot.adapters.gitstate import git_backend
from bot.cli.sandbox import REPO, Sandbox
from tests.e2e.world import bodies, comment, open_pr, replace

pytestmark = pytest.mark.e2e

SETTINGS = """\
backend: {branch: shipmate-state}
requirements: {apply: [code_owners]}
permissions:
  apply: write
  workspaces:
    prod: {apply: maintain}
generate: {namespace: extension, terraformOnlyNamespace: false, appMetadata: apply}
"""
CODEOWNERS = "# who approves which stack\n*  @alice\n/shop/dev/  @dana\n/shop/prod/  @alice\n"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    files = {"shipmate.yaml": SETTINGS, ".github/CODEOWNERS": CODEOWNERS}
    with Sandbox.start(tmp_path_factory.mktemp("owners"), files=files) as sandbox:
        sandbox.github.add_user("dana", "tok-dana", "write")
        yield sandbox


def approve(box: Sandbox, login: str, number: int) -> None:
    token = {"dana": "tok-dana"}.get(login)
    gh = box.github.client(token) if token else box.client(login)
    gh.get_repo(REPO).get_pull(number).create_review(event="APPROVE")


def test_an_apply_stops_when_the_cluster_changed_since_the_approved_preview(box: Sandbox, tmp_path: Path) -> None:
    pr = open_pr(box, "bob", {"shop/dev/main.yaml": replace("LOG_LEVEL: debug", "LOG_LEVEL: warn")},
                 title="Quieter logs in dev")
    box.settle()
    number = pr.number
    [first] = bodies(box, number)
    assert "`v1:Namespace:shop` | ➕ Create" in first
    approve(box, "dana", number)  # dana owns shop/dev and approves what she saw

    # Someone creates the namespace by hand: the preview dana approved is no longer true.
    api = config.new_client_from_config(str(box.kubeconfig))
    try:
        client.CoreV1Api(api).create_namespace({"metadata": {"name": "shop", "labels": {"team": "ops"}}})
    finally:
        api.close()
    asked = comment(box, "alice", number, "/apply")
    box.settle()
    refused, *_ = bodies(box, number, after=asked.id)
    assert "the live state changed since the preview (someone changed the objects)" in refused
    assert "approve again, then comment `/apply`" in refused
    [fresh] = bodies(box, number)[:1]  # the preview comment, updated with the new difference
    assert fresh != first and "`v1:Namespace:shop` | ➕ Create" not in fresh and "`v1:Namespace:shop`" in fresh
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "state") as backend:
        record = backend.view().previews(number)
        assert record is not None and record["commit"] == pr.head.sha
        [entry] = record["stacks"]  # one review (dana's) was given before this preview
        assert entry["approvalsFrom"] == 1 and entry["fingerprint"]["value"].startswith("sha256:")

    # dana's approval was for the old preview: it no longer counts for shop/dev.
    asked = comment(box, "alice", number, "/apply")
    box.settle()
    [refused] = bodies(box, number, after=asked.id)
    assert f"shop/dev (dev): needs an approval at the current head ({pr.head.sha[:7]}) given since its " \
           "latest preview from @dana" in refused

    approve(box, "dana", number)
    asked = comment(box, "alice", number, "/apply")
    box.settle()
    [applied] = bodies(box, number, after=asked.id)
    assert "✅ 1 succeeded" in applied and "| `shop` / `dev` | `dev` | ✅ succeeded | r1" in applied
    box.repo("bob").get_pull(number).edit(state="closed")  # frees shop/dev for the next test
    box.settle()


def test_a_merge_applies_only_what_its_last_preview_showed(box: Sandbox, tmp_path: Path) -> None:
    pr = open_pr(box, "bob", {"shop/dev/manifests/settings.yaml": replace("hello from dev", "hi from dev")},
                 title="Friendlier greeting")
    box.settle()
    approve(box, "dana", pr.number)
    api = config.new_client_from_config(str(box.kubeconfig))
    try:  # someone edits the greeting by hand after the approval
        client.CoreV1Api(api).patch_namespaced_config_map("web.settings", "shop", {"data": {"greeting": "by hand"}})
    finally:
        api.close()
    seen = max(c["id"] for c in box.github.comments("acme", "config", pr.number))
    box.repo("alice").get_pull(pr.number).merge(merge_method="merge")
    box.settle()
    [told] = [b for b in bodies(box, pr.number, after=seen) if "apply on merge" in b]
    assert "the live state changed since the preview (someone changed the objects)" in told
    assert "apply the stack with a new pull request (or `shipmate apply`)" in told
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "state") as backend:
        latest = backend.latest("shop", "dev")
        assert latest is not None and latest.revision == 1  # the merge recorded nothing


def test_no_preview_of_the_head_no_apply(box: Sandbox) -> None:
    pr = open_pr(box, "bob", {"shop/dev/main.yaml": replace("LOG_LEVEL: debug", "LOG_LEVEL: error")},
                 title="Draft: even quieter", draft=True)  # drafts are not previewed here
    box.settle()
    asked = comment(box, "alice", pr.number, "/apply")
    box.settle()
    [refused] = bodies(box, pr.number, after=asked.id)
    assert refused == ("**`/apply` was not run** (requested by @alice): no preview of the head "
                       f"({pr.head.sha[:7]}) is recorded, so no approval can be for what `/apply` "
                       "would do: comment `/preview` first.\n")
    box.repo("bob").get_pull(pr.number).edit(state="closed")
    box.settle()


def test_each_stacks_owners_and_its_workspaces_permission(box: Sandbox) -> None:
    pr = open_pr(box, "bob", {
        "shop/dev/main.yaml": replace("LOG_LEVEL: debug", "LOG_LEVEL: warn"),
        "shop/prod/main.yaml": replace("LOG_LEVEL: info", "LOG_LEVEL: warn"),
    }, title="Quieter logs everywhere")
    box.settle()
    number = pr.number

    # bob may write, but prod needs maintain; dev's owner has not approved.
    asked = comment(box, "bob", number, "/apply")
    box.settle()
    [refused] = bodies(box, number, after=asked.id)
    assert refused == (
        "**`/apply` was not run** (requested by @bob): /apply requirements not met:\n"
        "- shop/dev (dev): needs an approval at the current head "
        f"({pr.head.sha[:7]}) from @dana, with at least write permission\n"
        "- shop/prod (prod): /apply needs maintain permission; @bob has write\n"
    )

    # alice owns prod and approves: dev still needs dana, and the refusal says so.
    box.repo("alice").get_pull(number).create_review(event="APPROVE")
    asked = comment(box, "alice", number, "/apply")
    box.settle()
    [refused] = bodies(box, number, after=asked.id)
    assert "shop/dev (dev): needs an approval" in refused and "from @dana" in refused
    assert "shop/prod" not in refused

    # dana approves too: both stacks apply.
    box.github.client("tok-dana").get_repo(REPO).get_pull(number).create_review(event="APPROVE")
    asked = comment(box, "alice", number, "/apply")
    box.settle()
    [applied] = bodies(box, number, after=asked.id)
    assert "✅ 2 succeeded" in applied, applied
    assert "| `shop` / `dev` | `dev` | ✅ succeeded | r2" in applied
    assert "| `shop` / `prod` | `prod` | ✅ succeeded | r1" in applied
