"""What a release stores: secrets masked (Secret data, workspace secrets, inline secret-store
values), Terraform state lossless; declined and dry-run applies record nothing."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest

from bot.adapters.gitstate import SystemClock, local_backend
from bot.app.locking import LockSession
from bot.app.stacks import LoadedStack, RunOptions, StackIdentity, StackOps
from bot.core.config.settings import RepoSettings
from bot.core.errors import NotRecorded, retry_kind
from bot.core.runplan import Provenance
from bot.core.spec import KUBERNETES, TERRAFORM, Resource, Spec
from tests.app.test_executor import DictRuntime
from tests.runtimes import stack_runtimes

STORE = {"provider": {"fake": {"data": [{"key": "db", "value": "hunter22"}]}}}


def loaded() -> LoadedStack:
    secret = Resource("v1:Secret:shop:db", KUBERNETES, {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
        "data": {"password": base64.b64encode(b"hunter22").decode()}})
    cm = Resource("v1:ConfigMap:shop:cfg", KUBERNETES, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "shop"},
        "data": {"token": "tok-123456"}})
    tf = Resource("hashicorp:null:null_resource:n", TERRAFORM, {"triggers": {"token": "tok-123456"}})
    spec = Spec((secret, cm, tf), STORE, {"API_TOKEN": "tok-123456"})
    return LoadedStack(StackIdentity("shop", "dev", "dev"), spec, RepoSettings(), frozenset({"tok-123456", "hunter22"}))


def ops(tmp_path, owner="me"):
    runtimes = stack_runtimes({KUBERNETES: DictRuntime(KUBERNETES), TERRAFORM: DictRuntime(TERRAFORM)})
    backend = local_backend(tmp_path / "state")
    return StackOps(backend, lambda ident, ctx, store=None: runtimes, SystemClock(), watch=False,
                    session=LockSession(backend, owner, 900.0)), backend


def test_release_never_holds_secrets_but_keeps_terraform_state(tmp_path):
    stack_ops, backend = ops(tmp_path)
    result = stack_ops.apply(loaded(), Provenance(actor="me"))
    assert result.ok and result.revision == 1
    text = (tmp_path / "state" / "releases" / "shop" / "dev" / "1.yaml").read_text()
    assert "hunter22" not in text and base64.b64encode(b"hunter22").decode() not in text
    stored = backend.latest("shop", "dev")
    cm = next(r for r in stored.state.resources if r.id == "v1:ConfigMap:shop:cfg")
    assert cm.attributes["data"]["token"] == "(sensitive value)"  # a workspace secret, masked
    assert stored.spec.context["API_TOKEN"] == "(sensitive value)"
    tf = next(r for r in stored.state.resources if r.type == TERRAFORM)
    assert tf.attributes["triggers"]["token"] == "tok-123456"  # Terraform entries are lossless
    assert stored.spec.secret_store["provider"]["fake"]["data"][0]["value"] == "(sensitive value)"
    assert backend.list_locks() == ()


def test_declined_and_dry_run_record_nothing_and_free_the_lock(tmp_path):
    stack_ops, backend = ops(tmp_path)
    assert stack_ops.apply(loaded(), Provenance(), RunOptions(dry_run=True)).revision is None
    declined = stack_ops.apply(loaded(), Provenance(), RunOptions(confirm=lambda cs: False))
    assert declined.declined and declined.revision is None
    assert backend.latest("shop", "dev") is None
    other = replace(stack_ops, session=LockSession(backend, "someone-else", 900.0)).apply(loaded(), Provenance())
    assert other.ok and other.revision == 1


def test_nothing_recorded_is_a_permanent_error_and_leaves_no_lock(tmp_path):
    # Destroying a stack never applied, or rolling back to a revision that does not exist, finds
    # the same the next time: reported at once, never retried as a state conflict would be.
    stack_ops, backend = ops(tmp_path)
    with pytest.raises(NotRecorded, match="nothing to destroy: shop/dev") as destroyed:
        stack_ops.destroy(StackIdentity("shop", "dev", "dev"), Provenance())
    with pytest.raises(NotRecorded, match="shop/dev has no release r7") as rolled:
        stack_ops.rollback("shop", "dev", 7, Provenance())
    assert retry_kind(destroyed.value) == retry_kind(rolled.value) == "permanent"
    assert destroyed.value.exit_code == 4
    assert backend.list_locks() == () and backend.latest("shop", "dev") is None
