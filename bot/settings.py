"""Shipmate's own settings, from environment variables and an optional YAML or TOML file.

`Settings.from_env(os.environ)` is the only place that reads them, the runtimes' variables
included (Terraform's binary and CLI config, `KUBECONFIG`): the entry points call it once and
hand the result to `bot.wiring`, and no adapter reads the environment for a setting of its
own. Environment variables win over the file (`SHIPMATE_CONFIG` or the `file` argument); the
file uses the same names in lower case without the `SHIPMATE_` prefix (`webhook_secret`,
`listen`, `repositories`, `terraform_bin`, ...; `github_token` and `github_api_url` for the
two GitHub Actions names). Every bad value is reported at once as a `ConfigError`, each
problem naming the variable (or the file, line and key).

`Settings` is grouped like kopf's `OperatorSettings`, one frozen dataclass per concern:
`github` (`GitHubSettings`), `webhook`, `http`, `queue`, `bot` (what is served and how its
stacks run), `poll`, `storage` (directories and the salt), `terraform` and `kubernetes` (what
the runtimes are handed, `runtime_options()`), `dashboard` (sign-in, sessions, the acting
role; off until the OAuth App and session secret are all set) and `log`.

| variable | setting | default | meaning |
|---|---|---|---|
| `SHIPMATE_WEBHOOK_SECRET` | `webhook.secrets` | (required by `serve`) | HMAC secret of the webhook |
| `SHIPMATE_WEBHOOK_SECRET_PREVIOUS` | `webhook.secrets` | | also accepted while rotating the secret |
| `SHIPMATE_MAX_BODY_BYTES` | `webhook.max_body_bytes` | `26214400` | larger deliveries get 413 (GitHub sends at most 25 MB) |
| `GITHUB_TOKEN` | `github.token` | | a token for the GitHub API |
| `SHIPMATE_GITHUB_APP_ID` + `SHIPMATE_GITHUB_APP_PRIVATE_KEY` (or `_PATH`) | `github.app_id`, `github.app_private_key` | | a GitHub App instead |
| `GITHUB_API_URL` | `github.api_url` | `https://api.github.com` | GitHub Enterprise Server or the simulator |
| `SHIPMATE_GITHUB_THROTTLE` | `github.throttle` | `true` | keep comment, status and reaction writes within the write budget below (GitHub's secondary rate limits); `false` for a GitHub without them |
| `SHIPMATE_GITHUB_WRITES_PER_MINUTE` | `github.writes_per_minute` | `80` | content-creating calls a minute at most per installation (GitHub allows about 80); the replicas of a Redis queue share it |
| `SHIPMATE_GITHUB_WRITES_PER_HOUR` | `github.writes_per_hour` | `500` | the same an hour (GitHub: about 500) |
| `SHIPMATE_GITHUB_PENDING_DELAY` | `github.pending_delay` | `2` | seconds a `pending` commit status waits before it is written; a result within them replaces it, so a quick preview writes one status instead of two (`0`: at once) |
| `SHIPMATE_LISTEN` | `http.host`, `http.port` | `0.0.0.0:8080` | `host:port` (`[::1]:8080` for IPv6; port 0 picks a free one) |
| `SHIPMATE_HTTP_THREADS` | `http.threads` | `8` | threads answering HTTP requests (gunicorn's `threads`) |
| `SHIPMATE_HTTP_MAX_CONNECTIONS` | `http.max_connections` | `1000` | open connections at most; more wait in the listen backlog (`worker_connections`) |
| `SHIPMATE_HTTP_BACKLOG` | `http.backlog` | `1024` | connections the kernel queues before refusing more |
| `SHIPMATE_HEADER_TIMEOUT_SECONDS` | `http.header_timeout_seconds` | `10` | a connection that has not sent a whole request head by then is closed |
| `SHIPMATE_REQUEST_TIMEOUT_SECONDS` | `http.request_timeout_seconds` | `20` | a request not answered by then (body still arriving, say) is cut off |
| `SHIPMATE_GRACEFUL_TIMEOUT_SECONDS` | `http.graceful_timeout_seconds` | `25` | on SIGTERM, time to finish requests and running jobs; keep it below the pod's terminationGracePeriodSeconds |
| `SHIPMATE_QUEUE` | `queue.url` | `sqlite` | `sqlite` (in the data dir) or `redis://host:port/db` (`rediss://`, `unix://`) |
| `SHIPMATE_WORKERS` | `queue.workers` | `4` | worker threads |
| `SHIPMATE_QUEUE_LEASE_SECONDS` | `queue.lease_seconds` | `60` | a crashed worker's job is handed out again after this |
| `SHIPMATE_QUEUE_MAX_ATTEMPTS` | `queue.max_attempts` | `5` | tries of a job failing with a temporary error |
| `SHIPMATE_HANDLER` | `queue.handler` | | `module:factory` building the event handler (see `bot.wiring`) |
| `SHIPMATE_REPOSITORIES` | `bot.repositories` | `*` | comma-separated `owner/name` globs the bot serves |
| `SHIPMATE_POLICY_BRANCH` | `bot.policy_branch` | (each repository's default branch) | the branch every repository's `shipmate.yaml` (who may apply, requirements, state branch, secrets) is read from; make it a protected branch |
| `SHIPMATE_STACK_CONCURRENCY` | `bot.stack_concurrency` | `4` | stacks of one event previewed or applied at the same time (1: one after the other) |
| `SHIPMATE_POLL_REPOSITORIES` | `poll.repositories` | | comma-separated `owner/name` the scheduler polls (repositories without a webhook) |
| `SHIPMATE_POLL_SECONDS` | `poll.seconds` | `60` | how often they are polled |
| `SHIPMATE_DATA_DIR` | `storage.data_dir` | `.shipmate` | the embedded queue and working copies |
| `SHIPMATE_CACHE_DIR` | `storage.cache_root()` | server: `<data dir>/cache`; CLI: `$XDG_CACHE_HOME/shipmate`, else `~/.cache/shipmate` | checkouts, Terraform working directories and provider cache |
| `SHIPMATE_SECRET_SALT` | `storage.secret_salt` | (none) | the salt generated secret values are derived from; set a long random one and keep it secret |
| `SHIPMATE_TERRAFORM_BIN` | `terraform.binary` | `terraform` on `PATH` | the terraform executable (1.0.3 and newer) |
| `SHIPMATE_TERRAFORM_TIMEOUT` | `terraform.timeout_seconds` | `3600` | seconds per terraform command |
| `SHIPMATE_TERRAFORM_PASS_ENV` | `terraform.pass_env` | | comma-separated names of further variables handed to Terraform (e.g. `AWS_PROFILE`); Shipmate's own secrets never are |
| `SHIPMATE_TERRAFORM_SANDBOX` | `terraform.sandbox` | `auto` | run Terraform under bubblewrap: `auto` (when installed and working), `bwrap` (required) or `off` |
| `SHIPMATE_OAUTH_CLIENT_ID`, `SHIPMATE_OAUTH_CLIENT_SECRET` | `dashboard.client_id`, `.client_secret` | (dashboard off) | the OAuth App (or GitHub App) people sign in to the dashboard with; its callback URL is `<public URL>/login/callback` |
| `SHIPMATE_SESSION_SECRET` | `dashboard.session_secret` | (dashboard off) | signs the dashboard's session cookies: at least 32 random characters, the same on every replica |
| `SHIPMATE_OAUTH_SCOPES` | `dashboard.scopes` | (none) | comma-separated scopes the sign-in asks for: none for a GitHub App; `repo` for an OAuth App whose people read private repositories |
| `SHIPMATE_DASHBOARD_ROLE` | `dashboard.role` | `maintain` | the GitHub role (`read`, `triage`, `write`, `maintain`, `admin`) it takes to unlock or retry from the dashboard |
| `SHIPMATE_PUBLIC_URL` | `dashboard.public_url` | (the URL each request came to) | where people reach Shipmate, e.g. `https://shipmate.example.com`: the sign-in's redirect URI starts there |
| `SHIPMATE_LOG_LEVEL` | `log.level` | `INFO` | `DEBUG`, `INFO`, `WARNING` or `ERROR` |
| `SHIPMATE_LOG_FORMAT` | `log.format` | `serve`: `json`; other commands: `text` | `json` (one object per line, for a log shipper) or `text` (for people); see `bot.logs` |
| `SHIPMATE_CONFIG` | `config_file` | | the settings file |

Other tools' variables, read from the environment only (never from the settings file):

| variable | setting | default | meaning |
|---|---|---|---|
| `TF_CLI_CONFIG_FILE` | `terraform.cli_config_file` | an empty CLI config | Terraform CLI config, e.g. a provider mirror (ignored when the file does not exist) |
| `TF_PLUGIN_CACHE_DIR` | `terraform.plugin_cache_dir` | `<cache>/terraform/plugin-cache` | provider cache shared by the working directories |
| `KUBECONFIG` | `kubernetes.kubeconfig` | | kubeconfig files (`:`-separated) used when a workspace context names none |
| `KUBERNETES_SERVICE_HOST`, `KUBERNETES_SERVICE_PORT` | `kubernetes.service_host`, `.service_port` | | set inside a pod: the in-cluster service account is used |
| `HOME` | `kubernetes.home` | | `~` in a context's `KUBECONFIG_PATH`, `~/.kube/config`, the CLI's cache |
| `XDG_CACHE_HOME` | `storage.user_cache_dir` | `~/.cache` | the CLI's cache root |
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.errors import ConfigError, Problem
from bot.logs import FORMATS as LOG_FORMATS

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_MAX_BODY_BYTES = 25 * 1024 * 1024
DEFAULT_TERRAFORM_TIMEOUT_SECONDS = 3600.0
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
TERRAFORM_SANDBOX_MODES = ("auto", "bwrap", "off")
ENVIRONMENT = "environment"


# --- the groups ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GitHubSettings:
    """How Shipmate reaches GitHub: a token or a GitHub App, the API, request pacing."""

    token: str | None = field(default=None, repr=False)
    app_id: int | None = None
    app_private_key: str | None = field(default=None, repr=False)
    api_url: str = DEFAULT_API_URL
    throttle: bool = True
    writes_per_minute: int = 80
    writes_per_hour: int = 500
    pending_delay: float = 2.0

    @property
    def auth(self) -> str | None:
        """`app`, `token`, or None when no GitHub credentials are configured."""
        if self.app_id is not None:
            return "app"
        return "token" if self.token else None


@dataclass(frozen=True)
class WebhookSettings:
    """What a delivery must carry: a signature by one of `secrets`, at most `max_body_bytes`."""

    secrets: tuple[str, ...] = field(default=(), repr=False)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


@dataclass(frozen=True)
class HttpSettings:
    """Where the server listens and the limits of its HTTP workers (`bot.server`)."""

    host: str = "0.0.0.0"
    port: int = 8080
    threads: int = 8
    max_connections: int = 1000
    backlog: int = 1024
    header_timeout_seconds: float = 10.0
    request_timeout_seconds: float = 20.0
    graceful_timeout_seconds: float = 25.0

    @property
    def listen(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class QueueSettings:
    """The event queue and the workers that empty it: `url` is `sqlite` or a Redis URL;
    `handler` a `module:factory` replacing Shipmate's own event handler."""

    url: str = "sqlite"
    workers: int = 4
    lease_seconds: float = 60.0
    max_attempts: int = 5
    handler: str | None = None


