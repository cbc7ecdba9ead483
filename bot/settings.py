"""Server settings from environment variables and an optional YAML or TOML file.

`Settings.from_env(os.environ)` is the only place that reads them. Environment variables win
over the file (`SHIPMATE_CONFIG` or the `file` argument); the file uses the same names in
lower case without the `SHIPMATE_` prefix (`webhook_secret`, `listen`, `repositories`, ...;
`github_token` and `github_api_url` for the two GitHub Actions names). Every bad value is
reported at once as a `ConfigError`, each problem naming the variable (or the file, line and
key).

| variable | default | meaning |
|---|---|---|
| `SHIPMATE_WEBHOOK_SECRET` | (required by `serve`) | HMAC secret of the webhook |
| `SHIPMATE_WEBHOOK_SECRET_PREVIOUS` | | also accepted while rotating the secret |
| `GITHUB_TOKEN` | | a token for the GitHub API |
| `SHIPMATE_GITHUB_APP_ID` + `SHIPMATE_GITHUB_APP_PRIVATE_KEY` (or `_PATH`) | | a GitHub App instead |
| `GITHUB_API_URL` | `https://api.github.com` | GitHub Enterprise Server or the simulator |
| `SHIPMATE_LISTEN` | `0.0.0.0:8080` | `host:port` (`[::1]:8080` for IPv6; port 0 picks a free one) |
| `SHIPMATE_DATA_DIR` | `.shipmate` | the embedded queue and working copies |
| `SHIPMATE_CACHE_DIR` | server: `<data dir>/cache`; CLI: `$XDG_CACHE_HOME/shipmate`, else `~/.cache/shipmate` | checkouts, Terraform working directories and provider cache |
| `SHIPMATE_SECRET_SALT` | (none) | the salt generated secret values are derived from; set a long random one and keep it secret |
| `SHIPMATE_REPOSITORIES` | `*` | comma-separated `owner/name` globs the bot serves |
| `SHIPMATE_QUEUE` | `sqlite` | `sqlite` (in the data dir) or `redis://host:port/db` (`rediss://`, `unix://`) |
| `SHIPMATE_WORKERS` | `4` | worker threads |
| `SHIPMATE_QUEUE_LEASE_SECONDS` | `60` | a crashed worker's job is handed out again after this |
| `SHIPMATE_QUEUE_MAX_ATTEMPTS` | `5` | tries of a job failing with a temporary error |
| `SHIPMATE_STACK_CONCURRENCY` | `4` | stacks of one event previewed or applied at the same time (1: one after the other) |
| `SHIPMATE_MAX_BODY_BYTES` | `26214400` | larger deliveries get 413 (GitHub sends at most 25 MB) |
| `SHIPMATE_HANDLER` | | `module:factory` building the event handler (see `bot.wiring`) |
| `SHIPMATE_LOG_LEVEL` | `INFO` | `DEBUG`, `INFO`, `WARNING` or `ERROR` |
| `SHIPMATE_POLICY_BRANCH` | (each repository's default branch) | the branch every repository's `shipmate.yaml` (who may apply, requirements, state branch, secrets) is read from; make it a protected branch |
| `SHIPMATE_POLL_REPOSITORIES` | | comma-separated `owner/name` the scheduler polls (repositories without a webhook) |
| `SHIPMATE_POLL_SECONDS` | `60` | how often they are polled |
| `SHIPMATE_GITHUB_THROTTLE` | `true` | space GitHub API calls out (PyGithub's pacing of requests and writes); `false` for a GitHub without secondary rate limits |
| `SHIPMATE_TERRAFORM_SANDBOX` | `auto` | run Terraform under bubblewrap: `auto` (when installed and working), `bwrap` (required) or `off` |
| `SHIPMATE_HTTP_THREADS` | `8` | threads answering HTTP requests (gunicorn's `threads`) |
| `SHIPMATE_HTTP_MAX_CONNECTIONS` | `1000` | open connections at most; more wait in the listen backlog (`worker_connections`) |
| `SHIPMATE_HTTP_BACKLOG` | `1024` | connections the kernel queues before refusing more |
| `SHIPMATE_HEADER_TIMEOUT_SECONDS` | `10` | a connection that has not sent a whole request head by then is closed |
| `SHIPMATE_REQUEST_TIMEOUT_SECONDS` | `20` | a request not answered by then (body still arriving, say) is cut off |
| `SHIPMATE_GRACEFUL_TIMEOUT_SECONDS` | `25` | on SIGTERM, time to finish requests and running jobs; keep it below the pod's terminationGracePeriodSeconds |
| `SHIPMATE_CONFIG` | | the settings file |
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bot.core.errors import ConfigError, Problem

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_MAX_BODY_BYTES = 25 * 1024 * 1024
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
TERRAFORM_SANDBOX_MODES = ("auto", "bwrap", "off")
ENVIRONMENT = "environment"

# Environment variable → key in the settings file.
_ENV_TO_KEY: dict[str, str] = {
    "SHIPMATE_WEBHOOK_SECRET": "webhook_secret",
    "SHIPMATE_WEBHOOK_SECRET_PREVIOUS": "webhook_secret_previous",
    "GITHUB_TOKEN": "github_token",
    "SHIPMATE_GITHUB_APP_ID": "github_app_id",
    "SHIPMATE_GITHUB_APP_PRIVATE_KEY": "github_app_private_key",
    "SHIPMATE_GITHUB_APP_PRIVATE_KEY_PATH": "github_app_private_key_path",
    "GITHUB_API_URL": "github_api_url",
    "SHIPMATE_LISTEN": "listen",
    "SHIPMATE_DATA_DIR": "data_dir",
    "SHIPMATE_CACHE_DIR": "cache_dir",
    "SHIPMATE_SECRET_SALT": "secret_salt",
    "SHIPMATE_REPOSITORIES": "repositories",
    "SHIPMATE_QUEUE": "queue",
    "SHIPMATE_WORKERS": "workers",
    "SHIPMATE_QUEUE_LEASE_SECONDS": "queue_lease_seconds",
    "SHIPMATE_QUEUE_MAX_ATTEMPTS": "queue_max_attempts",
    "SHIPMATE_STACK_CONCURRENCY": "stack_concurrency",
    "SHIPMATE_MAX_BODY_BYTES": "max_body_bytes",
    "SHIPMATE_HANDLER": "handler",
    "SHIPMATE_LOG_LEVEL": "log_level",
    "SHIPMATE_POLICY_BRANCH": "policy_branch",
    "SHIPMATE_POLL_REPOSITORIES": "poll_repositories",
    "SHIPMATE_POLL_SECONDS": "poll_seconds",
    "SHIPMATE_GITHUB_THROTTLE": "github_throttle",
    "SHIPMATE_TERRAFORM_SANDBOX": "terraform_sandbox",
    "SHIPMATE_HTTP_THREADS": "http_threads",
    "SHIPMATE_HTTP_MAX_CONNECTIONS": "http_max_connections",
    "SHIPMATE_HTTP_BACKLOG": "http_backlog",
    "SHIPMATE_HEADER_TIMEOUT_SECONDS": "header_timeout_seconds",
    "SHIPMATE_REQUEST_TIMEOUT_SECONDS": "request_timeout_seconds",
    "SHIPMATE_GRACEFUL_TIMEOUT_SECONDS": "graceful_timeout_seconds",
}
_KEY_TO_ENV = {v: k for k, v in _ENV_TO_KEY.items()}
_REPO_PATTERN = re.compile(r"^[A-Za-z0-9_.*?\[\]-]+/[A-Za-z0-9_.*?\[\]-]+$")
_HANDLER = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class Settings:
    """Everything `shipmate serve` needs, validated. Secrets never appear in `repr`."""

    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    github_token: str | None = field(default=None, repr=False)
    github_app_id: int | None = None
    github_app_private_key: str | None = field(default=None, repr=False)
    github_api_url: str = DEFAULT_API_URL
    listen_host: str = "0.0.0.0"
    listen_port: int = 8080
    data_dir: Path = Path(".shipmate")
    cache_dir: Path | None = None  # SHIPMATE_CACHE_DIR; see cache_root()
    user_cache_dir: Path = Path(".shipmate/cache")  # the CLI's default: from_env sets it from XDG_CACHE_HOME/HOME
    secret_salt: str = field(default="", repr=False)
    repositories: tuple[str, ...] = ("*",)
    queue: str = "sqlite"
    workers: int = 4
    queue_lease_seconds: float = 60.0
    queue_max_attempts: int = 5
    stack_concurrency: int = 4
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    handler: str | None = None
    log_level: str = "INFO"
    policy_branch: str | None = None  # None: each repository's default branch
    config_file: Path | None = None
    poll_repositories: tuple[str, ...] = ()
    poll_seconds: float = 60.0
    github_throttle: bool = True
    terraform_sandbox: str = "auto"
    http_threads: int = 8
    http_max_connections: int = 1000
    http_backlog: int = 1024
    header_timeout_seconds: float = 10.0
    request_timeout_seconds: float = 20.0
    graceful_timeout_seconds: float = 25.0

    @property
    def listen(self) -> str:
        host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
        return f"{host}:{self.listen_port}"

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Every secret setting's value (webhook secrets, token, App key): masked everywhere."""
        values = (*self.webhook_secrets, self.github_token, self.github_app_private_key, self.secret_salt)
        return tuple(v for v in values if v)

    def cache_root(self, *, server: bool) -> Path:
        """Where checkouts and Terraform working directories live: `SHIPMATE_CACHE_DIR`, else
        the server's `<data dir>/cache` or, for the CLI, the user's cache directory."""
        if self.cache_dir is not None:
            return self.cache_dir
        return self.data_dir / "cache" if server else self.user_cache_dir

    @property
    def github_auth(self) -> str | None:
        """`app`, `token`, or None when no GitHub credentials are configured."""
        if self.github_app_id is not None:
            return "app"
        return "token" if self.github_token else None

    def repository_allowed(self, full_name: str) -> bool:
        """Whether `owner/name` matches the allowlist (case-insensitive, as GitHub names are)."""
        name = full_name.lower()
        return any(fnmatch.fnmatchcase(name, pattern.lower()) for pattern in self.repositories)

    def require_webhook_secret(self) -> None:
        if not self.webhook_secrets:
            raise ConfigError(
                [Problem(ENVIRONMENT, 0, 0, "SHIPMATE_WEBHOOK_SECRET",
                         "is required: the server refuses to accept unsigned webhooks")]
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str], file: Path | str | None = None) -> Settings:
        """Settings from `env` (e.g. `os.environ`) over the file `file` or `$SHIPMATE_CONFIG`."""
        problems: list[Problem] = []
        config_path = Path(file) if file else (Path(env["SHIPMATE_CONFIG"]) if env.get("SHIPMATE_CONFIG") else None)
        values: dict[str, _Value] = {}
        if config_path is not None:
            values.update(_read_file(config_path, problems))
        for variable, key in _ENV_TO_KEY.items():
            raw = env.get(variable)
            if raw is not None and raw.strip() != "":
                values[key] = _Value(raw.strip() if key not in _SECRET_KEYS else raw, ENVIRONMENT, 0, 0, variable)
        settings = _build(values, config_path, problems)
        if settings is not None:
            xdg = env.get("XDG_CACHE_HOME")
            home = env.get("HOME") or "/tmp"
            user_cache = Path(xdg) / "shipmate" if xdg else Path(home) / ".cache" / "shipmate"
            settings = replace(settings, user_cache_dir=user_cache)
        if problems:
            raise ConfigError(problems)
        assert settings is not None
        return settings


