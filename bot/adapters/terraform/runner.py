"""A thin runner around python-terraform: one working directory, an explicit environment.

python-terraform builds the command lines (`Terraform.generate_cmd_string`), but its own
`cmd()` always inherits the process environment and its `destroy()` adds `-force`, which
Terraform ≥ 0.15 rejects. This runner therefore runs the built command itself, with the
environment it was given (never `os.environ`), a timeout, captured output and `-no-color`,
and calls `destroy` through the generic command path with `-auto-approve`.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from python_terraform import IsFlagged, IsNotFlagged, Terraform

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
    ) -> None:
        self.binary = binary
        self.working_dir = working_dir
        self.env = dict(env)
        self.timeout_seconds = timeout_seconds
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
        try:
            proc = subprocess.Popen(
                argv,
                cwd=self.working_dir,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
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
    """SIGINT (Terraform finishes what is in flight and writes state), then SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()
