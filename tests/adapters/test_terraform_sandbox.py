"""Terraform as a child of the bot: what a stack's configuration can read, and what is left
running when the bot dies. Real Terraform, the offline null provider and real bubblewrap.

The bot side runs in its own Python process (`BOT`, below) whose environment holds fake
credentials, as `shipmate serve` would: the tests read what Terraform's `file()` could see
and kill that process to check nothing of Terraform survives it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.adapters.terraform import TerraformSettings, sandbox
from bot.adapters.terraform.runner import _group_members
from bot.core.errors import ConfigError
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "GITHUB_TOKEN": "ghp_FAKEtokenFAKEtokenFAKEtoken0001",
    "SHIPMATE_WEBHOOK_SECRET": "whsec-FAKE-webhook-secret-0002",
    "SHIPMATE_SECRET_SALT": "salt-FAKE-secret-salt-0003",
    "SHIPMATE_GITHUB_APP_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----FAKE0004",
    "ACTIONS_RUNTIME_TOKEN": "actions-FAKE-runtime-0005",
}
KEY_TEXT = "-----BEGIN PRIVATE KEY----- FAKE-KEY-FILE-0006"

# The bot side: builds the runtime as the wiring does (Terraform's settings as `Settings` reads
# them, the whole process environment as the parent of Terraform's) and runs
# one command over null_resources whose attributes come from argv[3] (JSON; the text
# BOTPID is replaced by this process's id). Prints the outcome as JSON.
BOT = r"""
import json, os, sys
from pathlib import Path
from bot.adapters.terraform import TerraformSettings
from bot.core.errors import RuntimeFailed
from bot.core.spec import TERRAFORM, Resource, State
from bot.settings import Settings

cache, command, attributes = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
attributes = json.loads(attributes.replace("BOTPID", str(os.getpid())))
terraform = Settings.from_env({k: v for k, v in os.environ.items() if k.startswith(("SHIPMATE_TERRAFORM_", "TF_"))})
settings = TerraformSettings.configured(terraform.terraform, os.environ, cache_dir=cache)
runtime = settings.runtime("p", "s", "w")
ext = {"provider": "registry.terraform.io/hashicorp/null/2.1.2", "resourceType": "null_resource"}
resources = [
    Resource(id=f"hashicorp:null:null_resource:{name}", type=TERRAFORM, attributes=attrs, extensions=ext)
    for name, attrs in attributes.items()
]
print(json.dumps({"sandbox": settings.sandbox is not None}), flush=True)
try:
    if command == "plan":
        out = runtime.dry_run(resources, State())
    else:
        out = {k: dict(v.attributes) for k, v in runtime.apply(resources, State()).items()}
    print(json.dumps({"ok": out}), flush=True)
except RuntimeFailed as exc:
    print(json.dumps({"error": str(exc)}), flush=True)