_SECRET_KEYS = frozenset(
    {"webhook_secret", "webhook_secret_previous", "github_token", "github_app_private_key", "secret_salt"}
)


@dataclass(frozen=True, slots=True)
class _Value:
    """A raw setting with where it came from, for error messages."""

    value: Any
    file: str
    line: int
    column: int
    name: str  # the variable or the file key

    def problem(self, message: str) -> Problem:
        return Problem(self.file, self.line, self.column, self.name, message)


def _read_file(path: Path, problems: list[Problem]) -> dict[str, _Value]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problems.append(Problem(str(path), 0, 0, "", f"cannot read settings file: {exc.strerror or exc}"))
        return {}
    if path.suffix == ".toml":
        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            problems.append(Problem(str(path), 0, 0, "", f"invalid TOML: {exc}"))
            return {}
        positions: dict[str, tuple[int, int]] = {}
    else:
        from bot.core.yamlio import load

        try:
            doc = load(str(path), text)
        except ConfigError as exc:
            problems.extend(exc.problems)
            return {}
        data = doc.data
        positions = {}
        if isinstance(data, Mapping):
            positions = {str(key): doc.locate((key,), at_key=True) for key in data}
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        problems.append(Problem(str(path), 1, 1, "", "the settings file must be a mapping of names to values"))
        return {}
    values: dict[str, _Value] = {}
    for key, value in data.items():
        line, column = positions.get(str(key), (0, 0))
        if key not in _KEY_TO_ENV:
            known = ", ".join(sorted(_KEY_TO_ENV))
            problems.append(Problem(str(path), line, column, str(key), f"unknown setting (known: {known})"))
            continue
        values[str(key)] = _Value(value, str(path), line, column, str(key))
    return values


