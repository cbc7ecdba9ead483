"""Every commit status links (`target_url`) to what explains it: the pull request while a
preview runs, the summary comment after, the comment that asked for an `/apply` and then its
result, the result of a merge's apply, and a drift check's records on the state branch."""

from __future__ import annotations

from bot.adapters.memory.codehost import Status
from tests.app.handlers.bench import (
    APPLY,
    BOT,
    DRIFT,
    PREVIEW,
    REPO,
    STATE_BRANCH,
    Bench,
    app,
    object_id,
)

CHANGE = {"shop/dev/main.yaml": app(notes={"text": "changed"})}
PAGE = f"https://github.test/{REPO}"


def sent(bench: Bench, sha: str, context: str) -> list[tuple[str, str]]:
    """(state, target_url) of every `context` status set on `sha`, in order."""
    found: list[Status] = [s for s in bench.host.statuses if s.sha == sha and s.context == context]
    return [(s.state, s.target_url) for s in found]


def bot_comment(bench: Bench, number: int, heading: str) -> int:
    [found] = [c.id for c in bench.host.comments(REPO, number) if c.author == BOT and heading in c.body]
    return found


def test_a_preview_links_to_the_pull_request_then_to_its_summary_comment(bench: Bench) -> None:
    pr = bench.open(CHANGE)
    summary = bot_comment(bench, pr.number, "## Shipmate preview")
    assert sent(bench, pr.head_sha, PREVIEW) == [
        ("pending", pr.html_url), ("success", f"{pr.html_url}#issuecomment-{summary}")]
    assert pr.html_url == f"{PAGE}/pull/{pr.number}"


def test_an_apply_links_to_the_comment_that_asked_then_to_its_result(bench: Bench) -> None:
    pr = bench.open(CHANGE)
    asked = bench.say("bob", pr, "/apply")
    result = bot_comment(bench, pr.number, "## Shipmate apply")
    assert sent(bench, pr.head_sha, APPLY) == [
        ("pending", f"{pr.html_url}#issuecomment-{asked}"), ("success", f"{pr.html_url}#issuecomment-{result}")]


def test_the_apply_of_a_merge_links_to_its_result_on_the_pull_request(bench: Bench) -> None:
    pr = bench.open(CHANGE)
    sha = bench.merge(pr)
    result = bot_comment(bench, pr.number, "## Shipmate apply on merge")
    assert sent(bench, sha, APPLY) == [("success", f"{pr.html_url}#issuecomment-{result}")]


def test_a_drift_check_links_to_its_records_on_the_state_branch(bench: Bench) -> None:
    bench.push({"shop/prod/main.yaml": app(site={"text": "prod"})})
    sha = bench.merge(bench.open(CHANGE))
    assert bench.check_drift() is None
    bench.world.objects[object_id("notes")] = {"text": "edited by hand"}
    assert bench.check_drift() is None
    assert sent(bench, sha, DRIFT) == [
        ("success", f"{PAGE}/tree/{STATE_BRANCH}/drift"),  # both clean: the whole folder
        ("failure", f"{PAGE}/blob/{STATE_BRANCH}/drift/shop/dev.yaml"),  # the one that drifted
    ]


def test_a_drift_check_that_cannot_run_links_to_the_files_it_read(bench: Bench) -> None:
    bench.merge(bench.open(CHANGE))
    sha = bench.push({"shipmate.yaml": "apply: sometimes\n"})
    assert bench.check_drift() is None
    assert sent(bench, sha, DRIFT) == [("error", f"{PAGE}/tree/{sha}")]
