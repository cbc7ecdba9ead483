"""Free-text masking and whole-Release masking: no secret survives in any form a tool prints
it in, masking twice changes nothing, and every field of a Release is masked before it is
written (Terraform state entries keep the stack's values, never Shipmate's credentials)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core import mask
from bot.core.ports import SENSITIVE_KEY
from bot.core.release import Phase, Release, Trigger
from bot.core.spec import KUBERNETES, TERRAFORM, Resource, Spec, State
from tests.runtimes import RECORDED_STATE

MARKERS = (mask.MASK_CHANGED, mask.MASK)


def marker_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for marker in MARKERS:
        start = text.find(marker)
        while start != -1:
            spans.append((start, start + len(marker)))
            start = text.find(marker, start + 1)
    return spans


def exposed(text: str, secret: str) -> list[int]:
    """Where `secret` occurs in `text` without overlapping a mask marker."""
    spans = marker_spans(text)
    found = []
    start = text.find(secret)
    while start != -1:
        end = start + len(secret)
        if not any(a < end and start < b for a, b in spans):
            found.append(start)
        start = text.find(secret, start + 1)
    return found


secret_text = st.text(min_size=1, max_size=12)
texts = st.lists(st.one_of(st.text(max_size=20), st.sampled_from(["-", " ", "\n", "(", ")", "sensitive"])), max_size=8)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secrets=st.lists(secret_text, min_size=1, max_size=5), pieces=texts, picks=st.lists(st.integers(0, 4), max_size=8))
def test_masked_text_never_shows_a_secret(secrets: list[str], pieces: list[str], picks: list[int]) -> None:
    # Texts made of arbitrary pieces and the secrets themselves, side by side or overlapping.
    parts: list[str] = []
    for i, piece in enumerate(pieces):
        parts.append(piece)
        if i < len(picks):
            parts.append(secrets[picks[i] % len(secrets)])
    text = "".join(parts)
    lits = mask.Literals.of(secrets)
    out = lits.text(text)
    for s in secrets:
        if len(s) >= mask.MIN_SUBSTRING_LENGTH:
            assert exposed(out, s) == [], (s, text, out)
    assert lits.text(out) == out  # masking twice changes nothing


@settings(max_examples=200, deadline=None)
@given(secret=st.text(min_size=4, max_size=30), before=st.text(max_size=10), after=st.text(max_size=10))
def test_escaped_and_encoded_forms_are_masked(secret: str, before: str, after: str) -> None:
    lits = mask.Literals.of([secret])
    for form in (json.dumps(secret)[1:-1], base64.b64encode(secret.encode()).decode()):
        out = lits.text(before + form + after)
        assert exposed(out, form) == [] or form in mask.MASK


def test_a_pem_key_printed_escaped_or_line_by_line_is_masked() -> None:
    body = ["MIIEowIBAAKCAQEAx1Lx9aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789abcdef", "q1w2e3r4t5y6u7i8o9p0AsDfGhJkLzXcVbNm"]
    pem = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(body) + "\n-----END RSA PRIVATE KEY-----\n"
    lits = mask.Literals.of([pem])
    as_json = f'Error: Invalid value: {json.dumps({"k": pem})}'
    assert all(line not in lits.text(as_json) for line in body)
    in_plan = "  + triggers = {\n      + key = <<-EOT\n            " + "\n            ".join(body) + "\n        EOT\n"
    assert all(line not in lits.text(in_plan) for line in body)


def test_overlapping_secrets_leave_no_character_behind() -> None:
    lits = mask.Literals.of(["abcdef", "defghi"])
    assert lits.text("xx abcdefghi yy") == f"xx {mask.MASK} yy"
    assert lits.text("abcdefabcdef") == mask.MASK
    assert mask.Literals.of(["ab"]).text("ab") == mask.MASK  # short: only the whole text
    assert mask.Literals.of(["ab"]).text("cab") == "cab"


def test_the_masker_learns_and_forgets_only_stack_secrets() -> None:
    masker = mask.Masker(own=["tok-own-1234"], limit=2)
    masker.add(["first-secret", "second-secret"])
    assert masker("tok-own-1234 first-secret") == f"{mask.MASK} {mask.MASK}"
    masker.add(["third-secret"])  # the oldest stack secret is forgotten, never an own one
    assert masker("first-secret") == "first-secret"
    assert masker("tok-own-1234 third-secret second-secret") == " ".join([mask.MASK] * 3)
    assert masker.own.exact == frozenset({"tok-own-1234"})
    masker.add(["installation-token-5678"], own=True)
    assert "installation-token-5678" in masker.own.exact
    assert masker.with_(["extra-secret"]).text("extra-secret") == mask.MASK


def test_every_field_of_a_release_is_masked() -> None:
    secret, own = "ctx-secret-4242", "ghs_owntoken9999"
    now = datetime(2026, 1, 1, tzinfo=UTC)
    tf = Resource("hashicorp:null:null_resource:n", TERRAFORM, {"triggers": {"t": secret, "o": own}},
                  extensions={"tfState": {"attributes": {"triggers": {"t": secret, "o": own}}}})
    cm = Resource("v1:ConfigMap:n:c", KUBERNETES, {"kind": "ConfigMap", "data": {"k": f"x{secret}x"}})
    store = {"provider": {"fake": {"data": [{"key": "db", "value": secret}]}}}
    release = Release(
        project="p", workspace="w", revision=1, stack="s",
        spec=Spec((tf, cm), store, {"TOKEN": secret, "LEVEL": "info"}),
        state=State((tf, cm)), phase=Phase.FAILED, create_time=now, modified_time=now,
        trigger=Trigger.CLI, actor=f"me {own}", commit="abc", error=f"apply failed: {secret} / {own}",
    )
    out = mask.mask_release(release, [secret, own], own=[own], lossless=RECORDED_STATE)
    text = out.to_yaml()
    assert own not in text
    # Only the Terraform state entry keeps the stack's value (the next run rebuilds tfstate from it).
    [entry] = [r for r in out.state.resources if r.type == TERRAFORM]
    assert entry.attributes["triggers"] == {"t": secret, "o": mask.MASK}
    assert entry.extensions["tfState"]["attributes"]["triggers"] == {"t": secret, "o": mask.MASK}
    assert text.count(secret) == 2
    assert out.spec.context == {"TOKEN": mask.MASK, "LEVEL": "info"}
    assert out.error == f"apply failed: {mask.MASK} / {mask.MASK}" and out.actor == f"me {mask.MASK}"
    assert out.spec.secret_store is not None and secret not in repr(out.spec.secret_store)


def test_sensitive_paths_of_a_state_entry_stay_in_terraform_state_only() -> None:
    tf = Resource("hashicorp:random:random_password:p", TERRAFORM, {"result": "s3cr3t-value"},
                  extensions={SENSITIVE_KEY: {"result": True}})
    state = mask.mask_stored_state(State((tf,)), ["unrelated-secret"], lossless=RECORDED_STATE)
    assert state.resources[0] is tf  # lossless
    spec = mask.mask_spec(Spec((tf,)))
    assert spec.resources[0].attributes["result"] == mask.MASK



def test_a_mask_cache_masks_each_entry_once_and_again_when_the_secrets_change() -> None:
    secret = "cache-secret-31415"
    cms = [Resource(f"v1:ConfigMap:n:c{i}", KUBERNETES, {"kind": "ConfigMap", "data": {"k": secret}}) for i in range(3)]
    cache = mask.MaskCache()
    lits, own = mask.Literals.of([secret]), mask.Literals()
    first = cache.state(State(tuple(cms[:2])), lits, own, RECORDED_STATE)
    second = cache.state(State(tuple(cms)), lits, own, RECORDED_STATE)
    assert second.resources[0] is first.resources[0] and second.resources[1] is first.resources[1]
    assert all(r.attributes["data"]["k"] == mask.MASK for r in second.resources)
    assert cache.state(State(tuple(cms)), mask.Literals.of(["other-secret"]), own, RECORDED_STATE).resources[0] is cms[0]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    release = Release("p", "w", 1, "s", Spec(tuple(cms)), State(), Phase.APPLYING, now, now, error=f"x {secret}")
    masked = cache.release(release, lits, own, RECORDED_STATE)
    assert cache.release(release, lits, own, RECORDED_STATE).spec is masked.spec
    assert masked.error == f"x {mask.MASK}" and masked.to_yaml() == mask.mask_release(release, lits).to_yaml()