def _build(values: Mapping[str, _Value], config_path: Path | None, problems: list[Problem]) -> Settings | None:
    base = config_path.parent if config_path else None
    out: dict[str, Any] = {"config_file": config_path}

    def take(key: str, convert: Callable[[_Value], Any], target: str | None = None) -> None:
        raw = values.get(key)
        if raw is None:
            return
        try:
            out[target or key] = convert(raw)
        except ValueError as exc:
            problems.append(raw.problem(str(exc)))

    def text(v: _Value) -> str:
        if isinstance(v.value, bool) or not isinstance(v.value, str | int | float):
            raise ValueError(f"must be a string, got {type(v.value).__name__}")
        return str(v.value)

    def path(v: _Value) -> Path:
        p = Path(text(v)).expanduser()
        return base / p if base is not None and v.file != ENVIRONMENT and not p.is_absolute() else p

    def integer(low: int, high: int) -> Callable[[_Value], int]:
        def convert(v: _Value) -> int:
            try:
                number = int(text(v))
            except ValueError:
                raise ValueError(f"must be an integer, got {v.value!r}") from None
            if not low <= number <= high:
                raise ValueError(f"must be between {low} and {high}, got {number}")
            return number
        return convert

    def seconds(v: _Value) -> float:
        try:
            number = float(text(v))
        except ValueError:
            raise ValueError(f"must be a number of seconds, got {v.value!r}") from None
        if not 1 <= number <= 86400:
            raise ValueError(f"must be between 1 and 86400 seconds, got {number:g}")
        return number

    def api_url(v: _Value) -> str:
        url = text(v).rstrip("/")
        if not re.match(r"^https?://[^/\s]+", url):
            raise ValueError(f"must be an http(s) URL, got {url!r}")
        return url

    def queue(v: _Value) -> str:
        url = text(v)
        if url == "sqlite" or re.match(r"^(redis|rediss|unix)://\S+$", url):
            return url
        raise ValueError(f"must be 'sqlite' or a redis://, rediss:// or unix:// URL, got {url!r}")

    def repositories(v: _Value) -> tuple[str, ...]:
        items = v.value if isinstance(v.value, list) else text(v).split(",")
        patterns = tuple(str(p).strip() for p in items if str(p).strip())
        if not patterns:
            raise ValueError("must list at least one owner/name pattern (use * for every repository)")
        bad = [p for p in patterns if p != "*" and not _REPO_PATTERN.match(p)]
        if bad:
            raise ValueError(f"patterns must look like owner/name (globs allowed), got {', '.join(bad)}")
        return patterns

    def handler(v: _Value) -> str:
        spec = text(v)
        if not _HANDLER.match(spec):
            raise ValueError(f"must be module:function, got {spec!r}")
        return spec

    def exact_repositories(v: _Value) -> tuple[str, ...]:
        items = v.value if isinstance(v.value, list) else text(v).split(",")
        names = tuple(str(p).strip() for p in items if str(p).strip())
        bad = [n for n in names if not re.match(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", n)]
        if bad:
            raise ValueError(f"expected owner/name (no globs), got {', '.join(bad)}")
        return names

    def boolean(v: _Value) -> bool:
        if isinstance(v.value, bool):
            return v.value
        word = text(v).lower()
        if word in ("1", "true", "yes", "on"):
            return True
        if word in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"must be true or false, got {v.value!r}")

    def one_of(choices: tuple[str, ...]) -> Callable[[_Value], str]:
        def convert(v: _Value) -> str:
            word = text(v).strip().lower()
            if word not in choices:
                raise ValueError(f"must be one of {', '.join(choices)}, got {v.value!r}")
            return word
        return convert

    def branch_name(v: _Value) -> str:
        name = text(v).strip()
        if not name or name.startswith(("-", "/", "refs/")) or name.endswith(("/", ".lock", ".")) \
                or ".." in name or "@{" in name or any(ch in name for ch in " ~^:?*[\\"):
            raise ValueError(f"must be a git branch name, got {v.value!r}")
        return name

    def log_level(v: _Value) -> str:
        level = text(v).upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}, got {v.value!r}")
        return level

    take("github_token", text)
    take("github_api_url", api_url)
    take("data_dir", path)
    take("cache_dir", path)
    take("secret_salt", text)
    take("repositories", repositories)
    take("queue", queue)
    take("workers", integer(1, 256))
    take("queue_lease_seconds", seconds)
    take("queue_max_attempts", integer(1, 100))
    take("stack_concurrency", integer(1, 64))
    take("max_body_bytes", integer(1024, 1024**3))
    take("handler", handler)
    take("log_level", log_level)
    take("policy_branch", branch_name)
    take("poll_repositories", exact_repositories)
    take("poll_seconds", seconds)
    take("github_throttle", boolean)
    take("terraform_sandbox", one_of(TERRAFORM_SANDBOX_MODES))
    take("http_threads", integer(1, 256))
    take("http_max_connections", integer(2, 100_000))
    take("http_backlog", integer(1, 65535))
    take("header_timeout_seconds", seconds)
    take("request_timeout_seconds", seconds)
    take("graceful_timeout_seconds", seconds)
    if out.get("http_max_connections", 1000) <= out.get("http_threads", 8):
        where = values.get("http_max_connections") or values["http_threads"]
        problems.append(where.problem("SHIPMATE_HTTP_MAX_CONNECTIONS must be larger than SHIPMATE_HTTP_THREADS"))

    secrets = []
    for key in ("webhook_secret", "webhook_secret_previous"):
        raw = values.get(key)
        if raw is not None:
            try:
                secrets.append(text(raw))
            except ValueError as exc:
                problems.append(raw.problem(str(exc)))
    if "webhook_secret_previous" in values and "webhook_secret" not in values:
        problems.append(values["webhook_secret_previous"].problem("needs SHIPMATE_WEBHOOK_SECRET as well"))
    out["webhook_secrets"] = tuple(secrets)

    listen = values.get("listen")
    if listen is not None:
        try:
            out["listen_host"], out["listen_port"] = parse_listen(text(listen))
        except ValueError as exc:
            problems.append(listen.problem(str(exc)))

    _github_app(values, out, path, problems)
    if problems:
        return None
    return Settings(**out)