@dataclass(frozen=True)
class BotSettings:
    """Which repositories the bot serves and how it runs their stacks: `policy_branch` is
    where every repository's `shipmate.yaml` is read (None: each one's default branch)."""

    repositories: tuple[str, ...] = ("*",)
    policy_branch: str | None = None
    stack_concurrency: int = 4

    def repository_allowed(self, full_name: str) -> bool:
        """Whether `owner/name` matches the allowlist (case-insensitive, as GitHub names are)."""
        name = full_name.lower()
        return any(fnmatch.fnmatchcase(name, pattern.lower()) for pattern in self.repositories)


@dataclass(frozen=True)
class PollSettings:
    """Repositories without a webhook, polled by the scheduler every `seconds`."""

    repositories: tuple[str, ...] = ()
    seconds: float = 60.0


@dataclass(frozen=True)
class StorageSettings:
    """Where Shipmate keeps files, and the salt generated secret values are derived from."""

    data_dir: Path = Path(".shipmate")
    cache_dir: Path | None = None  # SHIPMATE_CACHE_DIR; see cache_root()
    user_cache_dir: Path = Path(".shipmate/cache")  # the CLI's default: from_env sets it from XDG_CACHE_HOME/HOME
    secret_salt: str = field(default="", repr=False)

    def cache_root(self, *, server: bool) -> Path:
        """Where checkouts and Terraform working directories live: `SHIPMATE_CACHE_DIR`, else
        the server's `<data dir>/cache` or, for the CLI, the user's cache directory."""
        if self.cache_dir is not None:
            return self.cache_dir
        return self.data_dir / "cache" if server else self.user_cache_dir


