"""The environment of every child process Shipmate starts (terraform, git, ...).

A child never inherits the process environment: `child_env(parent, extra)` builds its
environment from an allowlist of the parent's variables (the executable search path, the
home directory, locale, proxy and TLS settings) plus the `extra` values the caller means to
hand over (Terraform's own settings, a workspace's provider credentials). Shipmate's own
secrets (the GitHub token, the App key, the webhook secrets, the salt) are never passed:
nothing named like them is taken from the parent, and an `extra` with such a name, or a
name that changes how a program loads code or configuration (`LD_PRELOAD`,
`GIT_CONFIG_*`, ...), is dropped.

Pure: the caller passes the parent environment in (`os.environ` in an adapter).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# Taken from the parent when set.
PASSED_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "TZ",
        "TMPDIR",
        "LANG",
        "LANGUAGE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "all_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "GIT_SSL_CAINFO",
        "GIT_SSL_CAPATH",
        "NODE_EXTRA_CA_CERTS",
    }
)
PASSED_PREFIXES = ("LC_",)

# Never in a child's environment, whoever asks.
FORBIDDEN_NAMES = frozenset(
    {
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "GH_ENTERPRISE_TOKEN",
        "GITHUB_ENTERPRISE_TOKEN",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "LD_AUDIT",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "BASH_ENV",
        "ENV",
        "GIT_ASKPASS",
        "SSH_ASKPASS",
        "GIT_SSH",
        "GIT_SSH_COMMAND",
        "GIT_EXEC_PATH",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_CONFIG",
        "GIT_CONFIG_GLOBAL",
        "GIT_CONFIG_SYSTEM",
        "GIT_CONFIG_COUNT",
        "GIT_CONFIG_PARAMETERS",
    }
)
FORBIDDEN_PREFIXES = (
    "SHIPMATE_",  # Shipmate's settings: the webhook secrets, the App key, the salt
    "GITHUB_APP_",
    "ACTIONS_",  # a GitHub Actions runner's tokens (ACTIONS_RUNTIME_TOKEN, ...)
    "INPUT_",  # a GitHub Action's inputs (github-token, ...)
    "GIT_CONFIG_KEY_",
    "GIT_CONFIG_VALUE_",
)
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def forbidden(name: str) -> bool:
    """Whether `name` may never be set in a child's environment."""
    return name in FORBIDDEN_NAMES or name.startswith(FORBIDDEN_PREFIXES)


def passed(name: str) -> bool:
    """Whether the parent's `name` is handed to children."""
    return (name in PASSED_NAMES or name.startswith(PASSED_PREFIXES)) and not forbidden(name)


def _valid(name: object, value: object) -> bool:
    return (
        isinstance(name, str)
        and isinstance(value, str)
        and bool(_NAME.match(name))
        and "\0" not in value
    )


def child_env(
    parent: Mapping[str, str],
    extra: Mapping[str, str] | None = None,
    *,
    also: Iterable[str] = (),
) -> dict[str, str]:
    """The environment of a child: the parent's allowlisted variables, then `extra`.

    `also` names further parent variables to pass (never a forbidden one). `extra` wins over
    the parent; forbidden or malformed names (and values holding NUL) are dropped. PATH is
    always set (`DEFAULT_PATH` when the parent has none).
    """
    wanted = set(also)
    env = {
        name: value
        for name, value in parent.items()
        if _valid(name, value) and (passed(name) or (name in wanted and not forbidden(name)))
    }
    for name, value in (extra or {}).items():
        if _valid(name, value) and not forbidden(name):
            env[name] = value
    if not env.get("PATH"):
        env["PATH"] = DEFAULT_PATH
    return env
