"""Run a command in this process's group and kill the whole group when the bot dies.

    python -I -S reaper.py <bot pid> <command> [args...]

Used when Terraform runs without bubblewrap. The bot starts this script as the leader of a
new session (so it and everything it starts share one process group). The script asks the
kernel for SIGTERM when its parent dies (PR_SET_PDEATHSIG), runs the command as its child
and exits with its status. When the parent dies, even by SIGKILL, it kills the whole group:
Terraform, its providers and whatever a provisioner started. SIGINT (the bot's graceful
stop, sent to the whole group) is left to the command. Standard library only: it runs
with `-I -S`, outside the bot's virtual environment.
"""

import ctypes
import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1


def _kill_group(signum: int = 0, frame: object = None) -> None:
    os.killpg(os.getpgrp(), signal.SIGKILL)


def main() -> int:
    if len(sys.argv) < 3:
        sys.stderr.write("usage: reaper.py <parent pid> <command> [args...]\n")
        return 2
    parent = int(sys.argv[1])
    signal.signal(signal.SIGTERM, _kill_group)
    signal.signal(signal.SIGHUP, _kill_group)
    # A handler, not SIG_IGN: the command starts with the default disposition again.
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        _kill_group()
    try:
        child = subprocess.Popen(sys.argv[2:])
    except OSError as exc:
        sys.stderr.write(f"cannot run {sys.argv[2]}: {exc}\n")
        return 127
    code = child.wait()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
