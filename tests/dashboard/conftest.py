"""The dashboard in a real browser: Debian's Chromium driven by Playwright (sync API,
headless), against Shipmate served as `shipmate serve` serves it inside the sandbox (the
GitHub and Kubernetes simulators, the acme config repository, its state branch).

One browser per test module (`browser`), a fresh context (cookies, viewport) per test
(`page`); `sign_in` signs in through the simulated GitHub's sign-in form. Screenshots for docs/images are written only when SHIPMATE_SCREENSHOTS is set
(`shoot`), so a normal run leaves the tree as it was.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from bot.cli.sandbox import REPO, Sandbox
from bot.core.ports import StateBackend
from bot.core.release import Phase, Release, Trigger
from bot.core.spec import Resource, Spec, State

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "docs" / "images"
# Chromium as root in a machine with no network of its own: no sandbox, and none of the
# background connections it would make at every start.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
    "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage",
]
PHONE = {"width": 390, "height": 844}
# What the pages show comes from git, the queue and the simulators: on 2 busy cores (the whole
# suite, other work) an answer may take a few seconds.
expect.set_options(timeout=15_000)
DESKTOP = {"width": 1280, "height": 800}


def chromium() -> str:
    """The browser SHIPMATE_CHROMIUM names, else Debian's Chromium (scripts/install), else a
    Chrome already on the machine (GitHub's runners have one)."""
    named = os.environ.get("SHIPMATE_CHROMIUM")
    found = named or next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome",
                                                           "google-chrome-stable")) if p), None)
    assert found, "Chromium is not installed (./scripts/install installs Debian's chromium)"
    return found


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=chromium(), headless=True, args=CHROMIUM_ARGS)
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def shoot(page: Page, name: str) -> None:
    """docs/images/dashboard-<name>.png of the page as shown, when SHIPMATE_SCREENSHOTS asks."""
    if os.environ.get("SHIPMATE_SCREENSHOTS"):
        IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(IMAGES / f"dashboard-{name}.png"), full_page=True)


# --- the served world ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The sandbox serving the dashboard, the acme repository known to the bot."""
    with Sandbox.start(tmp_path_factory.mktemp("dashboard")) as sandbox:
        assert sandbox.bot.book is not None
        sandbox.bot.book.remember(REPO, None)
        yield sandbox


def backend(box: Sandbox) -> StateBackend:
    """The acme repository's state branch, as the bot writes it."""
    return box.services.access(REPO).backends(REPO, "shipmate-state")


def record(box: Sandbox, project: str, workspace: str, resources: tuple[Resource, ...], *, actor: str,
           trigger: Trigger = Trigger.COMMENT, pull_request: int | None = None, commit: str = "",
           at: datetime | None = None) -> Release:
    """A release of `resources` recorded on the state branch as an apply records it (at `at`,
    default now): started (applying), then finished succeeded with them as its state."""
    state = backend(box)
    started = Release.start(project, workspace, workspace, latest=state.latest(project, workspace),
                            now=at or datetime.now(UTC), trigger=trigger, actor=actor, commit=commit,
                            pull_request=pull_request, spec=Spec(resources), phase=Phase.APPLYING)
    created = state.create(started)
    return state.finish(replace(created, phase=Phase.SUCCEEDED, state=State.of(resources)), None)


def config_map(name: str, **data: str) -> Resource:
    return Resource(f"v1:ConfigMap:shop:{name}", "Kubernetes",
                    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "shop"},
                     "data": data})


def sign_in(page: Page, box: Sandbox, login: str, *, to: str = "/ui") -> None:
    """Open `to` and sign in as `login` as a person does: the dashboard sends the browser to
    the simulated GitHub, whose sign-in form takes the login, and GitHub sends it back."""
    assert box.server is not None
    page.goto(f"{box.server.url}{to}")
    page.get_by_label("Username").fill(login)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{box.server.url}{to}")
