"""`shipmate release list | show | unlock` against real git repositories and directories."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.adapters.gitstate import StoreBackend, git_backend, local_backend
from bot.cli import main
from bot.core.release import Phase, Release, Trigger
from bot.core.spec import Resource, Spec, State
from tests.golden import assert_golden

GOLDEN = Path(__file__).parent / "golden" / "release"
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
NS = Resource("v1:Namespace:shop", "Kubernetes",
              {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
CM = Resource("v1:ConfigMap:shop:web", "Kubernetes",
              {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web", "namespace": "shop"},
               "data": {"greeting": "hello"}}, depends_on=("v1:Namespace:shop",))


class Clock:
    def now(self) -> datetime:
        return T0 + timedelta(hours=1)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          check=True, capture_output=True, text=True).stdout


def config_repo(tmp_path: Path, origin: bool = True, settings: str | None = None) -> tuple[Path, Path]:
    """A config repository with stack shop/prod (workspace prod), pushed to a bare origin."""
    work = tmp_path / "config"
    (work / "shop" / "prod").mkdir(parents=True)
    (work / "shop" / "project.yaml").write_text("name: shop\n")
    (work / "shop" / "prod" / "stack.yaml").write_text("name: prod\n")
    if settings is not None:
        (work / "shipmate.yaml").write_text(settings)
    subprocess.run(["git", "init", "--quiet", "-b", "main", str(work)], check=True)
    git(work, "add", ".")
    git(work, "commit", "--quiet", "-m", "config")
    state_repo = work
    if origin:
        state_repo = tmp_path / "origin.git"
        subprocess.run(["git", "init", "--quiet", "--bare", str(state_repo)], check=True)
        git(work, "remote", "add", "origin", "../origin.git")
        git(work, "push", "--quiet", "origin", "main")
    return work, state_repo


def history(backend: StoreBackend, running: bool = False) -> None:
    """r1 succeeded (push by alice), r2 failed (PR #7 comment by bob)[, r3 applying + lock]."""
    r1 = Release.start("shop", "prod", "prod", latest=None, now=T0, trigger=Trigger.PUSH,
                       actor="alice", commit="a" * 40, phase=Phase.PREVIEWING, spec=Spec((NS, CM)))
    r1 = backend.create(r1)
    r1 = backend.update(r1.with_phase(Phase.APPLYING, T0 + timedelta(seconds=2)))
    r1 = backend.update(r1.with_state(State.of([NS, CM]), T0 + timedelta(seconds=3)))
    r1 = backend.finish(r1.succeeded(T0 + timedelta(seconds=4)), None)
    later = T0 + timedelta(minutes=30)
    r2 = Release.start("shop", "prod", "prod", latest=r1, now=later, trigger=Trigger.COMMENT,
                       actor="bob", commit="b" * 40, pull_request=7)
    r2 = backend.create(r2)
    backend.update(r2.failed(later + timedelta(seconds=1), "workspaces/prod.yaml: no such module"))
    if running:
        lock = backend.acquire_lock("shop", "prod", "pr-9", 600, pull_request=9, run_id="31")
        r3 = Release.start("shop", "prod", "prod", latest=backend.latest("shop", "prod"),
                           now=later + timedelta(minutes=5), trigger=Trigger.COMMENT, actor="carol",
                           pull_request=9, phase=Phase.PREVIEWING, spec=Spec((NS, CM)))
        r3 = backend.create(r3, lock)
        backend.update(r3.with_phase(Phase.APPLYING, later + timedelta(minutes=6)), lock)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["release", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def golden(name: str, text: str, tmp_path: Path) -> None:
    assert_golden(GOLDEN / name, text.replace(str(tmp_path), "<tmp>"))


def test_list_show_and_unlock_on_the_state_branch_of_the_stacks_repository(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    work, origin = config_repo(tmp_path)
    with git_backend(str(origin), clock=Clock()) as backend:
        history(backend, running=True)
    stack = str(work / "shop" / "prod")

    code, out, err = run(capsys, "list", "-w", stack)
    assert (code, err) == (0, "")
    golden("list.txt", out, tmp_path)

    code, out, _ = run(capsys, "show", "-w", stack, "--revision", "1")
    assert code == 0
    golden("show-r1.yaml", out, tmp_path)
    code, out, _ = run(capsys, "show", "-w", stack, "--revision", "2", "-o", "json")
    assert code == 0
    golden("show-r2.json", out, tmp_path)
    assert json.loads(out)["error"] == "workspaces/prod.yaml: no such module"
    code, out, _ = run(capsys, "show", "-w", stack)
    assert code == 0 and "revision: 3\n" in out and "phase: applying\n" in out

    monkeypatch.setenv("LOGNAME", "ops")
    code, out, err = run(capsys, "unlock", "-w", stack)
    assert (code, err) == (0, "")
    golden("unlock.txt", out, tmp_path)
    code, out, _ = run(capsys, "unlock", "-w", stack)
    assert out == "shop/prod: nothing to unlock (no release in progress, no lock held)\n"
    code, out, _ = run(capsys, "show", "-w", stack, "-o", "json")
    shown = json.loads(out)
    assert (shown["phase"], shown["error"]) == ("failed", "unlocked by ops while applying")
    assert len(shown["state"]["resources"]) == 2
    assert git(origin, "log", "-1", "--format=%s", "shipmate-state") == (
        "unlock shop/prod by ops: r3 marked failed (was applying), lock of pr-9 (pull request #9, "
        "run 31) (token 1) freed\n"
    )


def test_missing_revision_and_empty_history_are_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    work, origin = config_repo(tmp_path)
    stack = str(work / "shop" / "prod")
    code, out, err = run(capsys, "show", "-w", stack)
    assert code == 2 and out == ""
    assert err == f"branch shipmate-state of {origin}: shop/prod has no releases\n"
    code, out, _ = run(capsys, "list", "-w", stack)
    assert out == f"shop/prod on branch shipmate-state of {origin}\nno releases yet\n"
    with git_backend(str(origin)) as backend:
        history(backend)
    code, out, err = run(capsys, "show", "-w", stack, "--revision", "9")
    assert code == 2
    assert err == "--revision: shop/prod has no revision 9 (revisions are 1..2)\n"


def test_without_origin_the_repository_itself_holds_the_branch_named_in_shipmate_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    work, _ = config_repo(tmp_path, origin=False, settings="backend: {branch: deploy-state}\n")
    with git_backend(str(work), "deploy-state") as backend:
        history(backend)
    code, out, _ = run(capsys, "list", "-w", str(work / "shop" / "prod"))
    assert code == 0 and out.startswith(f"shop/prod on branch deploy-state of {work}\n")
    assert [line.split()[:2] for line in out.splitlines()[2:]] == [["1", "succeeded"], ["2", "failed"]]
    assert git(work, "status", "--porcelain") == ""


def test_explicit_backends_and_names_need_no_stack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    with local_backend(tmp_path / "state") as backend:
        history(backend)
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "list", "--project", "shop", "--workspace", "prod",
                       "--backend", f"local:{tmp_path / 'state'}")
    assert code == 0 and out.splitlines()[0] == f"shop/prod on directory {tmp_path / 'state'}"
    origin = tmp_path / "other.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(origin)], check=True)
    with git_backend(str(origin), "audit") as backend:
        history(backend)
    code, out, _ = run(capsys, "show", "--project", "shop", "--workspace", "prod", "-o", "json",
                       "--backend", f"git:file://{origin}#audit")
    assert code == 0 and json.loads(out)["revision"] == 2


@pytest.mark.parametrize(
    ("setup", "argv", "expected"),
    [
        ("nostack", ["list"], "not a stack directory: expected stack.yaml here (or pass --project "
                              "and --workspace)"),
        ("noproject", ["list"], "no project.yaml found in this directory or above it"),
        ("stack", ["list", "--backend", "s3:bucket"], "--backend: 's3:bucket' is not a backend"),
        ("stack", ["list", "--backend", "git:/nowhere"], "is not a git repository"),
        ("badstack", ["list"], "stack.yaml:1:1: expected a mapping"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, argv: list[str], expected: str
):
    work, _ = config_repo(tmp_path)
    stack = work / "shop" / "prod"
    if setup == "nostack":
        (stack / "stack.yaml").unlink()
    elif setup == "noproject":
        (work / "shop" / "project.yaml").unlink()
    elif setup == "badstack":
        (stack / "stack.yaml").write_text("- not a mapping\n")
    code, out, err = run(capsys, *argv, "-w", str(stack))
    assert code == 2 and out == ""
    assert expected in err and "Traceback" not in err


def test_diff_shows_what_changed_between_two_revisions(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    work, origin = config_repo(tmp_path)
    secret = Resource("v1:Secret:shop:db", "Kubernetes",
                      {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
                       "data": {"password": "(sensitive value)"}}, depends_on=("v1:Namespace:shop",))
    changed = Resource(CM.id, CM.type, {**CM.attributes, "data": {"greeting": "hi", "farewell": "bye"}},
                       depends_on=CM.depends_on)
    with git_backend(str(origin), clock=Clock()) as backend:
        history(backend)
        later = T0 + timedelta(hours=2)
        r3 = Release.start("shop", "prod", "prod", latest=backend.latest("shop", "prod"), now=later,
                           trigger=Trigger.PUSH, actor="carol", commit="c" * 40, phase=Phase.PREVIEWING,
                           spec=Spec((NS, changed, secret)))
        r3 = backend.create(r3)
        r3 = backend.update(r3.with_phase(Phase.APPLYING, later))
        r3 = backend.update(r3.with_state(State.of([NS, changed, secret]), later))
        backend.finish(r3.succeeded(later), None)
    stack = str(work / "shop" / "prod")
    code, out, err = run(capsys, "diff", "1", "3", "-w", stack)
    assert (code, err) == (0, "")
    golden("diff-r1-r3.txt", out, tmp_path)
    code, out, _ = run(capsys, "diff", "1", "3", "-w", stack, "-o", "json")
    assert code == 0
    golden("diff-r1-r3.json", out, tmp_path)
    doc = json.loads(out)
    assert [c["id"] for c in doc["spec"] if c["kind"] == "added"] == ["v1:Secret:shop:db"]
    assert "hunter" not in out and "(sensitive value)" not in out  # added resources are named, not dumped
    code, out, _ = run(capsys, "diff", "3", "3", "-w", stack)
    assert out == "shop/prod: r3 → r3\nno difference\n"
    code, out, err = run(capsys, "diff", "1", "9", "-w", stack)
    assert code == 2 and out == "" and "shop/prod has no revision 9 (revisions are 1..3)" in err
