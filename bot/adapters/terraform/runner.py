"""A thin runner around python-terraform: one working directory, an explicit environment.

python-terraform builds the command lines (`Terraform.generate_cmd_string`), but its own
`cmd()` always inherits the process environment and its `destroy()` adds `-force`, which
Terraform ≥ 0.15 rejects. This runner therefore runs the built command itself, with the
environment it was given (never `os.environ`), a timeout, captured output and `-no-color`,
and calls `destroy` through the generic command path with `-auto-approve`.

Every command runs in a new session and process group: under bubblewrap when a sandbox is
given (see `bot.adapters.terraform.sandbox`), else under the reaper script. Either way the
whole group (Terraform, its providers, provisioners' commands) ends with the bot, and a
stop (timeout, interrupt) interrupts the group, then kills it after a grace period.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from python_terraform import IsFlagged, IsNotFlagged, Terraform

from bot.adapters.terraform.sandbox import Bubblewrap, Mounts, reaper_argv
from bot.core.errors import RuntimeFailed

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 120.0

__all__ = ["CommandResult", "IsFlagged", "IsNotFlagged", "TerraformRunner"]


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What one terraform command did."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    pgid: int = 0  # the process group it ran in (ended when the command returned)

    @property
    def command(self) -> str:
        return self.argv[1] if len(self.argv) > 1 else ""

    def error_text(self) -> str:
        """Terraform's own error text (it prints errors on stderr, sometimes on stdout)."""
        text = self.stderr.strip() or self.stdout.strip()
        return text or f"terraform {self.command} exited with code {self.returncode}"


