"""Authorisation: permissions, requirements (approval at head, mergeable), forks."""

from __future__ import annotations

import pytest

from bot.core.commands import Verb
from bot.core.errors import PolicyDenied
from bot.core.policy import PullFacts, Review, Rules, approved_at_head, authorize

HEAD = "a" * 40
PULL = PullFacts(number=7, author="dev", head_sha=HEAD, is_fork=False, mergeable=True)


def test_apply_needs_write_destroy_needs_maintain():
    authorize(Verb.APPLY, "alice", "write", PULL, Rules())
    with pytest.raises(PolicyDenied, match="has read permission.*needs write"):
        authorize(Verb.APPLY, "eve", "read", PULL, Rules())
    with pytest.raises(PolicyDenied, match="needs maintain"):
        authorize(Verb.DESTROY, "alice", "write", PULL, Rules())
    authorize(Verb.DESTROY, "boss", "admin", PULL, Rules())


def test_configurable_levels():
    authorize(Verb.DESTROY, "alice", "write", PULL, Rules(destroy_permission="write"))
    with pytest.raises(PolicyDenied):
        authorize(Verb.APPLY, "alice", "write", PULL, Rules(apply_permission="admin"))


def test_forks_never_preview_or_apply():
    fork = PullFacts(number=8, author="x", head_sha=HEAD, is_fork=True, mergeable=True)
    for verb in (Verb.PREVIEW, Verb.APPLY, Verb.DESTROY):
        with pytest.raises(PolicyDenied, match="forks"):
            authorize(verb, "admin", "admin", fork, Rules())
    authorize(Verb.HELP, "x", "read", fork, Rules())


def test_approval_must_be_by_someone_else_at_head_and_still_standing():
    rules = Rules(requirements=("approved",))
    with pytest.raises(PolicyDenied, match="approval"):
        authorize(Verb.APPLY, "alice", "write", PULL, rules)
    own = PullFacts(7, "dev", HEAD, False, True, (Review("dev", "APPROVED", HEAD),))
    assert not approved_at_head(own)
    stale = PullFacts(7, "dev", HEAD, False, True, (Review("bob", "APPROVED", "b" * 40),))
    assert not approved_at_head(stale)
    withdrawn = PullFacts(
        7, "dev", HEAD, False, True,
        (Review("bob", "APPROVED", HEAD), Review("bob", "CHANGES_REQUESTED", HEAD)),
    )
    assert not approved_at_head(withdrawn)
    good = PullFacts(
        7, "dev", HEAD, False, True, (Review("bob", "COMMENTED", HEAD), Review("bob", "APPROVED", HEAD))
    )
    authorize(Verb.APPLY, "alice", "write", good, rules)


def test_mergeable_requirement_and_closed_pull():
    unknown = PullFacts(7, "dev", HEAD, False, None)
    with pytest.raises(PolicyDenied, match="mergeable"):
        authorize(Verb.APPLY, "alice", "write", unknown, Rules(requirements=("mergeable",)))
    closed = PullFacts(7, "dev", HEAD, False, True, closed=True)
    with pytest.raises(PolicyDenied, match="closed"):
        authorize(Verb.APPLY, "alice", "admin", closed, Rules())


def test_unlock_needs_write():
    authorize(Verb.UNLOCK, "alice", "write", PULL, Rules())
    with pytest.raises(PolicyDenied):
        authorize(Verb.UNLOCK, "eve", "read", PULL, Rules())
