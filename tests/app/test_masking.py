"""No secret leaves the process in clear: a stack's context secret in a failed apply's error,
Shipmate's own credentials printed by Terraform, a GitHub App's key and installation tokens,
and a destroy built from stored state.

Everything is real: Terraform with the offline null provider, the state branch in a bare git
repository (commit messages read back with `git log`), the GitHub simulator through PyGithub,
and the process's log records as `caplog` captures them at DEBUG.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.adapters import logmask
from bot.adapters.github.host import Credentials, GitHubHost
from bot.adapters.github.reporter import PullRequestReporter
from bot.adapters.gitstate import SystemClock, git_backend, local_backend
from bot.adapters.terraform import TerraformSettings
from bot.app.locking import LockSession
from bot.app.stacks import LoadedStack, StackIdentity, StackOps, secret_literals
from bot.core import mask, render
from bot.core.config.settings import RepoSettings
from bot.core.outcome import StackOutcome
from bot.core.release import Phase
from bot.core.render import results
from bot.core.runplan import Provenance
from bot.core.spec import TERRAFORM, Resource, Spec
from bot.settings import GitHubSettings, Settings, StorageSettings, WebhookSettings
from bot.wiring import build_masker
from fixtures.github_sim import GitHubSim, SimUser
from tests.app.test_executor import DictRuntime
from tests.runtimes import RECORDED_STATE, stack_runtimes

NULL = "registry.terraform.io/hashicorp/null/2.1.2"
SECRET = "ctx-7Hq2Lm9ZxPq4"  # a workspace context value under a secret key name
IDENTITY = StackIdentity("shop", "dev", "dev")


def null(name: str, attributes: Mapping[str, Any]) -> Resource:
    return Resource(f"hashicorp:null:null_resource:{name}", TERRAFORM, dict(attributes),
                    extensions={"provider": NULL, "resourceType": "null_resource"})


def failing(message: str) -> dict[str, Any]:
    return {"local-exec": {"command": f"echo '{message}' >&2; exit 3"}}


@pytest.fixture
def tf_env() -> dict[str, str]:
    binary, cli = os.environ.get("SHIPMATE_TERRAFORM_BIN", ""), os.environ.get("TF_CLI_CONFIG_FILE", "")
    if not Path(binary).is_file() or not Path(cli).is_file():
        pytest.fail("SHIPMATE_TERRAFORM_BIN and TF_CLI_CONFIG_FILE must name .tools/terraform (./scripts/test sets them)")
    return {"SHIPMATE_TERRAFORM_BIN": binary, "TF_CLI_CONFIG_FILE": cli, "PATH": os.environ.get("PATH", os.defpath)}


@pytest.fixture
def masker() -> Iterator[mask.Masker]:
    """A masker installed for the process's log records, as `bot.wiring` does."""
    before = logmask.installed()
    masker = mask.Masker(lossless=RECORDED_STATE)
    logmask.install(masker)
    try:
        yield masker
    finally:
        logmask.install(before) if before is not None else logmask.install(mask.Masker())


def runtimes(env: Mapping[str, str], cache: Path):  # type: ignore[no-untyped-def]
    terraform = TerraformSettings.configured(Settings.from_env(env).terraform, env, cache_dir=cache)
    built: dict[tuple[str, str, str], Any] = {}

    def factory(identity: StackIdentity, context: Mapping[str, object], _store: object = None) -> Mapping[str, Any]:
        key = (identity.project, identity.stack, identity.workspace)
        if key not in built:
            built[key] = stack_runtimes({TERRAFORM: terraform.runtime(*key, context)})
        return built[key]

    return factory