@dataclass(frozen=True)
class TerraformOptions:
    """How the Terraform runtime runs `terraform` on this machine (see
    `bot.adapters.terraform`): `binary` None is `terraform` on `PATH`, `cli_config_file` None
    an empty CLI config, `plugin_cache_dir` None `<cache>/terraform/plugin-cache`."""

    binary: str | None = None
    cli_config_file: Path | None = None
    plugin_cache_dir: Path | None = None
    timeout_seconds: float = DEFAULT_TERRAFORM_TIMEOUT_SECONDS
    pass_env: tuple[str, ...] = ()
    sandbox: str = "auto"


@dataclass(frozen=True)
class KubernetesOptions:
    """Where the Kubernetes runtime finds credentials when a workspace context names none
    (see `bot.adapters.kubernetes.kubeconfig`): `kubeconfig` (`KUBECONFIG`), the in-cluster
    service (`service_host`/`service_port`), `home` (`~/.kube/config`, `~` in paths)."""

    kubeconfig: str | None = None
    service_host: str | None = None
    service_port: str | None = None
    home: str | None = None

    @property
    def in_cluster(self) -> bool:
        return bool(self.service_host and self.service_port)


DASHBOARD_ROLES = ("read", "triage", "write", "maintain", "admin")  # GitHub's, weakest first
MIN_SESSION_SECRET = 32


