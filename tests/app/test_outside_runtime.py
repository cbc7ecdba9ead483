"""A runtime from outside Shipmate adds preview, apply, destroy, import and drift for its type.

`tests/localruntime` is installed the way a package would be: a distribution on `sys.path`
whose `entry_points.txt` declares the `Local` runtime (`shipmate.runtimes`) and the
`localfile` module that generates its resources (`shipmate.modules`). The stack is driven
through the `shipmate` command with a directory state backend; the files are real.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import yaml

from bot.adapters import logmask
from bot.cli import main
from bot.core.mask import Masker
from bot.core.runtimes import Capability
from bot.settings import Settings
from bot.wiring import build_masker, discover_runtimes

NOTES = "local:file:web-notes"
LEGACY = "local:file:web-legacy"


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    dist = site / "shipmate_local-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shipmate-local\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[shipmate.runtimes]\nLocal = tests.localruntime.runtime:PLUGIN\n\n"
        "[shipmate.modules]\nlocalfile = tests.localruntime.module:LocalFile\n"
    )
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()


class Stack:
    """A config repository with stack shop/dev whose app `web` has Local files as accessories."""

    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.repo, self.files, self.state = tmp_path / "repo", tmp_path / "files", tmp_path / "state"
        self.files.mkdir()
        self.capsys = capsys
        self.write("shop/project.yaml", "name: shop\n")
        self.write("shop/dev/stack.yaml", "name: dev\n")
        self.workspace()

    def write(self, rel: str, text: str) -> None:
        (self.repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (self.repo / rel).write_text(text)

    def workspace(self, imported: dict[str, str] | None = None) -> None:
        configs = {"default": {"importedResources": imported}} if imported else {}
        body = {"modules": {"localfile": {"configs": configs}} if configs else {},
                "context": {"LOCAL_ROOT": str(self.files)}}
        self.write("workspaces/dev.yaml", yaml.safe_dump(body))

    def accessories(self, **files: str) -> None:
        apps = {"web": {"accessories": {
            name: {"_type": "localfile.File", "path": f"{name}.txt", "content": content}
            for name, content in files.items()
        }}}
        self.write("shop/dev/main.yaml", yaml.safe_dump(apps))

    def run(self, *argv: str) -> tuple[int, str]:
        self.capsys.readouterr()
        code = main([*argv, "-w", str(self.repo / "shop" / "dev"), "--backend", f"local:{self.state}"])
        out = self.capsys.readouterr()
        return code, out.out + out.err

    def actions(self) -> dict[str, str]:
        code, out = self.run("preview", "-o", "json")
        assert code == 0, out
        return {rid: step["action"] for rid, step in json.loads(out)["changeSteps"].items()}

    def recorded(self) -> list[str]:
        code, out = self.run("release", "show", "-o", "json")
        assert code == 0, out
        return sorted(r["id"] for r in json.loads(out)["state"]["resources"])


def test_the_outside_plugin_is_found_through_the_entry_point_group(installed: None) -> None:
    plugins = {p.type: p.capabilities for p in discover_runtimes()}
    assert plugins == {
        "Ansible": {Capability.BATCH},
        "Kubernetes": {Capability.READINESS, Capability.IMPORT, Capability.API_OBJECTS, Capability.FIELD_MANAGERS},
        "Local": {Capability.IMPORT},
        "Terraform": {Capability.BATCH, Capability.IMPORT, Capability.RECORDED_STATE},
    }


def test_preview_apply_drift_update_and_destroy_of_local_files(
    installed: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = Stack(tmp_path, capsys)
    stack.accessories(notes="hello\n")
    assert stack.actions() == {NOTES: "Create"}

    code, out = stack.run("apply", "--yes")
    assert code == 0, out
    assert (stack.files / "notes.txt").read_text() == "hello\n"
    assert stack.recorded() == [NOTES]
    assert stack.actions() == {NOTES: "UnChanged"}

    # Drift: an out-of-band edit shows as an Update back to the Spec.
    (stack.files / "notes.txt").write_text("edited by hand\n")
    code, out = stack.run("preview", "--exit-code")
    assert code == 2 and "edited by hand" in out, out
    assert stack.actions() == {NOTES: "Update"}

    stack.accessories(notes="hello again\n")
    assert stack.actions() == {NOTES: "Update"}
    code, out = stack.run("apply", "--yes")
    assert code == 0, out
    assert (stack.files / "notes.txt").read_text() == "hello again\n"

    code, out = stack.run("destroy", "--yes")
    assert code == 0, out
    assert not (stack.files / "notes.txt").exists()
    assert stack.recorded() == []


def test_an_existing_file_is_adopted_or_imported_and_recorded(
    installed: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = Stack(tmp_path, capsys)
    # Adoption: the file exists as the Spec says but nothing recorded it.
    (stack.files / "notes.txt").write_text("hello\n")
    # Import: a file the workspace names by import ID, whatever it holds.
    (stack.files / "legacy.txt").write_text("made by hand\n")
    stack.workspace(imported={LEGACY: "legacy.txt"})
    stack.accessories(notes="hello\n", legacy="ignored: imported as it is\n")
    assert stack.actions() == {LEGACY: "UnChanged", NOTES: "UnChanged"}

    code, out = stack.run("apply", "--yes")
    assert code == 0, out
    assert stack.recorded() == [LEGACY, NOTES]
    assert (stack.files / "legacy.txt").read_text() == "made by hand\n"

    # Destroy deletes what was adopted and leaves what was imported in place.
    code, out = stack.run("destroy", "--yes")
    assert code == 0, out
    assert not (stack.files / "notes.txt").exists()
    assert (stack.files / "legacy.txt").read_text() == "made by hand\n"



@pytest.mark.parametrize(("line", "reason"), [
    ("Local = tests.localruntime.missing:PLUGIN", "No module named 'tests.localruntime.missing'"),
    ("Local = tests.localruntime.runtime:LocalRuntime", "missing 1 required positional argument"),
    ("Files = tests.localruntime.runtime:PLUGIN", "the entry point's name must be the resource type it serves, 'Local'"),
])
def test_a_broken_plugin_is_an_error_naming_its_entry_point(
    line: str, reason: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dist = tmp_path / "site" / "broken-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[shipmate.runtimes]\n{line}\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    stack = Stack(tmp_path, capsys)
    stack.accessories(notes="hello\n")
    code, out = stack.run("preview")
    name, value = (part.strip() for part in line.split("="))
    assert code == 2
    assert f"runtime entry point {name!r} ({value}) in group shipmate.runtimes cannot be used: " in out
    assert reason in out


def test_the_bots_masker_keeps_the_state_of_recorded_state_runtimes_lossless(installed: None) -> None:
    before = logmask.installed()
    try:
        masker = build_masker(Settings(), {})
    finally:
        logmask.install(before if before is not None else Masker())
    assert masker.lossless == {"Terraform"}  # Local records nothing it rebuilds from
