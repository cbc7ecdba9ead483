"""`python -m actions`: Shipmate as one step of a GitHub Actions workflow.

It reads what the runner provides (`GITHUB_EVENT_NAME`, `GITHUB_EVENT_PATH`, `GITHUB_TOKEN`,
`GITHUB_API_URL`, `GITHUB_REPOSITORY`, `GITHUB_RUN_ID`, `RUNNER_TEMP`) and the action's inputs
(`INPUT_COMMAND`, `INPUT_STACKS`, `INPUT_BACKEND_BRANCH`, `INPUT_CONCURRENCY`), then:

- `auto`: hands the event to the same router the webhook server uses — a pull request is
  previewed, a comment runs its command, a push to the default branch is applied;
- `preview` / `apply`: the same, but only for `pull_request` / `push` events;
- `destroy`: destroys the stacks named in `stacks` (`project/stack`, comma-separated);
- `drift`: previews the default branch against live state and records the result.

It writes the outputs (`changed-stacks`, `creates`, `updates`, `deletes`,
`release-revisions`) to `GITHUB_OUTPUT`, a job summary to `GITHUB_STEP_SUMMARY`, and exits
non-zero with an `::error::` annotation when anything failed. The event is handled by the
server's rules (`bot.app.workers.run_once`): temporary errors are tried three times, and a run
that fails still leaves an error comment and no `pending` status behind. `KUBECONFIG_CONTENT` in the
environment is written to a private file and used as `KUBECONFIG`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping, MutableMapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from actions.reporter import ActionReporter
from bot.adapters.github.webhooks import make_delivery
from bot.app import builder, drift
from bot.app.configrepo import discover_stacks
from bot.app.locking import action_owner
from bot.app.outcomes import clean
from bot.app.runner import StackRunner
from bot.app.services import Services
from bot.app.workers import run_once
from bot.core.affected import StackRef
from bot.core.errors import ConfigError, Problem, ShipmateError
from bot.core.outcome import RunResult, StackOutcome
from bot.core.release import Trigger
from bot.core.runplan import Operation, Provenance
from bot.settings import Settings
from bot.wiring import Overrides, build_bot

COMMANDS = ("auto", "preview", "apply", "destroy", "drift")
EVENTS_FOR = {"preview": ("pull_request",), "apply": ("push",)}


def main(env: MutableMapping[str, str] | None = None) -> int:
    environ = dict(os.environ if env is None else env)
    try:
        return run(environ)
    except ShipmateError as exc:
        annotate(str(exc))
        return exc.exit_code or 1


def run(environ: dict[str, str]) -> int:
    command = (environ.get("INPUT_COMMAND") or "auto").strip().lower()
    if command not in COMMANDS:
        raise _input_error("command", f"{command!r} is not one of {', '.join(COMMANDS)}")
    event_name = _required(environ, "GITHUB_EVENT_NAME")
    body = Path(_required(environ, "GITHUB_EVENT_PATH")).read_bytes()
    payload = json.loads(body or b"{}")
    repo = (payload.get("repository") or {}).get("full_name") or environ.get("GITHUB_REPOSITORY", "")
    if not repo:
        raise _input_error("GITHUB_REPOSITORY", "is not set and the event names no repository")
    if command in EVENTS_FOR and event_name not in EVENTS_FOR[command]:
        raise _input_error("command", f"{command} runs on {' or '.join(EVENTS_FOR[command])} events, "
                           f"not {event_name} (use command: auto for comment commands)")

    scratch = Path(environ.get("RUNNER_TEMP") or tempfile.gettempdir()) / "shipmate"
    environ.setdefault("SHIPMATE_DATA_DIR", str(scratch))  # the cache defaults to <data dir>/cache
    _kubeconfig_from_content(environ, scratch)
    settings = Settings.from_env(environ)
    collected = ActionReporter()
    bot = build_bot(settings, environ, overrides=_overrides(environ, collected))
    if bot.services is None:
        raise _input_error("github-token", "no GitHub credentials: pass github-token (or set GITHUB_TOKEN)")
    services = bot.services
    bot_handler = bot.handler

    if command in ("auto", "preview", "apply"):
        run_id = f"action-{environ.get('GITHUB_RUN_ID', 'local')}-{environ.get('GITHUB_RUN_ATTEMPT', '1')}"
        failure = run_once(bot_handler, make_delivery(run_id, event_name, body, datetime.now(UTC)))
        if failure is not None:  # the pull request or commit has the error comment, no status is pending
            collected.errors.append(f"incident {failure.incident}: Shipmate failed unexpectedly (see the log)"
                                    if failure.kind == "bug" else clean(failure.error))
    elif command == "destroy":
        destroy(services, repo, _stacks(environ), environ)
    else:
        collected.drift = drift.check_drift(services, repo)

    collected.write_outputs(environ)
    collected.write_summary(environ, command, repo)
    problems = collected.problems()
    for problem in problems:
        annotate(problem)
    return 1 if problems else 0


def _overrides(environ: Mapping[str, str], collected: ActionReporter) -> Overrides:
    """The inputs that override the settings and `shipmate.yaml`, and the collector of results."""
    branch = (environ.get("INPUT_BACKEND_BRANCH") or "").strip()
    concurrency = (environ.get("INPUT_CONCURRENCY") or "").strip()
    if concurrency and not concurrency.isdigit():
        raise _input_error("concurrency", f"{concurrency!r} is not a positive number")
    return Overrides(backend_branch=branch or None, concurrency=int(concurrency) if concurrency else None,
                     reporter=collected)


def destroy(services: Services, repo: str, names: Sequence[str], environ: Mapping[str, str]) -> None:
    """Destroy the named stacks of the default branch's head, each as a release; a name with
    no stack is reported as a stack that did not run."""
    if not names:
        raise _input_error("stacks", "destroy needs the stacks to destroy (project/stack, comma-separated)")
    access = services.access(repo)
    tree = services.base_tree(access, repo, access.host.default_branch(repo))
    trusted = services.policy_tree(access, repo).settings()
    known = {f"{s.project}/{s.name}": s for s in discover_stacks(tree.reader)}
    refs = [known.get(name) or StackRef("", *_split(name), "") for name in names]
    provenance = Provenance(Trigger.ACTION, environ.get("GITHUB_ACTOR", ""), tree.sha)
    plan = builder.stacks(Operation.DESTROY, [r for r in refs if r.path], provenance,
                          action_owner(repo, environ.get("GITHUB_RUN_ID", "")), repo=repo,
                          state_branch=trusted.backend.branch)
    result = StackRunner(services.ops(access, repo, trusted), tree, trusted).run(plan)
    # The runs in the order named, a name with no stack where it was asked for.
    ran = iter(result.stacks)
    stacks = [next(ran) if r.path else StackOutcome.refused(
        r.project, r.name, "", f"no stack {r.project}/{r.name} on the default branch") for r in refs]
    services.reporter(access).finished(plan, RunResult(tuple(stacks), result.secrets))


def _split(name: str) -> tuple[str, str]:
    project, _, stack = name.partition("/")
    return project, stack


def annotate(message: str) -> None:
    """An error annotation on the workflow run (one line per problem; newlines escaped)."""
    escaped = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    print(f"::error title=Shipmate::{escaped}", file=sys.stdout, flush=True)


def _kubeconfig_from_content(environ: dict[str, str], scratch: Path) -> None:
    content = environ.get("KUBECONFIG_CONTENT")
    if not content or environ.get("KUBECONFIG"):
        return
    scratch.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix="kubeconfig-", dir=scratch)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
    environ["KUBECONFIG"] = path


def _stacks(environ: Mapping[str, str]) -> list[str]:
    return [s.strip() for s in (environ.get("INPUT_STACKS") or "").split(",") if s.strip()]


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name)
    if not value:
        raise _input_error(name, "is not set: this entry point runs inside a GitHub Actions step")
    return value


def _input_error(name: str, message: str) -> ConfigError:
    return ConfigError([Problem("action", 0, 0, name, message)])


if __name__ == "__main__":
    raise SystemExit(main())