def bare_repository(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    return path


def commit_messages(bare: Path, branch: str = "shipmate-state") -> str:
    return subprocess.run(["git", "--git-dir", str(bare), "log", "--format=%B", branch],
                          check=True, capture_output=True, text=True).stdout


def session(ops: StackOps, owner: str) -> StackOps:
    """`ops` running under a lock session of `owner`, as the runner gives it."""
    return replace(ops, session=LockSession(ops.backend, owner, 900.0))


def stack(*resources: Resource) -> LoadedStack:
    spec = Spec(resources, None, {"DEPLOY_TOKEN": SECRET, "LOG_LEVEL": "info"})
    hidden = secret_literals(spec.context, RepoSettings())
    assert hidden == {SECRET}
    return LoadedStack(IDENTITY, spec, RepoSettings(), hidden)


def test_a_failed_apply_leaves_the_context_secret_nowhere(
    tf_env: dict[str, str], masker: mask.Masker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bare = bare_repository(tmp_path / "config.git")
    backend = git_backend(str(bare), "shipmate-state", data_dir=tmp_path / "data", masker=masker)
    ops = StackOps(backend, runtimes(tf_env, tmp_path / "cache"), SystemClock(), watch=False, masker=masker)
    loaded = stack(
        null("token", {"triggers": {"token": SECRET}}),
        null("export", {"triggers": {"schedule": "hourly"}, "provisioner": [failing(f"denied for {SECRET}")]}),
    )
    with backend:
        result = session(ops, "alice").apply(loaded, Provenance(actor="alice"))
        stored = backend.latest("shop", "dev")
    assert result.revision is not None and result.phase == Phase.FAILED
    assert stored is not None and stored.error is not None
    assert "denied for" in stored.error and SECRET not in stored.error and mask.MASK in stored.error
    assert SECRET not in (result.error or "")
    assert result.failed and all(SECRET not in m for _, m in result.failed)
    # What the release file stores outside the (lossless) Terraform state entries.
    data = yaml.safe_load(subprocess.run(
        ["git", "--git-dir", str(bare), "show", "shipmate-state:releases/shop/dev/1.yaml"],
        check=True, capture_output=True, text=True).stdout)
    assert SECRET not in yaml.safe_dump({k: v for k, v in data.items() if k != "state"})
    assert data["spec"]["context"]["DEPLOY_TOKEN"] == mask.MASK
    messages = commit_messages(bare)
    assert "denied for" in messages and SECRET not in messages
    # Terraform's failure was logged at DEBUG, masked.
    assert "terraform apply failed" in caplog.text and SECRET not in caplog.text
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    # The result comment, written through the GitHub adapter.
    body = results.operation_comment([result], title="Shipmate apply", lead="@alice asked")
    assert "denied for" in body and SECRET not in body


def test_a_destroy_release_holds_no_secret_of_the_state_it_deletes(
    tf_env: dict[str, str], tmp_path: Path
) -> None:
    factory = runtimes(tf_env, tmp_path / "cache")
    state_dir = tmp_path / "state"
    first = StackOps(local_backend(state_dir), factory, SystemClock(), watch=False)
    applied = session(first, "me").apply(stack(null("token", {"triggers": {"token": SECRET}})), Provenance())
    assert applied.ok
    # A later process (no loaded config, a fresh masker) destroys from the stored release alone.
    later = StackOps(local_backend(state_dir), factory, SystemClock(), watch=False)
    destroyed = session(later, "me").destroy(IDENTITY, Provenance(actor="me"))
    assert destroyed.ok and destroyed.revision == 2
    assert SECRET not in repr(destroyed.changeset)
    text = (state_dir / "releases" / "shop" / "dev" / "2.yaml").read_text()
    spec = yaml.safe_load(text)["spec"]
    assert SECRET not in yaml.safe_dump(spec)
    assert spec["resources"][0]["attributes"]["triggers"]["token"] == mask.MASK


TOKEN = "tok-shipmate-5e6f7a8b"
WEBHOOK_SECRET = "whsec-0c1d2e3f4a5b"
SALT = "salt-9a8b7c6d5e4f"


def test_shipmates_own_credentials_printed_by_terraform_are_masked_in_comments_and_statuses(
    tf_env: dict[str, str], tmp_path: Path
) -> None:
    # What `${file("/proc/self/environ")}` in a stack printed when the bot's environment reached
    # Terraform: the preview, a failed plan's error and the status all carried the credentials.
    environ = f"GITHUB_TOKEN={TOKEN}\0SHIPMATE_WEBHOOK_SECRET={WEBHOOK_SECRET}\0SHIPMATE_SECRET_SALT={SALT}\0"
    with GitHubSim.start(tmp_path / "gh", users=[SimUser("shipmate", TOKEN, "write"), SimUser("alice", "tok-a", "admin")]) as gh:
        gh.create_repo("acme", "config", auto_init=True)
        repo = gh.client("tok-a").get_repo("acme/config")
        issue = repo.create_issue("Leak the environment")
        sha = repo.get_branch("main").commit.sha
        settings = Settings(github=GitHubSettings(token=TOKEN, api_url=gh.api_url, throttle=False),
                            webhook=WebhookSettings(secrets=(WEBHOOK_SECRET,)),
                            storage=StorageSettings(data_dir=tmp_path / "data"))
        before = logmask.installed()
        try:
            masker = build_masker(settings, {"SHIPMATE_SECRET_SALT": SALT, "SHIPMATE_DATA_DIR": str(tmp_path)})
            host = GitHubHost(Credentials(api_url=gh.api_url, token=TOKEN), throttle=False, masker=masker)
            ops = StackOps(local_backend(tmp_path / "state"), runtimes(tf_env, tmp_path / "cache"), SystemClock(),
                           watch=False, masker=masker)
            leak = LoadedStack(IDENTITY, Spec((null("env", {"triggers": {"environ": environ}}),)), RepoSettings())
            changeset = ops.preview(leak)
            preview = render.markdown_body([StackOutcome.previewed(changeset)], key="pr-1")
            reporter = PullRequestReporter(host)
            reporter.upsert("acme/config", issue.number, "preview", "pr-1", [preview])
            # A Terraform error quoting them, and the same text raw through the adapter.
            error = f"terraform plan failed: Error: Invalid value {environ!r}"
            reporter.status("acme/config", sha, "shipmate/preview", "failure", error)
            host.create_comment("acme/config", issue.number, f"```\n{environ}\n{error}\n```")
            comments = [c["body"] for c in gh.comments("acme", "config", issue.number)]
            [status] = [s["description"] for s in gh.statuses("acme", "config", sha)]
        finally:
            logmask.install(before) if before is not None else logmask.install(mask.Masker())
    assert len(comments) == 2 and "null_resource" in comments[0] and mask.MASK in comments[1]
    for text in [*comments, status]:
        for secret in (TOKEN, WEBHOOK_SECRET, SALT):
            assert secret not in text, (secret, text)
    assert status.startswith("terraform plan failed")


def test_a_github_apps_key_and_installation_tokens_are_masked_as_they_are_minted(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with GitHubSim.start(tmp_path / "gh", users=[SimUser("alice", "tok-a", "admin")]) as gh:
        gh.register_app(42, "shipmate", public, installation_id=7)
        gh.create_repo("acme", "config", auto_init=True)
        issue = gh.client("tok-a").get_repo("acme/config").create_issue("Leak the key")
        masker = mask.Masker()
        host = GitHubHost(Credentials(api_url=gh.api_url, app_id="42", private_key=private, installation_id=7,
                                      bot_login="shipmate[bot]"), throttle=False, masker=masker)
        url = host.clone_url("acme/config")  # mints an installation token
        token = url.split("x-access-token:", 1)[1].split("@", 1)[0]
        assert token and token in masker.own.exact
        lines = private.strip().splitlines()[1:-1]
        host.create_comment("acme/config", issue.number, f"clone {url}\n{private}\n" + repr(private))
        [body] = [c["body"] for c in gh.comments("acme", "config", issue.number)]
    assert f"x-access-token:{mask.MASK}@" in body and token not in body
    assert all(line not in body for line in lines)


def test_errors_leaving_a_use_case_are_masked(tmp_path: Path) -> None:
    class Refusing(DictRuntime):
        def read(self, resources, prior):  # type: ignore[no-untyped-def]
            raise ValueError(f"admission webhook denied: token {SECRET} is not allowed")

    ops = StackOps(local_backend(tmp_path / "state"), lambda ident, ctx, store=None: stack_runtimes({TERRAFORM: Refusing(TERRAFORM)}),
                   SystemClock(), watch=False)
    loaded = stack(null("token", {"triggers": {"token": SECRET}}))
    with pytest.raises(ValueError) as caught:
        ops.preview(loaded)
    assert "admission webhook denied" in str(caught.value) and SECRET not in str(caught.value)
    with pytest.raises(ValueError) as caught:
        session(ops, "me").apply(loaded, Provenance())
    assert SECRET not in str(caught.value)
