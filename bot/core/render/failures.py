"""The Markdown of the comment that says a job failed, and the commit status description
that goes with it (bug, stopped worker, retries exhausted, permanent error).

Pure functions of the failure's facts; `error` is already cleaned of credentials by the
caller. The comment carries no marker: the caller adds it.

    ### ❌ Shipmate could not handle the pull request event `opened`
    It failed with an error that trying again will not fix:
    ```
    ...
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.render.comment import fence_for


@dataclass(frozen=True)
class JobFailureText:
    """What a failed job's report says: `kind` is "bug", "stopped", "exhausted" or "permanent"."""

    kind: str
    error: str
    attempts: int
    incident: str
    job_id: int
    delivery_id: str


def status_description(failure: JobFailureText) -> str:
    """The description of the `error` statuses a failed job leaves."""
    if failure.kind == "bug":
        return f"Shipmate failed unexpectedly (incident {failure.incident})"
    if failure.kind == "stopped":
        return "Shipmate stopped trying: its worker stopped on every attempt"
    if failure.kind == "exhausted":
        return f"Shipmate gave up after {failure.attempts} attempts: {failure.error}"
    return f"Shipmate failed: {failure.error}"


def error_lines(failure: JobFailureText, what: str) -> list[str]:
    """The lines of the error comment about handling `what` (without its marker line)."""
    lines = [f"### ❌ Shipmate could not handle the {what}", ""]
    retry = (f"The job is kept as dead letter {failure.job_id}; once the cause is fixed an operator can run "
             f"it again with `shipmate queue retry {failure.job_id}`." if failure.job_id > 0 else
             "Once the cause is fixed, re-run the workflow job.")
    if failure.kind == "bug":
        lines += [f"Shipmate hit an unexpected error: incident `{failure.incident}`. Its log holds the details "
                  "under that id.", "", retry]
    elif failure.kind == "stopped":
        lines += [f"The worker handling it stopped {failure.attempts} times before finishing (killed, crashed or "
                  "out of memory), so Shipmate stopped trying.", "", retry]
    else:
        body = failure.error.splitlines() or [""]
        fence = fence_for(body)
        if failure.kind == "exhausted":
            lines += [f"It failed {failure.attempts} times with an error that is usually temporary; the last one:"]
        else:
            lines += ["It failed with an error that trying again will not fix:"]
        lines += ["", fence, *body, fence]
        if failure.kind == "exhausted":
            lines += ["", retry]
    lines += ["", f"<sub>delivery `{failure.delivery_id}`</sub>"]
    return lines