"""


@pytest.fixture(scope="module")
def tf_env() -> dict[str, str]:
    binary = os.environ.get("SHIPMATE_TERRAFORM_BIN", "")
    cli = os.environ.get("TF_CLI_CONFIG_FILE", "")
    if not (Path(binary).is_file() and Path(cli).is_file()):
        pytest.fail("SHIPMATE_TERRAFORM_BIN and TF_CLI_CONFIG_FILE must be set (./scripts/test does)")
    return {"SHIPMATE_TERRAFORM_BIN": binary, "TF_CLI_CONFIG_FILE": cli}


def bot_env(tf_env: dict[str, str], mode: str, tmp_path: Path) -> dict[str, str]:
    key = tmp_path / "data" / "app-key.pem"
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text(KEY_TEXT)
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(ROOT),
        "SHIPMATE_DATA_DIR": str(tmp_path / "data"),
        "SHIPMATE_GITHUB_APP_PRIVATE_KEY_PATH": str(key),
        "SHIPMATE_TERRAFORM_SANDBOX": mode,
        **tf_env,
        **SECRETS,
    }


def start_bot(env: dict[str, str], tmp_path: Path, command: str, attributes: dict) -> subprocess.Popen[str]:
    script = tmp_path / "bot_side.py"
    script.write_text(BOT)
    return subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "cache"), command, json.dumps(attributes)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )


def run_bot(env: dict[str, str], tmp_path: Path, command: str, attributes: dict) -> tuple[dict, dict]:
    proc = start_bot(env, tmp_path, command, attributes)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    first, result = (json.loads(line) for line in out.splitlines()[:2])
    return first, result


def assert_no_secret(text: str) -> None:
    for value in [*SECRETS.values(), KEY_TEXT]:
        assert value not in text
        assert value[8:24] not in text


@pytest.mark.parametrize("mode", ["bwrap", "off"])
def test_terraform_environment_holds_no_bot_secret(tf_env, tmp_path: Path, mode: str) -> None:
    env = bot_env(tf_env, mode, tmp_path)
    first, result = run_bot(env, tmp_path, "plan", {
        "leak": {"triggers": {"self": '${file("/proc/self/environ")}',
                              "init": '${try(file("/proc/1/environ"), "unreadable")}'}},
    })
    assert first == {"sandbox": mode == "bwrap"}
    assert "ok" in result, result
    text = json.dumps(result)
    assert_no_secret(text)
    # file() did read the environment: Terraform's own, built from the allowlist.
    own = result["ok"]["hashicorp:null:null_resource:leak"]["triggers"]["self"]
    names = {item.split("=", 1)[0] for item in own.split("\0") if item}
    assert {"PATH", "TF_IN_AUTOMATION", "TF_CLI_CONFIG_FILE"} <= names
    assert not names & {"PYTHONPATH", "SHIPMATE_DATA_DIR", "SHIPMATE_TERRAFORM_SANDBOX"}


def test_sandbox_hides_the_bot_process_and_its_files(tf_env, tmp_path: Path) -> None:
    env = bot_env(tf_env, "bwrap", tmp_path)
    key = env["SHIPMATE_GITHUB_APP_PRIVATE_KEY_PATH"]
    for attempt in (f'${{file("{key}")}}', '${file("/proc/BOTPID/environ")}',
                    f'${{file("{tmp_path / "bot_side.py"}")}}'):
        first, result = run_bot(env, tmp_path, "plan", {"peek": {"triggers": {"x": attempt}}})
        assert first == {"sandbox": True}
        assert "error" in result and "no file exists" in result["error"], result
        assert_no_secret(json.dumps(result))
    # The same configuration reads the key file without the sandbox: what bwrap protects.
    _, result = run_bot({**env, "SHIPMATE_TERRAFORM_SANDBOX": "off"}, tmp_path, "plan",
                        {"peek": {"triggers": {"x": f'${{file("{key}")}}'}}})
    assert KEY_TEXT in json.dumps(result)


def _stat(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, state, start time) of a process, None when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return int(fields[1]), fields[0], fields[19]


def descendants(root: int) -> dict[int, tuple[str, str]]:
    """Every process below `root`: pid → (start time, command line)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (info := _stat(int(entry))) is not None:
            children.setdefault(info[0], []).append(int(entry))
    found: dict[int, tuple[str, str]] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        info = _stat(pid)
        if info is None:
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            cmdline = ""
        found[pid] = (info[2], cmdline)
        todo.extend(children.get(pid, []))
    return found


def alive(processes: dict[int, tuple[str, str]]) -> list[str]:
    left = []
    for pid, (started, cmdline) in processes.items():
        info = _stat(pid)
        if info is not None and info[2] == started and info[1] != "Z":
            left.append(f"{pid} {cmdline}")
    return left


