"""`ref://` secrets resolved through the workspace's secret store."""

from __future__ import annotations

import base64

import pytest

from bot.core.errors import ConfigError
from bot.core.secrets import resolve
from bot.core.spec import KUBERNETES, Resource, Spec

STORE = {"provider": {"fake": {"data": [
    {"key": "db", "value": "s3cret"},
    {"key": "api", "valueMap": {"token": "t0ken"}, "version": "2"},
]}}}


def secret(**data: str) -> Resource:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return Resource("v1:Secret:ns:s", KUBERNETES, {"apiVersion": "v1", "kind": "Secret", "data": encoded,
                                                   "metadata": {"name": "s", "namespace": "ns"}})


def test_secret_data_and_context_refs_resolve_and_are_reported():
    spec = Spec((secret(password="ref://db", token="ref://api/token?version=2", plain="x"),), STORE,
                {"API_TOKEN": "ref://api/token", "region": "eu"})
    resolved, values = resolve(spec)
    data = resolved.resources[0].attributes["data"]
    assert base64.b64decode(data["password"]).decode() == "s3cret"
    assert base64.b64decode(data["token"]).decode() == "t0ken"
    assert base64.b64decode(data["plain"]).decode() == "x"
    assert resolved.context == {"API_TOKEN": "t0ken", "region": "eu"}
    assert values == {"s3cret", "t0ken"}


@pytest.mark.parametrize(("ref", "store", "message"), [
    ("ref://db", None, "needs a secretStore"),
    ("ref://nope", STORE, "no secret 'nope'"),
    ("ref://api/other", STORE, "no property other"),
    ("ref://api/token?version=9", STORE, "at version 9"),
    ("ref://db", {"provider": {"vault": {"server": "https://vault"}}}, "vault secret store is not supported"),
])
def test_unresolvable_refs_are_clear_errors(ref, store, message):
    with pytest.raises(ConfigError, match=message):
        resolve(Spec((secret(v=ref),), store))
