"""The grouped settings: every documented variable lands in its group, bad values in any
groups are reported together and by name, and the runtimes' variables are read here too."""

from __future__ import annotations

import re
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bot.settings
from bot.core.errors import ConfigError
from bot.settings import KubernetesOptions, Settings, TerraformOptions

# One bad value per variable, by group, with what the problem says.
BAD: dict[str, dict[str, tuple[str, str]]] = {
    "github": {"GITHUB_API_URL": ("api.github.com", "must be an http(s) URL"),
               "SHIPMATE_GITHUB_THROTTLE": ("maybe", "must be true or false")},
    "webhook": {"SHIPMATE_MAX_BODY_BYTES": ("12", "must be between 1024 and 1073741824, got 12")},
    "http": {"SHIPMATE_LISTEN": ("8080", "must be host:port"),
             "SHIPMATE_HTTP_BACKLOG": ("0", "must be between 1 and 65535, got 0")},
    "queue": {"SHIPMATE_QUEUE": ("postgres://db", "must be 'sqlite' or a redis://"),
              "SHIPMATE_WORKERS": ("many", "must be an integer, got 'many'"),
              "SHIPMATE_HANDLER": ("not a handler", "must be module:function")},
    "bot": {"SHIPMATE_REPOSITORIES": ("justaname", "patterns must look like owner/name"),
            "SHIPMATE_STACK_CONCURRENCY": ("0", "must be between 1 and 64, got 0"),
            "SHIPMATE_POLICY_BRANCH": ("a b", "must be a git branch name")},
    "poll": {"SHIPMATE_POLL_SECONDS": ("0", "must be between 1 and 86400 seconds, got 0"),
             "SHIPMATE_POLL_REPOSITORIES": ("acme/*", "expected owner/name (no globs)")},
    "terraform": {"SHIPMATE_TERRAFORM_TIMEOUT": ("soon", "must be a number of seconds, got 'soon'"),
                  "SHIPMATE_TERRAFORM_SANDBOX": ("docker", "must be one of auto, bwrap, off"),
                  "SHIPMATE_TERRAFORM_PASS_ENV": ("AWS_PROFILE, NOT-A-NAME", "expected comma-separated variable names")},
    "log": {"SHIPMATE_LOG_LEVEL": ("loud", "must be one of DEBUG, INFO, WARNING, ERROR")},
}
ALL_BAD = {variable: bad for group in BAD.values() for variable, bad in group.items()}


def documented_variables() -> list[str]:
    """The variables named in the first column of the module docstring's tables."""
    doc = bot.settings.__doc__ or ""
    names: list[str] = []
    for row in re.findall(r"(?m)^\| (`[^|]+) \|", doc):
        names.extend(re.findall(r"`([A-Z][A-Z0-9_]+)`", row))
    return names


@settings(max_examples=60, deadline=None)
@given(st.sets(st.sampled_from(sorted(ALL_BAD)), min_size=1))
def test_bad_values_in_any_groups_are_reported_together_by_name(chosen: set[str]) -> None:
    env = {variable: ALL_BAD[variable][0] for variable in chosen}
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    problems = caught.value.problems
    assert sorted(p.field for p in problems) == sorted(chosen)  # one problem each, nothing else
    for problem in problems:
        assert problem.file == "environment"
        assert ALL_BAD[problem.field][1] in problem.message
    with pytest.raises(ConfigError) as again:
        Settings.from_env(dict(reversed(list(env.items()))))
    assert str(again.value) == str(caught.value)  # the order is the settings', not the environment's


@settings(max_examples=60, deadline=None)
@given(
    workers=st.integers(1, 256),
    threads=st.integers(1, 256),
    concurrency=st.integers(1, 64),
    lease=st.integers(1, 86400),
    timeout=st.floats(0.5, 1e6),
    port=st.integers(0, 65535),
)
def test_good_values_land_in_their_group(
    workers: int, threads: int, concurrency: int, lease: int, timeout: float, port: int
) -> None:
    s = Settings.from_env({
        "SHIPMATE_WORKERS": str(workers), "SHIPMATE_HTTP_THREADS": str(threads),
        "SHIPMATE_STACK_CONCURRENCY": str(concurrency), "SHIPMATE_QUEUE_LEASE_SECONDS": str(lease),
        "SHIPMATE_TERRAFORM_TIMEOUT": repr(timeout), "SHIPMATE_LISTEN": f"127.0.0.1:{port}",
    })
    assert (s.queue.workers, s.queue.lease_seconds) == (workers, float(lease))
    assert (s.http.threads, s.http.port, s.http.listen) == (threads, port, f"127.0.0.1:{port}")
    assert s.bot.stack_concurrency == concurrency
    assert s.terraform.timeout_seconds == timeout


@settings(max_examples=40, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=8, max_size=40)
       .filter(lambda t: t.strip() == t and t.strip()))
def test_secrets_stay_out_of_every_groups_repr(secret: str) -> None:
    s = Settings.from_env({"SHIPMATE_WEBHOOK_SECRET": secret, "GITHUB_TOKEN": secret, "SHIPMATE_SECRET_SALT": secret})
    assert secret not in repr(s) and secret not in repr(s.github) and secret not in repr(s.storage)
    assert s.secret_values == (secret, secret, secret)


