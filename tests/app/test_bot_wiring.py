"""How `bot.wiring` assembles the bot: token or GitHub App credentials against the GitHub
simulator, the router's handlers, and no pull-request handling without credentials."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.adapters.localfs.datafiles import JsonRepositoryBook
from bot.app.outcomes import Outcomes
from bot.app.router import EventRouter
from bot.cli.sandbox import app_key_pair
from bot.core.mask import MASK
from bot.core.outcome import RunResult
from bot.core.release import Trigger
from bot.core.reporter import Reporter
from bot.core.runplan import Operation, Provenance, RunPlan
from bot.settings import GitHubSettings, Settings, StorageSettings
from bot.wiring import (
    Adapters,
    Overrides,
    build_bot,
    build_cli,
    build_router,
    build_services,
    build_stack_ops,
)
from fixtures.github_sim import GitHubSim, SimUser


def test_a_github_app_acts_per_installation(tmp_path: Path) -> None:
    private, public = app_key_pair()
    with GitHubSim.start(tmp_path / "gh", users=[SimUser("alice", "tok-a", "admin")]) as gh:
        gh.register_app(42, "shipmate", public, installation_id=7)
        gh.create_repo("acme", "config", auto_init=True)
        settings = Settings(github=GitHubSettings(app_id=42, app_private_key=private, api_url=gh.api_url, throttle=False),
                            storage=StorageSettings(data_dir=tmp_path / "data"))
        services = build_services(settings, {})
        found = services.access("acme/config")  # no event: the installation is looked up
        assert found.host.bot_login() == "shipmate[bot]"
        assert found.host.branch_head("acme/config", "main") == gh.client("tok-a").get_repo("acme/config").get_branch("main").commit.sha
        assert services.access("acme/config", 7) is found
        tree = services.base_tree(found, "acme/config", "main")
        assert tree.reader.read("README.md") is not None and tree.settings().apply == "both"


def test_token_credentials_and_the_router(tmp_path: Path) -> None:
    with GitHubSim.start(tmp_path / "gh", users=[SimUser("shipmate", "tok-s", "write")]) as gh:
        settings = Settings(github=GitHubSettings(token="tok-s", api_url=gh.api_url),
                            storage=StorageSettings(data_dir=tmp_path / "data"))
        bot = build_bot(settings, {})
        assert isinstance(bot.handler, Outcomes) and bot.services is not None and bot.book is not None
        router = bot.handler.router  # wrapped: the job's outcome is told on the pull request
        assert isinstance(router, EventRouter)
        assert router.handled_types() == ("CheckDrift", "CheckRunAction", "IssueClosed", "IssueCommentEvent", "PingEvent", "PullRequestEvent",
                                          "PushEvent", "SweepLocks")
        assert bot.services.access("acme/config", 99) is bot.services.access("other/repo", None)
        assert bot.book.repositories() == {}  # an accessor records nothing: the router records events' repositories
        bot.book.remember("acme/config", 99)
        assert JsonRepositoryBook(tmp_path / "data").repositories() == {"acme/config": 99}
    plain = build_router(Settings(storage=StorageSettings(data_dir=tmp_path / "plain")), {})
    assert plain.handled_types() == ("PingEvent",)


def test_overrides_are_given_when_the_services_are_built(tmp_path: Path) -> None:
    # The Action's inputs (state branch, concurrency, the collector of results) are passed in,
    # not set on built services: the services are frozen.
    class Told(Reporter):
        def __init__(self) -> None:
            self.told: list[tuple[RunPlan, RunResult]] = []

        def finished(self, plan: RunPlan, result: RunResult) -> None:
            self.told.append((plan, result))

    extra = Told()
    with GitHubSim.start(tmp_path / "gh", users=[SimUser("shipmate", "tok-s", "write")]) as gh:
        gh.create_repo("acme", "config", auto_init=True)
        settings = Settings(github=GitHubSettings(token="tok-s", api_url=gh.api_url, throttle=False),
                            storage=StorageSettings(data_dir=tmp_path / "data"))
        plain = build_bot(settings, {}).services
        bot = build_bot(settings, {}, overrides=Overrides(backend_branch="ci-state", concurrency=3, reporter=extra))
        assert plain is not None and bot.services is not None
        assert plain.concurrency is None and bot.services.concurrency == 3
        plan = RunPlan(Operation.DESTROY, (), Provenance(Trigger.ACTION))
        bot.services.reporter(bot.services.access("acme/config")).finished(plan, RunResult())
        plain.reporter(plain.access("acme/config")).finished(plan, RunResult())
        assert extra.told == [(plan, RunResult())]  # told beside the pull request, by the overridden bot only
        access = bot.services.access("acme/config")
        # Whatever branch shipmate.yaml names, the state is on the overriding one.
        assert access.backends("acme/config", "shipmate-state") is access.backends("acme/config", "other")
        plain_access = plain.access("acme/config")
        assert plain_access.backends("acme/config", "a") is not plain_access.backends("acme/config", "b")
        with pytest.raises(dataclasses.FrozenInstanceError):
            bot.services.concurrency = 1  # type: ignore[misc]


def test_the_stack_commands_and_the_bot_build_their_stack_use_cases_alike(tmp_path: Path) -> None:
    from bot.adapters.gitstate import open_backend
    from bot.core.mask import Masker

    settings = Settings.from_env({"SHIPMATE_SECRET_SALT": "pepper", "SHIPMATE_DATA_DIR": str(tmp_path / "data"),
                                  "HOME": str(tmp_path / "home")})
    backend = open_backend(f"local:{tmp_path / 'state'}")
    cli = build_cli(settings, {}, backend, root=tmp_path, concurrency=3, watch=False, timeout=30.0,
                    ignore_fields=("metadata.labels",))
    bot = build_stack_ops(settings, {}, masker=Masker(), server=True)(backend)
    assert (cli.secret_salt, cli.concurrency, cli.backend) == ("pepper", 3, backend)
    assert (cli.watch, cli.timeout_seconds, cli.ignore_fields) == (False, 30.0, ("metadata.labels",))
    assert cli.masker is not None and cli.masker.text("salt: pepper") == f"salt: {MASK}"  # never printed
    assert (bot.secret_salt, bot.concurrency, bot.backend) == ("pepper", 10, backend)


def test_the_bot_works_over_given_adapters_without_credentials(tmp_path: Path) -> None:
    with GitHubSim.start(tmp_path / "gh", users=[SimUser("shipmate", "tok-s", "write")]) as gh:
        gh.create_repo("acme", "config", auto_init=True)
        github = build_services(Settings(github=GitHubSettings(token="tok-s", api_url=gh.api_url, throttle=False),
                                         storage=StorageSettings(data_dir=tmp_path / "gh-data")), {})
        bot = build_bot(Settings(storage=StorageSettings(data_dir=tmp_path / "data")), {},
                        adapters=Adapters(access_for=github.access_for))
        assert isinstance(bot.handler, Outcomes) and bot.services is not None
        assert isinstance(bot.handler.router, EventRouter) and "PullRequestEvent" in bot.handler.router.handled_types()
        access = bot.services.access("acme/config")
        assert access.host.default_branch("acme/config") == "main"