@dataclass(frozen=True)
class DashboardSettings:
    """The dashboard and read API (`bot.web.auth`): the OAuth App people sign in with, the
    secret signing their session cookies, the role it takes to act, where people reach it.
    Off (`enabled` False) until the client id, client secret and session secret are set."""

    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    session_secret: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = ()
    role: str = "maintain"
    public_url: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.client_id and self.client_secret and self.session_secret)


@dataclass(frozen=True)
class LogSettings:
    level: str = "INFO"
    format: str | None = None  # json | text; None: the command's own (`format_for`)

    def format_for(self, *, server: bool) -> str:
        """The log format: the one set, else `json` for the server and `text` for the CLI."""
        return self.format or ("json" if server else "text")


@dataclass(frozen=True)
class Settings:
    """Everything Shipmate reads from its environment, validated and grouped. Secrets never
    appear in `repr`."""

    github: GitHubSettings = field(default_factory=GitHubSettings)
    webhook: WebhookSettings = field(default_factory=WebhookSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    bot: BotSettings = field(default_factory=BotSettings)
    poll: PollSettings = field(default_factory=PollSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    terraform: TerraformOptions = field(default_factory=TerraformOptions)
    kubernetes: KubernetesOptions = field(default_factory=KubernetesOptions)
    dashboard: DashboardSettings = field(default_factory=DashboardSettings)
    log: LogSettings = field(default_factory=LogSettings)
    config_file: Path | None = None

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Every secret setting's value (webhook secrets, token, App key, salt): masked everywhere."""
        values = (*self.webhook.secrets, self.github.token, self.github.app_private_key, self.storage.secret_salt,
                  self.dashboard.client_secret, self.dashboard.session_secret)
        return tuple(v for v in values if v)

    def runtime_options(self) -> dict[str, object]:
        """The groups the runtime plug-ins are handed (`RuntimeSettings.options`), by name."""
        return {"terraform": self.terraform, "kubernetes": self.kubernetes}

    def require_webhook_secret(self) -> None:
        if not self.webhook.secrets:
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
        groups = _build(values, problems)
        groups["storage"]["user_cache_dir"] = _user_cache(env)
        if env.get("HOME"):
            groups["kubernetes"]["home"] = env["HOME"]
        if problems:
            raise ConfigError(problems)
        return cls(config_file=config_path, **{name: _GROUPS[name](**fields) for name, fields in groups.items()})


def _user_cache(env: Mapping[str, str]) -> Path:
    xdg = env.get("XDG_CACHE_HOME")
    home = env.get("HOME") or "/tmp"
    return Path(xdg) / "shipmate" if xdg else Path(home) / ".cache" / "shipmate"


_GROUPS: dict[str, Callable[..., Any]] = {
    "github": GitHubSettings,
    "webhook": WebhookSettings,
    "http": HttpSettings,
    "queue": QueueSettings,
    "bot": BotSettings,
    "poll": PollSettings,
    "storage": StorageSettings,
    "terraform": TerraformOptions,
    "kubernetes": KubernetesOptions,
    "dashboard": DashboardSettings,
    "log": LogSettings,
}


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Value:
    """A raw setting with where it came from, for error messages."""

    value: Any
    file: str
    line: int
    column: int
    name: str  # the variable or the file key
    base: Path | None = None  # the settings file's directory: relative paths start there

    def problem(self, message: str) -> Problem:
        return Problem(self.file, self.line, self.column, self.name, message)


def _text(v: _Value) -> str:
    if isinstance(v.value, bool) or not isinstance(v.value, str | int | float):
        raise ValueError(f"must be a string, got {type(v.value).__name__}")
    return str(v.value)


def _path(v: _Value) -> Path:
    p = Path(_text(v)).expanduser()
    return v.base / p if v.base is not None and not p.is_absolute() else p


def _integer(low: int, high: int) -> Callable[[_Value], int]:
    def convert(v: _Value) -> int:
        try:
            number = int(_text(v))
        except ValueError:
            raise ValueError(f"must be an integer, got {v.value!r}") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}, got {number}")
        return number
    return convert


def _seconds_within(low: float, high: float) -> Callable[[_Value], float]:
    def convert(v: _Value) -> float:
        try:
            number = float(_text(v))
        except ValueError:
            raise ValueError(f"must be a number of seconds, got {v.value!r}") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low:g} and {high:g} seconds, got {number:g}")
        return number
    return convert