def test_every_documented_variable_is_read() -> None:
    names = documented_variables()
    assert "SHIPMATE_TERRAFORM_BIN" in names and "KUBECONFIG" in names and len(names) == len(set(names))
    app = {"SHIPMATE_GITHUB_APP_ID": "1", "SHIPMATE_GITHUB_APP_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----"}
    for name in names:
        if name in ("SHIPMATE_CONFIG", "HOME", "XDG_CACHE_HOME"):
            continue  # the file itself (test_settings.py); the roots of the user's directories, below
        try:
            read = Settings.from_env(app if name in app else {name: "x"})
        except ConfigError as exc:  # "x" is no good value for most: then the problem names the variable
            assert name in {p.field for p in exc.problems}, (name, str(exc))
            continue
        assert read != Settings.from_env({}), name
    home = Settings.from_env({"HOME": "/home/ops", "XDG_CACHE_HOME": "/var/cache/ops"})
    assert (home.kubernetes.home, home.storage.user_cache_dir) == ("/home/ops", Path("/var/cache/ops/shipmate"))


def test_the_runtimes_variables_are_settings(tmp_path: Path) -> None:
    rc = tmp_path / "terraformrc"
    s = Settings.from_env({
        "SHIPMATE_TERRAFORM_BIN": "/opt/terraform", "TF_CLI_CONFIG_FILE": str(rc),
        "TF_PLUGIN_CACHE_DIR": str(tmp_path / "plugins"), "SHIPMATE_TERRAFORM_TIMEOUT": "90",
        "SHIPMATE_TERRAFORM_PASS_ENV": "AWS_PROFILE, AWS_REGION", "SHIPMATE_TERRAFORM_SANDBOX": "off",
        "KUBECONFIG": "/a:/b", "KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443",
        "HOME": "/home/ops",
    })
    assert s.terraform == TerraformOptions(binary="/opt/terraform", cli_config_file=rc,
                                           plugin_cache_dir=tmp_path / "plugins", timeout_seconds=90.0,
                                           pass_env=("AWS_PROFILE", "AWS_REGION"), sandbox="off")
    assert s.kubernetes == KubernetesOptions(kubeconfig="/a:/b", service_host="10.0.0.1", service_port="443",
                                             home="/home/ops")
    assert s.kubernetes.in_cluster and not Settings.from_env({}).kubernetes.in_cluster
    assert s.runtime_options() == {"terraform": s.terraform, "kubernetes": s.kubernetes}
    assert Settings.from_env({}).terraform == TerraformOptions()


def test_the_runtimes_file_keys(tmp_path: Path) -> None:
    config = tmp_path / "shipmate.yaml"
    config.write_text("terraform_bin: bin/terraform\nterraform_timeout: 120\nterraform_pass_env: [AWS_PROFILE]\n")
    s = Settings.from_env({"SHIPMATE_TERRAFORM_TIMEOUT": "60"}, config)
    assert (s.terraform.binary, s.terraform.timeout_seconds, s.terraform.pass_env) == (
        "bin/terraform", 60.0, ("AWS_PROFILE",))  # the environment wins
    # Other tools' variables are read from the environment only.
    config.write_text("KUBECONFIG: /k\ntf_cli_config_file: /rc\n")
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({}, config)
    assert [p.field for p in caught.value.problems] == ["KUBECONFIG", "tf_cli_config_file"]
    assert all(p.message.startswith("unknown setting (known: ") for p in caught.value.problems)


# Good values of variables the settings file may hold too, as the environment spells them.
GOOD = {
    "SHIPMATE_WEBHOOK_SECRET": "s3cret", "GITHUB_TOKEN": "ghp_x", "GITHUB_API_URL": "http://127.0.0.1:9/api/v3",
    "SHIPMATE_GITHUB_THROTTLE": "false", "SHIPMATE_MAX_BODY_BYTES": "2048", "SHIPMATE_LISTEN": "127.0.0.1:9000",
    "SHIPMATE_HTTP_THREADS": "4", "SHIPMATE_HTTP_BACKLOG": "64", "SHIPMATE_HEADER_TIMEOUT_SECONDS": "5",
    "SHIPMATE_QUEUE": "redis://127.0.0.1:6379/0", "SHIPMATE_WORKERS": "2", "SHIPMATE_QUEUE_MAX_ATTEMPTS": "3",
    "SHIPMATE_HANDLER": "my.module:factory", "SHIPMATE_REPOSITORIES": "acme/*", "SHIPMATE_POLICY_BRANCH": "policy",
    "SHIPMATE_STACK_CONCURRENCY": "8", "SHIPMATE_POLL_REPOSITORIES": "acme/config", "SHIPMATE_POLL_SECONDS": "30",
    "SHIPMATE_DATA_DIR": "/var/lib/shipmate", "SHIPMATE_CACHE_DIR": "/var/cache/shipmate",
    "SHIPMATE_SECRET_SALT": "pepper", "SHIPMATE_TERRAFORM_BIN": "/opt/terraform", "SHIPMATE_TERRAFORM_TIMEOUT": "90",
    "SHIPMATE_TERRAFORM_PASS_ENV": "AWS_PROFILE", "SHIPMATE_TERRAFORM_SANDBOX": "off", "SHIPMATE_LOG_LEVEL": "DEBUG",
}


@settings(max_examples=40, deadline=None)
@given(st.sets(st.sampled_from(sorted(GOOD)), min_size=1))
def test_the_file_holds_the_same_settings_in_lower_case_without_the_prefix(chosen: set[str]) -> None:
    env = {variable: GOOD[variable] for variable in chosen}
    with tempfile.TemporaryDirectory() as directory:
        config = Path(directory) / "settings.yaml"
        config.write_text("".join(f"{v.lower().removeprefix('shipmate_')}: '{GOOD[v]}'\n" for v in sorted(chosen)))
        from_file = Settings.from_env({}, config)
    assert from_file == replace(Settings.from_env(env), config_file=config)
