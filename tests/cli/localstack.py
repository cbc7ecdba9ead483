"""A config repository whose stack `shop/dev` holds `Local` files (`tests/localruntime`), with a
directory state backend: a stack the `shipmate` command can apply and destroy in milliseconds,
with nothing but files. `site(tmp)` installs the runtime the way a package would be."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from bot.cli import main

ENTRY_POINTS = ("[shipmate.runtimes]\nLocal = tests.localruntime.runtime:PLUGIN\n\n"
                "[shipmate.modules]\nlocalfile = tests.localruntime.module:LocalFile\n")


def site(tmp: Path) -> Path:
    """A directory for `sys.path` holding the `shipmate-local` distribution's entry points."""
    dist = tmp / "site" / "shipmate_local-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shipmate-local\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    return tmp / "site"


class LocalStack:
    """The repository under `tmp/repo`, its files under `tmp/files`, its releases under `tmp/state`."""

    def __init__(self, tmp: Path, **files: str) -> None:
        self.repo, self.files, self.state = tmp / "repo", tmp / "files", tmp / "state"
        self.files.mkdir()
        self.write("shop/project.yaml", "name: shop\n")
        self.write("shop/dev/stack.yaml", "name: dev\n")
        self.write("workspaces/dev.yaml", yaml.safe_dump({"context": {"LOCAL_ROOT": str(self.files)}}))
        self.accessories(**files)

    def write(self, rel: str, text: str) -> None:
        (self.repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (self.repo / rel).write_text(text)

    def accessories(self, **files: str) -> None:
        apps = {"web": {"accessories": {
            name: {"_type": "localfile.File", "path": f"{name}.txt", "content": content}
            for name, content in files.items()
        }}}
        self.write("shop/dev/main.yaml", yaml.safe_dump(apps))

    def where(self) -> list[str]:
        """The options naming this stack and its backend."""
        return ["-w", str(self.repo / "shop" / "dev"), "--backend", f"local:{self.state}"]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`shipmate ARGV` in process: (exit code, stdout, stderr) of this call alone."""
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def installed_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **files: str) -> LocalStack:
    """A `LocalStack` whose `Local` runtime and module are installed for this test."""
    monkeypatch.syspath_prepend(str(site(tmp_path)))
    importlib.invalidate_caches()
    return LocalStack(tmp_path, **files)