_seconds = _seconds_within(1, 86400)
_short_delay = _seconds_within(0, 60)  # a pending status's delay


def _positive_seconds(v: _Value) -> float:
    try:
        number = float(_text(v))
    except ValueError:
        raise ValueError(f"must be a number of seconds, got {v.value!r}") from None
    if not 0 < number < float("inf"):
        raise ValueError(f"must be more than 0 seconds, got {number:g}")
    return number


def _api_url(v: _Value) -> str:
    url = _text(v).rstrip("/")
    if not re.match(r"^https?://[^/\s]+", url):
        raise ValueError(f"must be an http(s) URL, got {url!r}")
    return url


def _queue_url(v: _Value) -> str:
    url = _text(v)
    if url == "sqlite" or re.match(r"^(redis|rediss|unix)://\S+$", url):
        return url
    raise ValueError(f"must be 'sqlite' or a redis://, rediss:// or unix:// URL, got {url!r}")


def _items(v: _Value) -> tuple[str, ...]:
    items = v.value if isinstance(v.value, list) else _text(v).split(",")
    return tuple(str(p).strip() for p in items if str(p).strip())


_REPO_PATTERN = re.compile(r"^[A-Za-z0-9_.*?\[\]-]+/[A-Za-z0-9_.*?\[\]-]+$")
_REPO_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_HANDLER = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _repositories(v: _Value) -> tuple[str, ...]:
    patterns = _items(v)
    if not patterns:
        raise ValueError("must list at least one owner/name pattern (use * for every repository)")
    bad = [p for p in patterns if p != "*" and not _REPO_PATTERN.match(p)]
    if bad:
        raise ValueError(f"patterns must look like owner/name (globs allowed), got {', '.join(bad)}")
    return patterns


def _exact_repositories(v: _Value) -> tuple[str, ...]:
    names = _items(v)
    bad = [n for n in names if not _REPO_NAME.match(n)]
    if bad:
        raise ValueError(f"expected owner/name (no globs), got {', '.join(bad)}")
    return names


def _variable_names(v: _Value) -> tuple[str, ...]:
    names = _items(v)
    bad = [n for n in names if not _VARIABLE.match(n)]
    if bad:
        raise ValueError(f"expected comma-separated variable names, got {', '.join(bad)}")
    return names


def _handler(v: _Value) -> str:
    spec = _text(v)
    if not _HANDLER.match(spec):
        raise ValueError(f"must be module:function, got {spec!r}")
    return spec


