"""The dashboard's pages in Chromium: signing in through the simulated GitHub, the overview,
a stack's history, one release's resources and the difference between two revisions,
unlocking (a maintainer may, a reader is refused), open pull requests, live updates,
JavaScript off and a phone."""

from __future__ import annotations

import re
from hashlib import sha1

from playwright.sync_api import Browser, Page, expect

from bot.cli.sandbox import Sandbox
from tests.dashboard.conftest import PHONE, backend, config_map, record, shoot, sign_in
from tests.e2e.world import open_pr, replace


def test_sign_in_browse_to_a_stack_and_compare_two_revisions(box: Sandbox, page: Page) -> None:
    for level, actor, number in (("debug", "alice", 1), ("info", "bob", 2), ("warn", "alice", 3)):
        record(box, "shop", "dev", (config_map("web", LOG_LEVEL=level), config_map("static", SIZE="small")),
               actor=actor, pull_request=number, commit=sha1(f"commit {number}".encode()).hexdigest())

    sign_in(page, box, "alice")
    row = page.locator('section[data-repo="acme/config"] tr[data-stack="shop/dev"]')
    expect(row).to_contain_text("succeeded")
    expect(row.locator('[data-label="Rev"]')).to_have_text("r3")
    expect(row.locator('[data-label="Who"]')).to_have_text("alice")
    expect(page.locator("header .viewer")).to_contain_text("alice")
    shoot(page, "overview")

    row.get_by_role("link", name="dev").click()
    expect(page).to_have_url(f"{box.server.url}/ui/acme/config/shop/dev")
    expect(page.locator("tr[data-revision]")).to_have_count(3)
    expect(page.locator('tr[data-revision="2"] [data-label="Who"]')).to_have_text("bob")
    shoot(page, "history")

    page.locator('tr[data-revision="2"]').get_by_role("link", name="r2").click()
    held = page.locator('tr[data-state="v1:ConfigMap:shop:web"]')
    held.get_by_text("attributes").click()
    expect(held.locator("pre")).to_contain_text("LOG_LEVEL: info")
    expect(page.locator("tr[data-spec]")).to_have_count(2)
    shoot(page, "release")
    page.go_back()

    page.select_option('select[name="a"]', "1")
    page.select_option('select[name="b"]', "3")
    page.get_by_role("button", name="Compare").click()
    expect(page).to_have_url(f"{box.server.url}/ui/acme/config/shop/dev/compare?a=1&b=3")
    diff = page.locator("pre.diff")
    expect(diff).to_contain_text("~ v1:ConfigMap:shop:web")
    expect(diff).to_contain_text('attributes.data.LOG_LEVEL: "debug" → "warn"')
    expect(diff).not_to_contain_text("static")
    shoot(page, "compare")


def test_a_maintainer_unlocks_a_reader_is_refused(box: Sandbox, browser: Browser) -> None:
    assert box.server is not None
    lock = backend(box).acquire_lock("shop", "prod", "pr-7", 3600, pull_request=7)
    row = 'tr[data-lock="acme/config:shop/prod"]'

    eve = browser.new_page()
    sign_in(eve, box, "eve", to="/ui/locks")
    expect(eve.locator(row)).to_contain_text("pr-7")
    eve.locator(row).get_by_role("button", name="Unlock").click()
    expect(eve.locator(".notice.refused")).to_contain_text("Refused: you may not unlock shop/prod")
    expect(eve.locator(".notice.refused")).to_contain_text("maintain")
    assert [held.token for held in backend(box).list_locks() if held.key == "shop/prod"] == [lock.token]
    eve.close()

    alice = browser.new_page()
    sign_in(alice, box, "alice", to="/ui/locks")
    expect(alice.locator(row).locator('[data-label="Fencing token"]')).to_have_text(str(lock.token))
    shoot(alice, "locks")
    # A form that lost its CSRF token (as one forged on another site has none) does nothing.
    alice.locator(f'{row} input[name="csrf_token"]').evaluate("field => field.remove()")
    alice.locator(row).get_by_role("button", name="Unlock").click()
    expect(alice.locator(".notice.refused")).to_contain_text("CSRF token is missing or wrong")
    assert [held.token for held in backend(box).list_locks() if held.key == "shop/prod"] == [lock.token]
    alice.goto(f"{box.server.url}/ui/locks")
    alice.locator(row).get_by_role("button", name="Unlock").click()
    expect(alice.locator(".notice.done")).to_contain_text("Unlocked acme/config shop/prod")
    expect(alice.locator(row)).to_have_count(0)
    assert [held for held in backend(box).list_locks() if held.key == "shop/prod"] == []
    alice.close()


