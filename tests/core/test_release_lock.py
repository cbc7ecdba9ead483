"""Lock rules: owners, leases, monotonically increasing fencing tokens, writer checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.errors import ConfigError, StateConflict
from bot.core.lock import LockHeld, LockSlot, StaleLock

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def test_acquire_conflicts_with_a_live_other_owner_and_names_it():
    slot, lock = LockSlot("shop", "prod").acquire("pr-12", T0, 600, pull_request=12, run_id="77")
    assert (lock.token, lock.expire_time) == (1, T0 + timedelta(minutes=10))
    with pytest.raises(LockHeld) as caught:
        slot.acquire("pr-13", T0 + timedelta(minutes=9), 600, pull_request=13)
    assert str(caught.value) == (
        "shop/prod is locked by pr-12 (pull request #12, run 77) until 2024-05-01T12:10:00Z "
        "(token 1); cannot acquire the lock. Wait for it to finish or expire, or free it with "
        "`shipmate release unlock --project shop --workspace prod`"
    )
    assert caught.value.holder == lock


def test_tokens_only_grow_across_expiry_release_and_reacquire():
    slot = LockSlot("shop", "prod")
    tokens = []
    slot, a = slot.acquire("a", T0, 10)
    tokens.append(a.token)
    slot, b = slot.acquire("b", T0 + timedelta(seconds=10), 10)  # a expired exactly now
    tokens.append(b.token)
    freed = slot.release(b)
    assert freed is not None and freed.holder is None and freed.last_token == b.token
    slot, c = freed.acquire("a", T0 + timedelta(seconds=11), 10)
    tokens.append(c.token)
    slot, c2 = slot.acquire("a", T0 + timedelta(seconds=12), 10)  # same owner: new token
    tokens.append(c2.token)
    assert tokens == [1, 2, 3, 4]
    assert LockSlot.from_yaml(slot.to_yaml()) == slot


def test_fencing_two_holders_never_both_write():
    slot, old = LockSlot("shop", "prod").acquire("runner-1", T0, 5)
    slot.check_writer(old, T0 + timedelta(seconds=60), "update")  # expired but unreplaced: fine
    slot, new = slot.acquire("runner-2", T0 + timedelta(seconds=6), 60)
    with pytest.raises(StaleLock, match=r"lock on shop/prod with token 1 \(runner-1\) is no longer "
                       r"valid; it is now held by runner-2 \(token 2\)"):
        slot.check_writer(old, T0 + timedelta(seconds=7), "update release shop/prod r3")
    slot.check_writer(new, T0 + timedelta(seconds=7), "update")
    with pytest.raises(LockHeld, match="locked by runner-2"):
        slot.check_writer(None, T0 + timedelta(seconds=7), "record a release")
    slot.check_writer(None, T0 + timedelta(seconds=67), "record a release")  # lease over
    with pytest.raises(StaleLock, match="has been released"):
        slot.freed().check_writer(new, T0, "update")
    with pytest.raises(StaleLock):
        slot.renew(old, T0, 60)
    renewed_slot, renewed = slot.renew(new, T0 + timedelta(seconds=30), 60)
    assert renewed.token == new.token and renewed.expire_time == T0 + timedelta(seconds=90)
    assert slot.release(old) is None
    _, other = LockSlot("shop", "dev").acquire("x", T0, 5)
    with pytest.raises(StateConflict, match="with the lock of shop/dev"):
        renewed_slot.check_writer(other, T0, "update")


def test_bad_arguments_and_bad_lock_files():
    with pytest.raises(StateConflict, match="needs an owner"):
        LockSlot("a", "b").acquire("", T0, 5)
    with pytest.raises(StateConflict, match="lease must be positive"):
        LockSlot("a", "b").acquire("x", T0, 0)
    with pytest.raises(ConfigError, match=r"locks/a/b\.yaml:3:1: lastToken: expected a whole number"):
        LockSlot.from_yaml("project: a\nworkspace: b\nlastToken: -1\n", "locks/a/b.yaml")
    with pytest.raises(ConfigError, match=r":4:20: holder\.token: 5 is above lastToken 1"):
        LockSlot.from_yaml(
            "project: a\nworkspace: b\nlastToken: 1\nholder: {owner: x, token: 5, "
            "acquireTime: '2024-01-01T00:00:00Z', expireTime: '2024-01-01T00:01:00Z'}\n",
            "locks/a/b.yaml",
        )
    with pytest.raises(ConfigError, match="malformed lock holder"):
        LockSlot.from_yaml("project: a\nworkspace: b\nlastToken: 1\nholder: {owner: x}\n")