def _boolean(v: _Value) -> bool:
    if isinstance(v.value, bool):
        return v.value
    word = _text(v).lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"must be true or false, got {v.value!r}")


def _one_of(choices: tuple[str, ...]) -> Callable[[_Value], str]:
    def convert(v: _Value) -> str:
        word = _text(v).strip().lower()
        if word not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {v.value!r}")
        return word
    return convert


def _branch_name(v: _Value) -> str:
    name = _text(v).strip()
    if not name or name.startswith(("-", "/", "refs/")) or name.endswith(("/", ".lock", ".")) \
            or ".." in name or "@{" in name or any(ch in name for ch in " ~^:?*[\\"):
        raise ValueError(f"must be a git branch name, got {v.value!r}")
    return name


def _oauth_scopes(v: _Value) -> tuple[str, ...]:
    scopes = _items(v)
    bad = [s for s in scopes if not re.match(r"^[a-z][a-z_:]*$", s)]
    if bad:
        raise ValueError(f"expected comma-separated OAuth scopes (repo, read:org, ...), got {', '.join(bad)}")
    return scopes


def _session_secret(v: _Value) -> str:
    secret = _text(v)
    if len(secret) < MIN_SESSION_SECRET:
        raise ValueError(f"must be at least {MIN_SESSION_SECRET} characters (a long random string), got {len(secret)}")
    return secret


def _log_level(v: _Value) -> str:
    level = _text(v).upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}, got {v.value!r}")
    return level


@dataclass(frozen=True, slots=True)
class _Field:
    """One setting read by a converter: its variable, its key in the file (None: read from
    the environment only), and where its value goes (`group`, `name`)."""

    variable: str
    key: str | None
    group: str
    name: str
    convert: Callable[[_Value], Any]

    @property
    def source(self) -> str:
        return self.key or self.variable


