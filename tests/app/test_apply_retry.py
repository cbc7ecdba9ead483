"""A temporary error while a stack is applied (the state branch unreachable) is raised for the
queue to try the job again, not recorded as the stack's failure for good; a lock held by
someone else stays a failure of that stack, reported at once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.adapters.gitstate import SystemClock, git_backend
from bot.adapters.localfs import LocalConfigReader
from bot.app.configrepo import discover_stacks
from bot.app.locking import LockSession
from bot.app.runner import StackRunner
from bot.app.services import Tree
from bot.app.stacks import StackOps
from bot.core.affected import StackRef
from bot.core.config.settings import RepoSettings
from bot.core.errors import PolicyDenied, TransientError, retry_kind
from bot.core.release import Trigger
from bot.core.reporter import Reporter
from bot.core.runplan import Operation, Provenance, RunPlan
from bot.core.spec import KUBERNETES, TERRAFORM
from tests.app.test_executor import DictRuntime
from tests.conftest import ROOT
from tests.runtimes import stack_runtimes

ACME = ROOT / "fixtures" / "configs" / "acme"


def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    reader = LocalConfigReader(ACME)
    [ref] = [s for s in discover_stacks(reader) if (s.project, s.name) == ("shop", "dev")]
    runtimes = stack_runtimes({KUBERNETES: DictRuntime(KUBERNETES), TERRAFORM: DictRuntime(TERRAFORM)})
    return remote, Tree("acme/config", "0" * 40, reader), ref, runtimes


def command_plan(ref: StackRef) -> RunPlan:
    """An `/apply` on pull request #7: every lock first, kept afterwards."""
    return RunPlan(Operation.APPLY, (ref,), Provenance(Trigger.COMMENT, "alice", "0" * 40, 7),
                   owner="pr:acme/config#7", lease_seconds=600, run_id="comment-1", locks_first=True,
                   keep_locks=True)


class CutOff(Reporter):
    """Makes the state branch's remote unreachable once the run has its locks."""

    def __init__(self, remote: Path) -> None:
        self.remote = remote

    def started(self, plan: RunPlan) -> None:
        self.remote.rename(self.remote.with_name("gone.git"))


def test_an_unreachable_state_branch_during_apply_is_raised_for_a_retry(tmp_path: Path) -> None:
    remote, tree, ref, runtimes = setup(tmp_path)
    with git_backend(remote.as_uri(), "shipmate-state", data_dir=tmp_path / "data") as backend:
        ops = StackOps(backend, lambda ident, ctx, store=None: runtimes, SystemClock(), watch=False)
        with pytest.raises(TransientError) as raised:
            StackRunner(ops, tree, RepoSettings(), CutOff(remote)).run(command_plan(ref))
        assert retry_kind(raised.value) == "temporary"
        (tmp_path / "gone.git").rename(remote)
        assert [(lock.key, lock.owner) for lock in backend.list_locks()] == [("shop/dev", "pr:acme/config#7")]
        assert backend.latest("shop", "dev") is None  # nothing half-written


def test_a_lock_held_by_another_owner_fails_that_stack_at_once(tmp_path: Path) -> None:
    remote, tree, ref, runtimes = setup(tmp_path)
    with git_backend(remote.as_uri(), "shipmate-state", data_dir=tmp_path / "data") as backend:
        ops = StackOps(backend, lambda ident, ctx, store=None: runtimes, SystemClock(), watch=False)
        backend.acquire_lock("shop", "dev", "pr:acme/config#3", 600, 3)
        plan = RunPlan(Operation.APPLY, (ref,), Provenance(Trigger.PUSH, "bob", "a" * 40), owner="push:acme/config@abc")
        [run] = StackRunner(ops, tree, RepoSettings()).run(plan).stacks
        assert not run.ok and "pr:acme/config#3" in (run.error or "")


def test_a_stack_takes_its_lock_from_the_session_not_again(tmp_path: Path) -> None:
    # /apply takes every lock first; the stack then uses that lock: no second acquisition
    # (which cost one state-branch commit and a fencing-token bump per stack).
    remote, tree, ref, runtimes = setup(tmp_path)
    with git_backend(remote.as_uri(), "shipmate-state", data_dir=tmp_path / "data") as backend:
        ops = StackOps(backend, lambda ident, ctx, store=None: runtimes, SystemClock(), watch=False)
        commits = int(subprocess.run(["git", "rev-list", "--count", "--all"], cwd=remote,
                                     capture_output=True, text=True, check=True).stdout)
        result = StackRunner(ops, tree, RepoSettings()).run(command_plan(ref))
        assert [run.ok for run in result.stacks] == [True]
        [lock] = backend.list_locks()
        assert lock.owner == "pr:acme/config#7" and lock.token == 1  # taken once, never re-taken
        after = int(subprocess.run(["git", "rev-list", "--count", "shipmate-state"], cwd=remote,
                                   capture_output=True, text=True, check=True).stdout)
        messages = subprocess.run(["git", "log", "--format=%s", f"-{after - commits}", "shipmate-state"], cwd=remote,
                                  capture_output=True, text=True, check=True).stdout
        assert messages.count("acquired") == 1  # the run's one acquisition; the rest are the release's writes


def test_a_lock_held_elsewhere_refuses_the_whole_run_and_gives_back_what_it_took(tmp_path: Path) -> None:
    remote, tree, ref, runtimes = setup(tmp_path)
    with git_backend(remote.as_uri(), "shipmate-state", data_dir=tmp_path / "data") as backend:
        backend.acquire_lock("shop", "prod", "pr:acme/config#3", 600, 3)
        session = LockSession(backend, "pr:acme/config#7", 600, pull_request=7)
        with pytest.raises(PolicyDenied, match=r"comment `/unlock` on #3"):
            session.acquire_all([("shop", "dev"), ("shop", "prod")])
        assert [(lock.key, lock.owner) for lock in backend.list_locks()] == [("shop/prod", "pr:acme/config#3")]
        assert session.held == ()