@pytest.mark.parametrize("mode", ["bwrap", "off"])
def test_killed_bot_leaves_no_terraform_running(tf_env, tmp_path: Path, mode: str) -> None:
    env = bot_env(tf_env, mode, tmp_path)
    proc = start_bot(env, tmp_path, "apply", {
        "busy": {"triggers": {"x": "1"}, "provisioner": [{"local-exec": {"command": "sleep 300"}}]},
    })
    try:
        deadline = time.monotonic() + 120
        tree = descendants(proc.pid)
        while not any(c.startswith("sleep 300") for _, c in tree.values()):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the provisioner never started"
            time.sleep(0.2)
            tree = descendants(proc.pid)
        commands = " ".join(c for _, c in tree.values())
        assert tf_env["SHIPMATE_TERRAFORM_BIN"] in commands and "terraform-provider-null" in commands
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        while (left := alive(tree)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert left == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("mode", ["bwrap", "off"])
def test_timeout_stops_the_whole_group(tf_env, tmp_path: Path, mode: str) -> None:
    options = Settings.from_env({**tf_env, "SHIPMATE_TERRAFORM_SANDBOX": mode}).terraform
    settings = TerraformSettings.configured(options, {**tf_env, "PATH": os.environ["PATH"]}, cache_dir=tmp_path / "cache")
    assert (settings.sandbox is not None) == (mode == "bwrap")
    runtime = settings.runtime("p", "s", "w")
    runtime.work_dir.mkdir(parents=True)
    assert settings.plugin_cache_dir is not None
    settings.plugin_cache_dir.mkdir(parents=True)
    (runtime.work_dir / "main.tf").write_text(
        'resource "null_resource" "slow" {\n'
        '  provisioner "local-exec" { command = "sleep 600" }\n}\n'
        'terraform {\n  required_providers {\n'
        '    null = { source = "hashicorp/null", version = "2.1.2" }\n  }\n}\n'
    )
    runner = runtime._runner
    assert runner.init().returncode == 0
    runner.timeout_seconds = 3.0
    started = time.monotonic()
    result = runner.run("apply", auto_approve=True, lock=False)
    assert time.monotonic() - started < 60
    assert result.returncode != 0 and "did not finish within 3 s" in result.stderr
    # Terraform stopped gracefully (SIGINT to the group) and nothing of the group is left.
    assert "Interrupt received" in result.stdout + result.stderr
    deadline = time.monotonic() + 10
    while (members := _group_members(result.pgid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert members == [], [Path(f"/proc/{pid}/stat").read_text() for pid in members]


def test_sandbox_modes(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert sandbox.resolve("off", {"PATH": os.environ["PATH"]}, tmp_path / "s") is None
    assert sandbox.resolve("auto", {"PATH": str(empty)}, tmp_path / "s") is None
    with pytest.raises(ConfigError) as missing:
        sandbox.resolve("bwrap", {"PATH": str(empty)}, tmp_path / "s")
    assert "SHIPMATE_TERRAFORM_SANDBOX" in str(missing.value) and "not installed" in str(missing.value)
    with pytest.raises(ConfigError) as bad:
        Settings.from_env({"SHIPMATE_TERRAFORM_SANDBOX": "maybe"})
    assert "SHIPMATE_TERRAFORM_SANDBOX" in str(bad.value) and "maybe" in str(bad.value)
    found = sandbox.resolve("auto", {"PATH": os.environ["PATH"]}, tmp_path / "s")
    assert found is not None and found.path.endswith("bwrap")
    # A bwrap that does not work is refused when required and skipped by auto.
    fake = tmp_path / "fakebin"
    fake.mkdir()
    (fake / "bwrap").write_text("#!/bin/sh\necho 'No permissions to create new namespace' >&2\nexit 1\n")
    (fake / "bwrap").chmod(0o755)
    assert sandbox.resolve("auto", {"PATH": f"{fake}:/usr/bin:/bin"}, tmp_path / "s") is None
    with pytest.raises(ConfigError, match="does not work here: No permissions"):
        sandbox.resolve("bwrap", {"PATH": f"{fake}:/usr/bin:/bin"}, tmp_path / "s")
    assert _group_members(os.getpgrp())


def test_sandbox_setting() -> None:
    assert Settings.from_env({}).terraform.sandbox == "auto"
    assert Settings.from_env({"SHIPMATE_TERRAFORM_SANDBOX": "BWRAP"}).terraform.sandbox == "bwrap"
    with pytest.raises(ConfigError) as bad:
        Settings.from_env({"SHIPMATE_TERRAFORM_SANDBOX": "docker"})
    assert "SHIPMATE_TERRAFORM_SANDBOX" in str(bad.value) and "auto, bwrap, off" in str(bad.value)


def test_sandboxed_commands_have_no_capability(tf_env, tmp_path: Path) -> None:
    env = bot_env(tf_env, "bwrap", tmp_path)
    _, result = run_bot(env, tmp_path, "plan", {
        "caps": {"triggers": {"status": '${file("/proc/self/status")}'}},
    })
    status = result["ok"]["hashicorp:null:null_resource:caps"]["triggers"]["status"]
    effective = next(line for line in status.splitlines() if line.startswith("CapEff:"))
    assert effective.split()[1].strip("0") == ""