# In the order their problems are reported. The webhook secrets, the listen address and the
# GitHub App are read together (see _build).
_FIELDS: tuple[_Field, ...] = (
    _Field("GITHUB_TOKEN", "github_token", "github", "token", _text),
    _Field("GITHUB_API_URL", "github_api_url", "github", "api_url", _api_url),
    _Field("SHIPMATE_DATA_DIR", "data_dir", "storage", "data_dir", _path),
    _Field("SHIPMATE_CACHE_DIR", "cache_dir", "storage", "cache_dir", _path),
    _Field("SHIPMATE_SECRET_SALT", "secret_salt", "storage", "secret_salt", _text),
    _Field("SHIPMATE_REPOSITORIES", "repositories", "bot", "repositories", _repositories),
    _Field("SHIPMATE_QUEUE", "queue", "queue", "url", _queue_url),
    _Field("SHIPMATE_WORKERS", "workers", "queue", "workers", _integer(1, 256)),
    _Field("SHIPMATE_QUEUE_LEASE_SECONDS", "queue_lease_seconds", "queue", "lease_seconds", _seconds),
    _Field("SHIPMATE_QUEUE_MAX_ATTEMPTS", "queue_max_attempts", "queue", "max_attempts", _integer(1, 100)),
    _Field("SHIPMATE_STACK_CONCURRENCY", "stack_concurrency", "bot", "stack_concurrency", _integer(1, 64)),
    _Field("SHIPMATE_MAX_BODY_BYTES", "max_body_bytes", "webhook", "max_body_bytes", _integer(1024, 1024**3)),
    _Field("SHIPMATE_HANDLER", "handler", "queue", "handler", _handler),
    _Field("SHIPMATE_LOG_LEVEL", "log_level", "log", "level", _log_level),
    _Field("SHIPMATE_LOG_FORMAT", "log_format", "log", "format", _one_of(LOG_FORMATS)),
    _Field("SHIPMATE_POLICY_BRANCH", "policy_branch", "bot", "policy_branch", _branch_name),
    _Field("SHIPMATE_POLL_REPOSITORIES", "poll_repositories", "poll", "repositories", _exact_repositories),
    _Field("SHIPMATE_POLL_SECONDS", "poll_seconds", "poll", "seconds", _seconds),
    _Field("SHIPMATE_GITHUB_THROTTLE", "github_throttle", "github", "throttle", _boolean),
    _Field("SHIPMATE_GITHUB_WRITES_PER_MINUTE", "github_writes_per_minute", "github", "writes_per_minute",
           _integer(1, 10_000)),
    _Field("SHIPMATE_GITHUB_WRITES_PER_HOUR", "github_writes_per_hour", "github", "writes_per_hour",
           _integer(1, 100_000)),
    _Field("SHIPMATE_GITHUB_PENDING_DELAY", "github_pending_delay", "github", "pending_delay", _short_delay),
    _Field("SHIPMATE_TERRAFORM_SANDBOX", "terraform_sandbox", "terraform", "sandbox", _one_of(TERRAFORM_SANDBOX_MODES)),
    _Field("SHIPMATE_HTTP_THREADS", "http_threads", "http", "threads", _integer(1, 256)),
    _Field("SHIPMATE_HTTP_MAX_CONNECTIONS", "http_max_connections", "http", "max_connections", _integer(2, 100_000)),
    _Field("SHIPMATE_HTTP_BACKLOG", "http_backlog", "http", "backlog", _integer(1, 65535)),
    _Field("SHIPMATE_HEADER_TIMEOUT_SECONDS", "header_timeout_seconds", "http", "header_timeout_seconds", _seconds),
    _Field("SHIPMATE_REQUEST_TIMEOUT_SECONDS", "request_timeout_seconds", "http", "request_timeout_seconds", _seconds),
    _Field("SHIPMATE_GRACEFUL_TIMEOUT_SECONDS", "graceful_timeout_seconds", "http", "graceful_timeout_seconds", _seconds),
    _Field("SHIPMATE_OAUTH_CLIENT_ID", "oauth_client_id", "dashboard", "client_id", _text),
    _Field("SHIPMATE_OAUTH_CLIENT_SECRET", "oauth_client_secret", "dashboard", "client_secret", _text),
    _Field("SHIPMATE_SESSION_SECRET", "session_secret", "dashboard", "session_secret", _session_secret),
    _Field("SHIPMATE_OAUTH_SCOPES", "oauth_scopes", "dashboard", "scopes", _oauth_scopes),
    _Field("SHIPMATE_DASHBOARD_ROLE", "dashboard_role", "dashboard", "role", _one_of(DASHBOARD_ROLES)),
    _Field("SHIPMATE_PUBLIC_URL", "public_url", "dashboard", "public_url", _api_url),
    _Field("SHIPMATE_TERRAFORM_BIN", "terraform_bin", "terraform", "binary", _text),
    _Field("SHIPMATE_TERRAFORM_TIMEOUT", "terraform_timeout", "terraform", "timeout_seconds", _positive_seconds),
    _Field("SHIPMATE_TERRAFORM_PASS_ENV", "terraform_pass_env", "terraform", "pass_env", _variable_names),
    _Field("TF_CLI_CONFIG_FILE", None, "terraform", "cli_config_file", _path),
    _Field("TF_PLUGIN_CACHE_DIR", None, "terraform", "plugin_cache_dir", _path),
    _Field("KUBECONFIG", None, "kubernetes", "kubeconfig", _text),
    _Field("KUBERNETES_SERVICE_HOST", None, "kubernetes", "service_host", _text),
    _Field("KUBERNETES_SERVICE_PORT", None, "kubernetes", "service_port", _text),
)

# Environment variable → key in the settings file (the variable itself when it has none).
_ENV_TO_KEY: dict[str, str] = {
    "SHIPMATE_WEBHOOK_SECRET": "webhook_secret",
    "SHIPMATE_WEBHOOK_SECRET_PREVIOUS": "webhook_secret_previous",
    "SHIPMATE_GITHUB_APP_ID": "github_app_id",
    "SHIPMATE_GITHUB_APP_PRIVATE_KEY": "github_app_private_key",
    "SHIPMATE_GITHUB_APP_PRIVATE_KEY_PATH": "github_app_private_key_path",
    "SHIPMATE_LISTEN": "listen",
    **{f.variable: f.source for f in _FIELDS},
}
_FILE_KEYS = frozenset(
    key for variable, key in _ENV_TO_KEY.items() if key != variable
)
_SECRET_KEYS = frozenset(
    {"webhook_secret", "webhook_secret_previous", "github_token", "github_app_private_key", "secret_salt",
     "oauth_client_secret", "session_secret"}
)


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
        if key not in _FILE_KEYS:
            known = ", ".join(sorted(_FILE_KEYS))
            problems.append(Problem(str(path), line, column, str(key), f"unknown setting (known: {known})"))
            continue
        values[str(key)] = _Value(value, str(path), line, column, str(key), path.parent)
    return values


