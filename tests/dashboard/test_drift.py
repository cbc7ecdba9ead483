"""The drift page in Chromium: a drift found by a scheduled check appears while the page is
open, with the drifted resources, the fields edited by hand, and what to do about them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from kubernetes import client, config
from playwright.sync_api import Page, expect

from bot.cli.sandbox import REPO, Sandbox
from bot.core.events import CheckDrift, delivery_of
from tests.dashboard.conftest import config_map, record, shoot, sign_in


def test_a_drift_appears_after_the_scheduled_check(box: Sandbox, page: Page) -> None:
    # shop/dev was applied once, long ago: the default branch now holds what was never applied.
    record(box, "shop", "dev", (config_map("web", LOG_LEVEL="debug"),), actor="alice", pull_request=1)
    # ... and someone edited the stack's settings in the cluster by hand.
    core = client.CoreV1Api(config.new_client_from_config(str(box.kubeconfig)))
    core.create_namespace({"metadata": {"name": "shop"}})
    core.create_namespaced_config_map("shop", {"metadata": {"name": "web.settings"},
                                               "data": {"greeting": "hello from a hand edit"}})
    sign_in(page, box, "alice", to="/ui/drift")
    expect(page.get_by_text("No stack has been checked yet.")).to_be_visible()

    assert box.server is not None
    due = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    box.server.queue.put(delivery_of(CheckDrift(f"drift:{REPO}:{due}", REPO, None, due), datetime.now(UTC)))
    box.server.pool.notify()

    checked = page.locator('section.drift[data-stack="acme/config:shop/dev"]')
    expect(checked.locator(".badge")).to_have_text("drifted", timeout=60_000)
    expect(checked.locator('tr[data-resource="apps/v1:Deployment:shop:shop-dev-web"]')).to_contain_text("Create")
    expect(checked.locator('tr[data-resource="v1:ConfigMap:shop:web"]')).to_contain_text("Delete")
    edited = checked.locator('tr[data-resource="v1:ConfigMap:shop:web.settings"]')
    expect(edited).to_contain_text("Update")
    expect(edited.locator("pre.fields")).to_contain_text('~ data.greeting: "hello from a hand edit" → "hello from dev"')
    # The check opened the drift issue and the pull request adopting the hand edit: both linked.
    expect(checked.get_by_role("link", name="The drift issue")).to_have_attribute(
        "href", re.compile(rf"^{re.escape(box.github.url)}/{REPO}/issues/\d+$"))
    expect(checked.get_by_role("link", name="The pull request adopting what is live")).to_have_attribute(
        "href", re.compile(rf"^{re.escape(box.github.url)}/{REPO}/pull/\d+$"))
    shoot(page, "drift")
    page.goto(f"{box.server.url}/ui")
    expect(page.locator('tr[data-stack="shop/dev"] [data-label="Drift"]')).to_have_text("drifted")
