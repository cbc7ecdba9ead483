"""action.yml's cache key: the step that names Shipmate's virtualenv and its key runs as a
runner would run it (bash, the interpreter the step is given, the runner's variables), over a
copy of the action's files. The key holds while nothing the install reads changes, and moves
with a source file, a requirement, or the interpreter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def locate_step() -> dict[str, object]:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    [step] = [s for s in action["runs"]["steps"] if s.get("id") == "venv"]
    return step


def run_step(action_path: Path, tmp_path: Path, python: str = sys.executable,
             extra: dict[str, str] | None = None) -> dict[str, str]:
    step = locate_step()
    assert step["env"] == {"ACTION_PATH": "${{ github.action_path }}"}
    script = str(step["run"]).replace("${{ inputs.python }}", python)
    output = tmp_path / "github-output"
    output.write_text("")
    done = subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True, timeout=60, env={
        "PATH": os.environ["PATH"], "ACTION_PATH": str(action_path), "GITHUB_OUTPUT": str(output),
        "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64", "RUNNER_TOOL_CACHE": str(tmp_path / "tool-cache"),
        **(extra or {})})
    assert done.returncode == 0, done.stderr
    return dict(line.split("=", 1) for line in output.read_text().splitlines())


def copy_of_the_action(tmp_path: Path) -> Path:
    copy = tmp_path / "action"
    for part in ("bot", "actions", "fixtures"):
        shutil.copytree(ROOT / part, copy / part, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def test_the_key_holds_until_what_the_install_reads_changes(tmp_path: Path) -> None:
    action = copy_of_the_action(tmp_path)
    first = run_step(action, tmp_path)
    assert first["path"] == str(tmp_path / "tool-cache" / "shipmate-venv")
    assert first["key"].startswith("shipmate-Linux-X64-") and len(first["key"]) == len("shipmate-Linux-X64-") + 32

    (action / "bot" / "__pycache__").mkdir(exist_ok=True)
    (action / "bot" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"compiled")
    (action / "README.md").write_text("not installed from")
    assert run_step(action, tmp_path) == first
    # The fixtures hold a symlink to /proc/self/environ: counted by its target, never read.
    assert (action / "fixtures/configs/bad/symlink-outside/shop/dev/main.yaml").is_symlink()
    assert run_step(action, tmp_path, extra={"SOMETHING_ELSE": "1"}) == first

    core = action / "bot" / "core" / "commands.py"
    core.write_text(core.read_text() + "\n# changed\n")
    changed_source = run_step(action, tmp_path)["key"]
    assert changed_source != first["key"]

    (action / "pyproject.toml").write_text((action / "pyproject.toml").read_text().replace(
        '"pyyaml>=6"', '"pyyaml>=6.0.1"'))
    changed_requirement = run_step(action, tmp_path)["key"]
    assert changed_requirement not in (first["key"], changed_source)


def test_the_key_names_the_interpreter(tmp_path: Path) -> None:
    action = copy_of_the_action(tmp_path)
    venv = tmp_path / "other-python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    # Another prefix of the same Python is the same interpreter; a virtualenv is tied to the
    # base installation, which the key names.
    assert run_step(action, tmp_path, str(venv / "bin" / "python")) == run_step(action, tmp_path)
    # Debian's Python beside the one the tests run on: another installation, another key.
    debian = Path("/usr/bin/python3")
    assert debian.exists() and sys.base_prefix != "/usr"
    assert run_step(action, tmp_path, str(debian))["key"] != run_step(action, tmp_path)["key"]


def test_what_the_action_installs_and_caches_holds_nothing_of_the_installing_process(tmp_path: Path) -> None:
    """The wheel `pip install <action>` builds, with a canary in the builder's environment: no
    member carries the environment (the invalid-config fixtures, one of which links to
    /proc/self/environ, stay out of the package)."""
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".tools", "build", "*.egg-info", "__pycache__", "node_modules"))
    canary = f"canary-{os.getpid()}-{tmp_path.name}"
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
                           "--no-deps", "-w", str(tmp_path / "wheel"), str(source)],
                          capture_output=True, text=True, timeout=240,
                          env={**os.environ, "SHIPMATE_CANARY": canary})
    assert done.returncode == 0, done.stderr
    [wheel] = (tmp_path / "wheel").glob("shipmate-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert any(name.startswith("fixtures/configs/") for name in names)
        assert not [name for name in names if name.startswith("fixtures/configs/bad/")]
        assert not [name for name in names if canary.encode() in archive.read(name)]