def test_open_pull_requests_and_the_locks_they_hold(box: Sandbox, page: Page) -> None:
    pr = open_pr(box, "bob", {"data/dev/main.yaml": replace("size: small", "size: medium")},
                 title="A bigger warehouse")
    box.settle()
    backend(box).acquire_lock("data", "dev", f"pr-{pr.number}", 3600, pull_request=pr.number)
    sign_in(page, box, "alice", to="/ui/pulls")
    row = page.locator(f'tr[data-pull="acme/config#{pr.number}"]')
    expect(row).to_contain_text("A bigger warehouse")
    expect(row.locator('[data-label="Author"]')).to_have_text("bob")
    expect(row.locator('[data-label="Latest preview"]')).to_contain_text("data/dev changes 3 to create")
    expect(row.get_by_role("link", name="data/dev")).to_be_visible()
    shoot(page, "pulls")


def test_a_page_updates_itself_while_open(box: Sandbox, page: Page) -> None:
    sign_in(page, box, "alice", to="/ui/locks")
    page.evaluate("window.stillTheSamePage = true")
    backend(box).acquire_lock("shop", "staging", "pr-9", 3600, pull_request=9)
    expect(page.locator('tr[data-lock="acme/config:shop/staging"]')).to_contain_text("pr-9", timeout=20_000)
    assert page.evaluate("window.stillTheSamePage") is True  # swapped in place, not reloaded


def test_every_page_reads_and_filters_with_javascript_off(box: Sandbox, browser: Browser) -> None:
    record(box, "data", "prod", (config_map("warehouse", SIZE="large"),), actor="alice")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, box, "alice")
    page.fill('input[name="q"]', "data")
    page.select_option('select[name="phase"]', "succeeded")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(f"{box.server.url}/ui?q=data&phase=succeeded")
    expect(page.locator('tr[data-stack="data/prod"]')).to_be_visible()
    expect(page.locator('tr[data-stack="shop/dev"]')).to_have_count(0)
    for path in ("/ui/locks", "/ui/queue", "/ui/drift", "/ui/pulls", "/ui/acme/config/data/prod"):
        answer = page.goto(f"{box.server.url}{path}")
        assert answer is not None and answer.status == 200, path
        expect(page.locator("main h1")).to_be_visible()
    context.close()


def test_readable_on_a_phone(box: Sandbox, browser: Browser) -> None:
    record(box, "shop", "qa", (config_map("web", LOG_LEVEL="info"),), actor="bob", pull_request=4)
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    sign_in(page, box, "alice")
    row = page.locator('tr[data-stack="shop/qa"]')
    expect(row.locator('[data-label="Phase"]')).to_be_visible()
    for path in ("/ui", "/ui/acme/config/shop/qa", "/ui/locks", "/ui/queue"):
        page.goto(f"{box.server.url}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width} px wide on a {PHONE['width']} px phone"
    page.goto(f"{box.server.url}/ui")
    shoot(page, "phone")
    context.close()


def test_signing_out(box: Sandbox, page: Page) -> None:
    assert box.server is not None
    sign_in(page, box, "bob")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_title(re.compile("Signed out"))
    page.goto(f"{box.server.url}/ui/locks")  # back to GitHub's sign-in form
    expect(page.get_by_label("Username")).to_be_visible()