class TerraformRunner:
    """Runs `terraform <command>` in one working directory."""

    def __init__(
        self,
        binary: str,
        working_dir: Path,
        env: Mapping[str, str],
        timeout_seconds: float,
        *,
        sandbox: Bubblewrap | None = None,
        read_only: Sequence[Path] = (),
        plugin_cache_dir: Path | None = None,
    ) -> None:
        self.binary = binary
        self.working_dir = working_dir
        self.env = dict(env)
        self.timeout_seconds = timeout_seconds
        self.sandbox = sandbox
        self.read_only = tuple(read_only)
        self.plugin_cache_dir = plugin_cache_dir
        # The most recent commands, for diagnostics and for checking what a call ran.
        self.history: deque[CommandResult] = deque(maxlen=64)
        # Only the command builder is used. python-terraform parses the state file named by
        # `state` when constructed: name one that never exists, so a damaged cache file can
        # not break construction (the `-state` option is never passed: the builder only adds
        # the options given to `argv`).
        self._builder = Terraform(
            working_dir=str(working_dir),
            terraform_bin_path=binary,
            is_env_vars_included=False,
            state=".shipmate-unused.tfstate",
        )

    def argv(self, command: str, *args: str, **options: Any) -> list[str]:
        """The command line python-terraform builds (`-input=false -no-color` by default)."""
        options.setdefault("no_color", IsFlagged)
        options.setdefault("input", False)
        return list(self._builder.generate_cmd_string(command, *args, **options))

    def launch_argv(self, argv: Sequence[str], command: str) -> list[str]:
        """The command line that runs `argv`: under bwrap, or under the reaper."""
        if self.sandbox is None:
            return reaper_argv(argv)
        binary = Path(argv[0])
        read_only = [*self.read_only, binary] if binary.is_absolute() else list(self.read_only)
        writable: list[Path] = []
        if self.plugin_cache_dir is not None:
            # Providers are installed into the plugin cache by init only.
            (writable if command == "init" else read_only).append(self.plugin_cache_dir)
        mounts = Mounts(self.working_dir, read_only=tuple(read_only), writable=tuple(writable))
        return self.sandbox.wrap(argv, mounts, self.env)

    def run(
        self, command: str, *args: str, ok: tuple[int, ...] = (0,), **options: Any
    ) -> CommandResult:
        """Run one command; a return code outside `ok` is returned, not raised.

        A command that outlives the timeout gets SIGINT, so Terraform stops gracefully and
        writes the state of what it finished; the result then says it timed out. An
        interrupt of this process is forwarded the same way before it propagates.
        """
        argv = self.argv(command, *args, **options)
        started = time.monotonic()
        found = shutil.which(argv[0], path=self.env.get("PATH") or os.defpath)
        try:
            if found is None:
                raise FileNotFoundError(argv[0])
            argv[0] = str(Path(found).absolute())
            proc = subprocess.Popen(
                self.launch_argv(argv, command),
                cwd=self.working_dir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise RuntimeFailed(
                f"Terraform binary not found: {self.binary!r}; set SHIPMATE_TERRAFORM_BIN or put "
                "terraform on PATH"
            ) from exc
        timed_out = False
        try:
            out, err = proc.communicate(timeout=self.timeout_seconds)
        except subprocess.TimeoutExpired:
            timed_out = True
            out, err = _stop(proc)
        except BaseException:
            _stop(proc)
            raise
        finally:
            # Whatever the command left behind in its group (a provisioner's background
            # process) ends with it.
            _kill_group(proc.pid)
        if timed_out:
            err = (
                f"terraform {command} did not finish within {self.timeout_seconds:g} s and was "
                f"stopped\n{err}"
            )
        result = CommandResult(
            argv=tuple(argv),
            returncode=proc.returncode if not timed_out or proc.returncode else 124,
            stdout=out,
            stderr=err,
            seconds=time.monotonic() - started,
            pgid=proc.pid,
        )
        self.history.append(result)
        log.debug(
            "terraform %s rc=%d in %.2fs (%s)",
            command,
            result.returncode,
            result.seconds,
            self.working_dir,
        )
        if result.returncode not in ok:
            log.debug("terraform %s failed: %s", command, result.error_text())
        return result

    # The commands the runtime uses, with their flags in one place.

    def init(self) -> CommandResult:
        # python-terraform's init adds -reconfigure -backend=true: harmless for local state.
        return self.run("init", reconfigure=IsFlagged, backend=True)

    def plan(self, out: str, *, refresh_only: bool = False) -> CommandResult:
        """`plan -out` with `-detailed-exitcode`: 0 no changes, 2 changes, 1 error."""
        return self.run(
            "plan",
            ok=(0, 2),
            out=out,
            detailed_exitcode=IsFlagged,
            refresh_only=IsFlagged if refresh_only else IsNotFlagged,
            lock=False,
        )

    def show_json(self, path: str | None = None) -> CommandResult:
        args = (path,) if path else ()
        return self.run("show", *args, json=IsFlagged, input=IsNotFlagged)

    def apply_plan(self, plan: str) -> CommandResult:
        return self.run("apply", plan, lock=False)

    def destroy(self) -> CommandResult:
        # Not Terraform.destroy(): that one always sends -force (removed in Terraform 0.15).
        return self.run("destroy", auto_approve=IsFlagged, lock=False)

    def import_(self, address: str, import_id: str) -> CommandResult:
        return self.run("import", address, import_id, lock=False)

    def version(self) -> CommandResult:
        return self.run("version", json=IsFlagged, no_color=IsNotFlagged, input=IsNotFlagged)


def _stop(
    proc: subprocess.Popen[str], grace_seconds: float = STOP_GRACE_SECONDS
) -> tuple[str, str]:
    """SIGINT to the group (Terraform finishes what is in flight and writes state), then
    SIGKILL to the whole group.

    The group's leader (bwrap, which would die of SIGINT and take the sandbox with it, or
    the reaper) is left out of the interrupt; it exits when Terraform does.
    """
    if proc.poll() is None:
        _interrupt_group(proc.pid)
    try:
        return proc.communicate(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        return proc.communicate()


def _interrupt_group(pgid: int) -> None:
    for pid in _group_members(pgid):
        if pid != pgid:
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                pass


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _group_members(pgid: int) -> list[int]:
    """Processes whose process group is `pgid` (from /proc)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid:
            members.append(int(entry))
    return members
