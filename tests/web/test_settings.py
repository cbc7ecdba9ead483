"""Server settings: defaults, environment over file, and one clear problem per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.errors import ConfigError
from bot.settings import Settings, parse_listen

KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"


def test_defaults() -> None:
    s = Settings.from_env({})
    assert (s.http.host, s.http.port, s.http.listen) == ("0.0.0.0", 8080, "0.0.0.0:8080")
    assert (s.github.api_url, s.queue.url, s.queue.workers, s.bot.repositories) == (
        "https://api.github.com", "sqlite", 4, ("*",))
    assert s.webhook.max_body_bytes == 25 * 1024 * 1024
    assert s.webhook.secrets == () and s.github.auth is None
    with pytest.raises(ConfigError, match="SHIPMATE_WEBHOOK_SECRET: is required"):
        s.require_webhook_secret()


def test_everything_from_the_environment(tmp_path: Path) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text(KEY)
    s = Settings.from_env({
        "SHIPMATE_WEBHOOK_SECRET": "s3cret",
        "SHIPMATE_WEBHOOK_SECRET_PREVIOUS": "old",
        "GITHUB_TOKEN": "ghp_x",
        "SHIPMATE_GITHUB_APP_ID": "1234",
        "SHIPMATE_GITHUB_APP_PRIVATE_KEY_PATH": str(key_file),
        "GITHUB_API_URL": "http://127.0.0.1:9000/api/v3/",
        "SHIPMATE_LISTEN": "[::1]:9090",
        "SHIPMATE_DATA_DIR": str(tmp_path),
        "SHIPMATE_REPOSITORIES": "acme/*, other/one",
        "SHIPMATE_QUEUE": "redis://127.0.0.1:6379/0",
        "SHIPMATE_WORKERS": "8",
        "SHIPMATE_QUEUE_LEASE_SECONDS": "120",
        "SHIPMATE_QUEUE_MAX_ATTEMPTS": "7",
        "SHIPMATE_MAX_BODY_BYTES": "1048576",
        "SHIPMATE_HANDLER": "my.module:factory",
        "SHIPMATE_LOG_LEVEL": "debug",
    })
    assert s.webhook.secrets == ("s3cret", "old")
    assert (s.github.auth, s.github.app_id, s.github.app_private_key) == ("app", 1234, KEY)
    assert s.github.api_url == "http://127.0.0.1:9000/api/v3"
    assert (s.http.host, s.http.port, s.http.listen) == ("::1", 9090, "[::1]:9090")
    assert s.bot.repositories == ("acme/*", "other/one")
    assert (s.queue.url, s.queue.workers, s.queue.lease_seconds, s.queue.max_attempts) == (
        "redis://127.0.0.1:6379/0", 8, 120.0, 7)
    assert (s.webhook.max_body_bytes, s.queue.handler, s.log.level, s.storage.data_dir) == (
        1048576, "my.module:factory", "DEBUG", tmp_path)


def test_secrets_stay_out_of_repr() -> None:
    s = Settings.from_env({"SHIPMATE_WEBHOOK_SECRET": "hunter2", "GITHUB_TOKEN": "ghp_topsecret"})
    assert "hunter2" not in repr(s) and "ghp_topsecret" not in repr(s)


def test_allowlist_globs() -> None:
    s = Settings.from_env({"SHIPMATE_REPOSITORIES": "acme/*,solo/config-?"})
    allowed = s.bot.repository_allowed
    assert allowed("acme/anything") and allowed("ACME/Thing")
    assert allowed("solo/config-1")
    assert not allowed("solo/config-10") and not allowed("evil/acme")


def test_file_with_environment_overrides(tmp_path: Path) -> None:
    (tmp_path / "key.pem").write_text(KEY)
    config = tmp_path / "shipmate-server.yaml"
    config.write_text(
        "webhook_secret: from-file\n"
        "listen: 127.0.0.1:7000\n"
        "repositories: [acme/a, acme/b]\n"
        "workers: 2\n"
        "data_dir: state\n"
        "github_app_id: 42\n"
        "github_app_private_key_path: key.pem\n"
    )
    s = Settings.from_env({"SHIPMATE_WORKERS": "6", "SHIPMATE_CONFIG": str(config)})
    assert s.webhook.secrets == ("from-file",)
    assert (s.http.port, s.queue.workers, s.bot.repositories) == (7000, 6, ("acme/a", "acme/b"))
    assert s.storage.data_dir == tmp_path / "state"  # relative to the file
    assert s.github.app_private_key == KEY and s.config_file == config


def test_toml_file(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text('webhook_secret = "t"\nqueue = "sqlite"\nrepositories = ["a/b"]\n')
    s = Settings.from_env({}, config)
    assert (s.webhook.secrets, s.bot.repositories) == (("t",), ("a/b",))


def test_every_bad_value_is_reported_with_its_name() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({
            "SHIPMATE_LISTEN": "8080",
            "SHIPMATE_WORKERS": "many",
            "SHIPMATE_QUEUE": "postgres://db",
            "GITHUB_API_URL": "api.github.com",
            "SHIPMATE_REPOSITORIES": "justaname",
            "SHIPMATE_GITHUB_APP_ID": "12",
            "SHIPMATE_HANDLER": "not a handler",
            "SHIPMATE_LOG_LEVEL": "loud",
            "SHIPMATE_QUEUE_LEASE_SECONDS": "0",
        })
    assert str(info.value).splitlines() == [
        "environment: GITHUB_API_URL: must be an http(s) URL, got 'api.github.com'",
        "environment: SHIPMATE_REPOSITORIES: patterns must look like owner/name (globs allowed), got justaname",
        "environment: SHIPMATE_QUEUE: must be 'sqlite' or a redis://, rediss:// or unix:// URL, got 'postgres://db'",
        "environment: SHIPMATE_WORKERS: must be an integer, got 'many'",
        "environment: SHIPMATE_QUEUE_LEASE_SECONDS: must be between 1 and 86400 seconds, got 0",
        "environment: SHIPMATE_HANDLER: must be module:function, got 'not a handler'",
        "environment: SHIPMATE_LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, got 'loud'",
        "environment: SHIPMATE_LISTEN: must be host:port (e.g. 0.0.0.0:8080), got '8080'",
        "environment: SHIPMATE_GITHUB_APP_ID: needs SHIPMATE_GITHUB_APP_PRIVATE_KEY or SHIPMATE_GITHUB_APP_PRIVATE_KEY_PATH",
    ]


def test_file_problems_carry_line_and_column(tmp_path: Path) -> None:
    config = tmp_path / "s.yaml"
    config.write_text("webhook_secret: x\nworkres: 3\nworkers: -1\n")
    with pytest.raises(ConfigError) as info:
        Settings.from_env({}, config)
    lines = str(info.value).splitlines()
    assert lines[0].startswith(f"{config}:2:1: workres: unknown setting (known: ")
    assert lines[1] == f"{config}:3:1: workers: must be between 1 and 256, got -1"


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read settings file"):
        Settings.from_env({}, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("listen: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:2:1: invalid YAML"):
        Settings.from_env({}, bad)
    not_a_map = tmp_path / "list.yaml"
    not_a_map.write_text("- a\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        Settings.from_env({}, not_a_map)


def test_app_key_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SHIPMATE_GITHUB_APP_PRIVATE_KEY: needs SHIPMATE_GITHUB_APP_ID"):
        Settings.from_env({"SHIPMATE_GITHUB_APP_PRIVATE_KEY": KEY})
    with pytest.raises(ConfigError, match="is not a PEM private key"):
        Settings.from_env({"SHIPMATE_GITHUB_APP_ID": "1", "SHIPMATE_GITHUB_APP_PRIVATE_KEY": "nope"})
    with pytest.raises(ConfigError, match="cannot read the private key"):
        Settings.from_env({"SHIPMATE_GITHUB_APP_ID": "1",
                           "SHIPMATE_GITHUB_APP_PRIVATE_KEY_PATH": str(tmp_path / "none.pem")})


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.0.0.0:8080", ("0.0.0.0", 8080)), (":9000", ("0.0.0.0", 9000)), ("[::]:80", ("::", 80)),
     ("localhost:0", ("localhost", 0))],
)
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


def test_parse_listen_rejects_big_ports() -> None:
    with pytest.raises(ValueError, match="at most 65535"):
        parse_listen("a:70000")


def test_the_salt_and_the_cache_directory_are_settings_like_the_others(tmp_path: Path) -> None:
    # One reader of the environment: the server, the Action, the CLI and `shipmate generate`
    # take the salt and the cache directory from Settings, with one default each.
    settings = Settings.from_env({"SHIPMATE_SECRET_SALT": " pepper-123 ", "HOME": "/home/ops",
                                  "SHIPMATE_DATA_DIR": str(tmp_path)})
    assert settings.storage.secret_salt == " pepper-123 "  # a secret: kept exactly, never stripped
    assert " pepper-123 " in settings.secret_values and "pepper" not in repr(settings)
    assert settings.storage.cache_root(server=True) == tmp_path / "cache"
    assert settings.storage.cache_root(server=False) == Path("/home/ops/.cache/shipmate")
    xdg = Settings.from_env({"XDG_CACHE_HOME": "/var/cache/u", "HOME": "/home/ops"})
    assert xdg.storage.cache_root(server=False) == Path("/var/cache/u/shipmate")
    chosen = Settings.from_env({"SHIPMATE_CACHE_DIR": str(tmp_path / "c"), "HOME": "/home/ops"})
    assert chosen.storage.cache_root(server=True) == chosen.storage.cache_root(server=False) == tmp_path / "c"
