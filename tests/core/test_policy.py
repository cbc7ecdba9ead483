"""Authorisation: permissions, requirements (approval at head, mergeable), forks."""

from __future__ import annotations

import pytest

from bot.core.commands import Verb
from bot.core.errors import PolicyDenied
from bot.core.policy import (
    PullFacts,
    Review,
    Rules,
    approval_candidates,
    approved_at_head,
    authorize,
    check_permission,
    required_permission,
)

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
        7, "dev", HEAD, False, True,
        (Review("bob", "COMMENTED", HEAD), Review("bob", "APPROVED", HEAD, permission="write")),
    )
    authorize(Verb.APPLY, "alice", "write", good, rules)


def test_an_approval_counts_only_from_someone_who_may_push():
    # A read-only user's approval satisfied `requirements.apply: [approved]`: approvals count
    # as GitHub's required reviews count them, from write permission up (configurable).
    rules = Rules(requirements=("approved",))

    def pull(*reviews: Review) -> PullFacts:
        return PullFacts(7, "dev", HEAD, False, True, reviews)

    reader = pull(Review("eve", "APPROVED", HEAD, permission="read"))
    assert not approved_at_head(reader)
    with pytest.raises(PolicyDenied, match="not a bot, with at least write permission"):
        authorize(Verb.APPLY, "alice", "write", reader, rules)
    unknown = pull(Review("eve", "APPROVED", HEAD))  # permission never read: none
    assert not approved_at_head(unknown)
    bot = pull(Review("ci[bot]", "APPROVED", HEAD, author_is_bot=True, permission="admin"))
    assert not approved_at_head(bot) and approval_candidates(bot) == ()
    author = pull(Review("DEV", "APPROVED", HEAD, permission="admin"))  # logins ignore case
    assert not approved_at_head(author) and approval_candidates(author) == ()
    writer = pull(Review("eve", "APPROVED", HEAD, permission="read"), Review("bob", "APPROVED", HEAD, permission="write"))
    assert approval_candidates(writer) == ("bob", "eve")
    assert approved_at_head(writer)
    authorize(Verb.APPLY, "alice", "write", writer, rules)
    assert not approved_at_head(writer, "maintain")
    with pytest.raises(PolicyDenied, match="at least maintain permission"):
        authorize(Verb.APPLY, "alice", "write", writer, Rules(requirements=("approved",), approve_permission="maintain"))
    stale = pull(Review("bob", "APPROVED", "b" * 40, permission="admin"))
    assert approval_candidates(stale) == ()


def test_permission_needed_before_any_reply():
    assert required_permission(None, Rules()) == "read"
    assert required_permission(Verb.PREVIEW, Rules()) == "read"
    assert required_permission(Verb.UNLOCK, Rules()) == "write"
    assert required_permission(Verb.APPLY, Rules(apply_permission="maintain")) == "maintain"
    assert required_permission(Verb.DESTROY, Rules()) == "maintain"
    check_permission(Verb.APPLY, "bob", "write", Rules())
    with pytest.raises(PolicyDenied, match="@eve has read permission on this repository; /apply needs write"):
        check_permission(Verb.APPLY, "eve", "read", Rules())
    with pytest.raises(PolicyDenied, match="Shipmate commands needs read"):
        check_permission(None, "nobody", "none", Rules())


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
