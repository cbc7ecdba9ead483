"""The dashboard's settings group: the OAuth App and session secret come whole or are
reported, bad values are reported with every other problem, secrets stay out of `repr` and
are masked like the others, the acting role defaults to maintain."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.errors import ConfigError
from bot.settings import DASHBOARD_ROLES, DashboardSettings, Settings

WHOLE = {"SHIPMATE_OAUTH_CLIENT_ID": "Iv1.client", "SHIPMATE_OAUTH_CLIENT_SECRET": "client-secret-value",
         "SHIPMATE_SESSION_SECRET": "0123456789abcdef0123456789abcdef"}


def test_off_by_default_and_on_when_whole() -> None:
    assert Settings.from_env({}).dashboard == DashboardSettings()
    assert not Settings.from_env({}).dashboard.enabled
    on = Settings.from_env({**WHOLE, "SHIPMATE_PUBLIC_URL": "https://shipmate.example.com/"}).dashboard
    assert on.enabled and on.role == "maintain" and on.scopes == ()
    assert Settings.from_env({**WHOLE, "SHIPMATE_OAUTH_SCOPES": "repo, read:org"}).dashboard.scopes == ("repo", "read:org")
    assert (on.client_id, on.public_url) == ("Iv1.client", "https://shipmate.example.com")


@pytest.mark.parametrize("role", DASHBOARD_ROLES)
def test_the_acting_role_is_one_of_githubs(role: str) -> None:
    assert Settings.from_env({**WHOLE, "SHIPMATE_DASHBOARD_ROLE": role.upper()}).dashboard.role == role


@pytest.mark.parametrize("missing", sorted(WHOLE))
def test_a_part_missing_is_reported_by_name(missing: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({k: v for k, v in WHOLE.items() if k != missing})
    (problem,) = caught.value.problems
    assert missing in problem.message and "the dashboard needs" in problem.message


def test_bad_values_are_reported_together_with_the_others() -> None:
    env = {**WHOLE, "SHIPMATE_SESSION_SECRET": "short", "SHIPMATE_DASHBOARD_ROLE": "owner", "SHIPMATE_OAUTH_SCOPES": "repo, Bad Scope",
           "SHIPMATE_PUBLIC_URL": "shipmate.example.com", "SHIPMATE_WORKERS": "many"}
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    said = {p.field: p.message for p in caught.value.problems}
    assert set(said) == {"SHIPMATE_SESSION_SECRET", "SHIPMATE_DASHBOARD_ROLE", "SHIPMATE_PUBLIC_URL", "SHIPMATE_WORKERS",
                         "SHIPMATE_OAUTH_SCOPES"}
    assert "Bad Scope" in said["SHIPMATE_OAUTH_SCOPES"]
    assert "at least 32 characters" in said["SHIPMATE_SESSION_SECRET"] and "short" not in said["SHIPMATE_SESSION_SECRET"]
    assert "must be one of read, triage, write, maintain, admin" in said["SHIPMATE_DASHBOARD_ROLE"]


def test_the_settings_file_names_them_too(tmp_path: Path) -> None:
    config = tmp_path / "shipmate.toml"
    config.write_text('oauth_client_id = "from-file"\noauth_client_secret = "s"\nsession_secret = "%s"\n'
                      'dashboard_role = "admin"\n' % ("x" * 40))
    read = Settings.from_env({"SHIPMATE_OAUTH_CLIENT_ID": "from-env"}, config).dashboard
    assert (read.client_id, read.role, read.enabled) == ("from-env", "admin", True)


@settings(max_examples=30, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=32, max_size=60)
       .filter(lambda t: t.strip() == t))
def test_secrets_stay_out_of_repr_and_are_masked(secret: str) -> None:
    read = Settings.from_env({**WHOLE, "SHIPMATE_OAUTH_CLIENT_SECRET": secret, "SHIPMATE_SESSION_SECRET": secret})
    assert secret not in repr(read) and secret not in repr(read.dashboard)
    assert read.secret_values.count(secret) == 2
