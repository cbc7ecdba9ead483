"""What previews/<pr>.yaml pins approvals to: the fingerprints, approvalsFrom, narrowed previews."""

from __future__ import annotations

from typing import Any

from bot.app.dashboard_previews import pinned_to

HEAD, OTHER = "a" * 40, "b" * 40


def entry(stack: str, value: str, **more: Any) -> dict[str, Any]:
    return {"project": "shop", "workspace": stack, "stack": stack, "status": "changes",
            "fingerprint": {"value": value}, **more}


def report(commit: str, *stacks: dict[str, Any]) -> dict[str, Any]:
    return {"pullRequest": 7, "commit": commit, "previewTime": "t", "stacks": list(stacks)}


def counted(n: int) -> tuple[list[int], Any]:
    calls: list[int] = []

    def reviews() -> int:
        calls.append(n)
        return n

    return calls, reviews


def test_a_moved_fingerprint_starts_approvals_afresh_and_asks_for_the_count_once():
    calls, reviews = counted(3)
    got = pinned_to(report(HEAD, entry("dev", "v2"), entry("prod", "p2")),
                    report(HEAD, entry("dev", "v1"), entry("prod", "p1")), reviews)
    assert [s["approvalsFrom"] for s in got["stacks"]] == [3, 3] and calls == [3]


def test_a_fingerprint_that_held_keeps_its_start_and_asks_nothing():
    calls, reviews = counted(9)
    got = pinned_to(report(HEAD, entry("dev", "v1")), report(HEAD, entry("dev", "v1", approvalsFrom=2)), reviews)
    assert got["stacks"] == [entry("dev", "v1", approvalsFrom=2)] and calls == []


def test_another_head_or_no_record_starts_clean():
    calls, reviews = counted(4)
    new = report(OTHER, entry("dev", "v2"))
    assert pinned_to(new, report(HEAD, entry("dev", "v1", approvalsFrom=2)), reviews) == new
    assert pinned_to(new, None, reviews) == new and calls == []


def test_a_narrowed_preview_keeps_the_other_stacks():
    calls, reviews = counted(1)
    got = pinned_to(report(HEAD, entry("prod", "p1")), report(HEAD, entry("dev", "v1"), entry("prod", "p1")), reviews)
    assert [s["stack"] for s in got["stacks"]] == ["dev", "prod"] and calls == []
