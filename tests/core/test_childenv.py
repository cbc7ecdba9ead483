"""The environment of child processes: an allowlist, never the process environment."""

from __future__ import annotations

from bot.core.childenv import DEFAULT_PATH, child_env, forbidden

PARENT = {
    "PATH": "/opt/bin:/usr/bin",
    "HOME": "/home/bot",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "HTTPS_PROXY": "http://proxy:3128",
    "no_proxy": "localhost",
    "SSL_CERT_FILE": "/etc/ssl/certs/ca.pem",
    "GITHUB_TOKEN": "ghp_secret",
    "GH_TOKEN": "ghp_secret2",
    "SHIPMATE_WEBHOOK_SECRET": "whsec",
    "SHIPMATE_SECRET_SALT": "salt",
    "SHIPMATE_GITHUB_APP_PRIVATE_KEY": "-----BEGIN",
    "ACTIONS_RUNTIME_TOKEN": "runner-token",
    "INPUT_GITHUB-TOKEN": "input-token",
    "AWS_SECRET_ACCESS_KEY": "bot-aws-key",
    "LD_PRELOAD": "/tmp/evil.so",
    "RANDOM_THING": "x",
}


def test_only_the_allowlist_is_inherited() -> None:
    env = child_env(PARENT)
    assert env == {
        "PATH": "/opt/bin:/usr/bin",
        "HOME": "/home/bot",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HTTPS_PROXY": "http://proxy:3128",
        "no_proxy": "localhost",
        "SSL_CERT_FILE": "/etc/ssl/certs/ca.pem",
    }


def test_extras_win_but_never_forbidden_names() -> None:
    env = child_env(
        PARENT,
        {
            "AWS_ACCESS_KEY_ID": "AKIA",
            "HOME": "/work",
            "GITHUB_TOKEN": "smuggled",
            "SHIPMATE_ANYTHING": "x",
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "core.fsmonitor",
            "LD_PRELOAD": "/x.so",
            "bad name": "x",
            "NUL": "a\0b",
        },
    )
    assert env["AWS_ACCESS_KEY_ID"] == "AKIA" and env["HOME"] == "/work"
    for name in ("GITHUB_TOKEN", "SHIPMATE_ANYTHING", "GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0",
                 "LD_PRELOAD", "bad name", "NUL"):
        assert name not in env


def test_also_passes_named_variables_but_not_secrets() -> None:
    env = child_env(PARENT, also=["RANDOM_THING", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN",
                                  "SHIPMATE_SECRET_SALT", "ABSENT"])
    assert env["RANDOM_THING"] == "x" and env["AWS_SECRET_ACCESS_KEY"] == "bot-aws-key"
    assert "GITHUB_TOKEN" not in env and "SHIPMATE_SECRET_SALT" not in env and "ABSENT" not in env


def test_path_is_always_set() -> None:
    assert child_env({}) == {"PATH": DEFAULT_PATH}
    assert child_env({"PATH": ""})["PATH"] == DEFAULT_PATH
    assert forbidden("SHIPMATE_WEBHOOK_SECRET_PREVIOUS") and forbidden("GH_TOKEN")
    assert not forbidden("AWS_REGION")