def _build(values: Mapping[str, _Value], problems: list[Problem]) -> dict[str, dict[str, Any]]:
    """Each group's fields from the raw values (defaults for the rest); problems appended."""
    groups: dict[str, dict[str, Any]] = {name: {} for name in _GROUPS}
    for f in _FIELDS:
        raw = values.get(f.source)
        if raw is None:
            continue
        try:
            groups[f.group][f.name] = f.convert(raw)
        except ValueError as exc:
            problems.append(raw.problem(str(exc)))
    http = groups["http"]
    if http.get("max_connections", 1000) <= http.get("threads", 8):
        where = values.get("http_max_connections") or values["http_threads"]
        problems.append(where.problem("SHIPMATE_HTTP_MAX_CONNECTIONS must be larger than SHIPMATE_HTTP_THREADS"))
    groups["webhook"]["secrets"] = _webhook_secrets(values, problems)
    listen = values.get("listen")
    if listen is not None:
        try:
            http["host"], http["port"] = parse_listen(_text(listen))
        except ValueError as exc:
            problems.append(listen.problem(str(exc)))
    groups["github"].update(_github_app(values, problems))
    _dashboard_whole(values, problems)
    return groups


_DASHBOARD_KEYS = {"oauth_client_id": "SHIPMATE_OAUTH_CLIENT_ID", "oauth_client_secret": "SHIPMATE_OAUTH_CLIENT_SECRET",
                   "session_secret": "SHIPMATE_SESSION_SECRET"}


def _dashboard_whole(values: Mapping[str, _Value], problems: list[Problem]) -> None:
    """The dashboard's OAuth App and session secret come together or not at all."""
    given = [key for key in _DASHBOARD_KEYS if key in values]
    if given and len(given) < len(_DASHBOARD_KEYS):
        missing = " and ".join(v for k, v in _DASHBOARD_KEYS.items() if k not in given)
        problems.append(values[given[0]].problem(f"the dashboard needs {missing} as well"))


def _webhook_secrets(values: Mapping[str, _Value], problems: list[Problem]) -> tuple[str, ...]:
    secrets = []
    for key in ("webhook_secret", "webhook_secret_previous"):
        raw = values.get(key)
        if raw is not None:
            try:
                secrets.append(_text(raw))
            except ValueError as exc:
                problems.append(raw.problem(str(exc)))
    if "webhook_secret_previous" in values and "webhook_secret" not in values:
        problems.append(values["webhook_secret_previous"].problem("needs SHIPMATE_WEBHOOK_SECRET as well"))
    return tuple(secrets)


def _github_app(values: Mapping[str, _Value], problems: list[Problem]) -> dict[str, Any]:
    """`app_id` and `app_private_key` when the App is configured whole and well."""
    app_id, key, key_path = (values.get(k) for k in ("github_app_id", "github_app_private_key", "github_app_private_key_path"))
    if key is not None and key_path is not None:
        problems.append(key_path.problem("set either the private key or its path, not both"))
        return {}
    private_key: str | None = None
    if key is not None:
        private_key = str(key.value)
    elif key_path is not None:
        try:
            private_key = _path(key_path).read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:
            problems.append(key_path.problem(f"cannot read the private key: {getattr(exc, 'strerror', None) or exc}"))
            return {}
    if app_id is None and private_key is None:
        return {}
    if app_id is None:
        where = key if key is not None else key_path
        assert where is not None
        problems.append(where.problem("needs SHIPMATE_GITHUB_APP_ID as well"))
        return {}
    if private_key is None:
        problems.append(app_id.problem("needs SHIPMATE_GITHUB_APP_PRIVATE_KEY or SHIPMATE_GITHUB_APP_PRIVATE_KEY_PATH"))
        return {}
    try:
        number = int(str(app_id.value))
    except ValueError:
        problems.append(app_id.problem(f"must be an integer, got {app_id.value!r}"))
        return {}
    if "BEGIN" not in private_key or "PRIVATE KEY" not in private_key:
        where = key if key is not None else key_path
        assert where is not None
        problems.append(where.problem("is not a PEM private key"))
        return {}
    return {"app_id": number, "app_private_key": private_key}


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