def _github_app(
    values: Mapping[str, _Value], out: dict[str, Any], path: Callable[[_Value], Path], problems: list[Problem]
) -> None:
    app_id, key, key_path = (values.get(k) for k in ("github_app_id", "github_app_private_key", "github_app_private_key_path"))
    if key is not None and key_path is not None:
        problems.append(key_path.problem("set either the private key or its path, not both"))
        return
    private_key: str | None = None
    if key is not None:
        private_key = str(key.value)
    elif key_path is not None:
        try:
            private_key = path(key_path).read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:
            problems.append(key_path.problem(f"cannot read the private key: {getattr(exc, 'strerror', None) or exc}"))
            return
    if app_id is None and private_key is None:
        return
    if app_id is None:
        where = key if key is not None else key_path
        assert where is not None
        problems.append(where.problem("needs SHIPMATE_GITHUB_APP_ID as well"))
        return
    if private_key is None:
        problems.append(app_id.problem("needs SHIPMATE_GITHUB_APP_PRIVATE_KEY or SHIPMATE_GITHUB_APP_PRIVATE_KEY_PATH"))
        return
    try:
        out["github_app_id"] = int(str(app_id.value))
    except ValueError:
        problems.append(app_id.problem(f"must be an integer, got {app_id.value!r}"))
        return
    if "BEGIN" not in private_key or "PRIVATE KEY" not in private_key:
        where = key if key is not None else key_path
        assert where is not None
        problems.append(where.problem("is not a PEM private key"))
        return
    out["github_app_private_key"] = private_key


def parse_listen(text: str) -> tuple[str, int]:
    """`host:port`, `[v6]:port` or `:port` (all interfaces) → (host, port)."""
    match = re.match(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\s]*)):(?P<port>\d{1,5})$", text.strip())
    if not match:
        raise ValueError(f"must be host:port (e.g. 0.0.0.0:8080), got {text!r}")
    port = int(match["port"])
    if port > 65535:
        raise ValueError(f"port must be at most 65535, got {port}")
    host = match["v6"] or match["host"] or "0.0.0.0"
    return host, port
