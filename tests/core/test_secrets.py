"""`ref://` secrets resolved through the workspace's secret store."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core import secrets
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


@given(
    parts=st.lists(st.sampled_from(["a", " ", "=", '"', "\n", "x/", "ref:", "?"]), max_size=6),
    name=st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True),
    prop=st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
)
def test_embedded_references_are_found_whole_inside_any_text(parts: list[str], name: str, prop: str) -> None:
    ref = f"ref://{name}/{prop}"
    text = "".join(parts) + f'KEY="{ref}"\n' + "".join(reversed(parts))
    assert secrets.embedded_refs(text) == [ref]


def test_a_resolver_tells_every_value_it_gives_and_names_a_reference_it_cannot_resolve() -> None:
    store = {"provider": {"fake": {"data": [{"key": "ssh", "valueMap": {"key": "PRIVATE KEY"}}]}}}
    told: list[str] = []
    resolve_one = secrets.resolver(store, told.append)
    assert resolve_one("ref://ssh/key") == "PRIVATE KEY"
    assert told == ["PRIVATE KEY"]
    with pytest.raises(ConfigError, match="ref://ssh/nope: secret ssh has no property nope"):
        resolve_one("ref://ssh/nope")
