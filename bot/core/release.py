"""Releases: one record per apply or destroy attempt, its phase rules and the revision index.

A `Release` is Kusion's record (`project`, `workspace`, `revision`, `stack`, `spec`, `state`,
`phase`, `createTime`, `modifiedTime`) plus Shipmate's provenance (`trigger`, `actor`,
`commit`, `pullRequest`) and, for failed releases, an `error` message. Phases move
`generating → previewing → applying|destroying → succeeded|failed`; `succeeded` and `failed`
are terminal, and a terminal release never changes again.

A new release of a project+workspace may start only when the latest one is terminal
(`check_can_start`); an interrupted run is cleared with `unlocked`, which marks it failed and
keeps the state it had flushed, so the next apply starts from exactly that state.

`ReleaseMeta` is Kusion's index file `.metadata.yml` (`latestRevision`,
`releaseMetaDatas[{revision, stack}]`). Indexes grow with history, so `peek_latest_revision`
and `append_index` work on the canonical text without parsing every entry; anything not in
the canonical shape (for example written by Kusion itself) takes the full parse.

Everything here is text in, text out: no files, no clock (times are passed in).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.core.clock import parse_time, rfc3339, utc_seconds
from bot.core.errors import ConfigError, Problem, StateConflict
from bot.core.spec import Spec, State
from bot.core.yamlio import FieldPath, dump_data, format_path, load_data, locate_data


class Phase(StrEnum):
    GENERATING = "generating"
    PREVIEWING = "previewing"
    APPLYING = "applying"
    DESTROYING = "destroying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED)


# Which phase may follow which. Staying in the same non-terminal phase is always allowed
# (that is how state is flushed during applying/destroying).
TRANSITIONS: Mapping[Phase, frozenset[Phase]] = {
    Phase.GENERATING: frozenset({Phase.PREVIEWING, Phase.FAILED}),
    Phase.PREVIEWING: frozenset(
        {Phase.APPLYING, Phase.DESTROYING, Phase.SUCCEEDED, Phase.FAILED}
    ),
    Phase.APPLYING: frozenset({Phase.SUCCEEDED, Phase.FAILED}),
    Phase.DESTROYING: frozenset({Phase.SUCCEEDED, Phase.FAILED}),
    Phase.SUCCEEDED: frozenset(),
    Phase.FAILED: frozenset(),
}


class Trigger(StrEnum):
    """What started a release."""

    CLI = "cli"
    PULL_REQUEST = "pull_request"
    COMMENT = "comment"
    PUSH = "push"
    SCHEDULE = "schedule"
    ROLLBACK = "rollback"
    ACTION = "action"


class ReleaseInProgress(StateConflict):
    """A new apply/destroy was refused because the latest release has not finished."""

    def __init__(self, release: Release) -> None:
        self.release = release
        p, w = release.project, release.workspace
        who = f" by {release.actor}" if release.actor else ""
        super().__init__(
            f"release {p}/{w} r{release.revision} (stack {release.stack}) is still "
            f"{release.phase}, started {rfc3339(release.create_time)}{who}; wait for it to "
            f"finish, or if it was interrupted run `shipmate release unlock --project {p} "
            f"--workspace {w}` (marks r{release.revision} failed, keeps its state)"
        )


def check_transition(release: Release, to: Phase) -> None:
    """Raise StateConflict unless `release` may move to phase `to`."""
    if release.phase.terminal:
        raise StateConflict(
            f"release {release.key} r{release.revision} is already {release.phase}; "
            "finished releases never change"
        )
    if to != release.phase and to not in TRANSITIONS[release.phase]:
        allowed = ", ".join(sorted(TRANSITIONS[release.phase]))
        raise StateConflict(
            f"release {release.key} r{release.revision} cannot go from {release.phase} to "
            f"{to} (allowed: {allowed})"
        )


def check_can_start(latest: Release | None) -> None:
    """The phase rule: nothing new starts while the latest release is not terminal."""
    if latest is not None and not latest.phase.terminal:
        raise ReleaseInProgress(latest)


@dataclass(frozen=True, slots=True)
class Release:
    """One apply or destroy attempt of one stack in one project+workspace."""

    project: str
    workspace: str
    revision: int
    stack: str
    spec: Spec
    state: State
    phase: Phase
    create_time: datetime
    modified_time: datetime
    trigger: Trigger = Trigger.CLI
    actor: str = ""
    commit: str = ""
    pull_request: int | None = None
    error: str | None = None
    policy_override: str | None = None  # who applied past failing policies, and why (`policyOverride`)

    @property
    def key(self) -> str:
        return f"{self.project}/{self.workspace}"

    # --- building -----------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        project: str,
        workspace: str,
        stack: str,
        *,
        latest: Release | None,
        now: datetime,
        trigger: Trigger = Trigger.CLI,
        actor: str = "",
        commit: str = "",
        pull_request: int | None = None,
        spec: Spec | None = None,
        phase: Phase = Phase.GENERATING,
        policy_override: str | None = None,
    ) -> Release:
        """The next release after `latest`: its state carried over, revision latest+1.

        Raises `ReleaseInProgress` when `latest` has not finished. The backend re-assigns
        the revision atomically when it records the release.
        """
        check_can_start(latest)
        moment = utc_seconds(now)
        return cls(
            project=project,
            workspace=workspace,
            revision=(latest.revision + 1) if latest else 1,
            stack=stack,
            spec=spec if spec is not None else Spec(),
            state=latest.state if latest else State(),
            phase=phase,
            create_time=moment,
            modified_time=moment,
            trigger=trigger,
            actor=actor,
            commit=commit,
            pull_request=pull_request,
            policy_override=policy_override,
        )

    @classmethod
    def rollback(
        cls,
        target: Release,
        *,
        latest: Release | None,
        now: datetime,
        actor: str = "",
        commit: str = "",
        pull_request: int | None = None,
    ) -> Release:
        """A new release that re-applies `target`'s Spec on top of the latest state.

        It starts in `previewing` (the Spec is known, nothing is generated).
        """
        if not target.spec.resources:
            raise StateConflict(
                f"release {target.key} r{target.revision} has no Spec to roll back to "
                f"(it ended {target.phase} before one was generated)"
            )
        return cls.start(
            target.project,
            target.workspace,
            target.stack,
            latest=latest,
            now=now,
            trigger=Trigger.ROLLBACK,
            actor=actor,
            commit=commit or target.commit,
            pull_request=pull_request,
            spec=target.spec,
            phase=Phase.PREVIEWING,
        )

    def with_revision(self, revision: int) -> Release:
        return replace(self, revision=revision)

    def with_phase(self, phase: Phase, now: datetime, error: str | None = None) -> Release:
        """Move to `phase` (checked against TRANSITIONS); `error` explains a failure."""
        check_transition(self, phase)
        return replace(
            self, phase=phase, modified_time=utc_seconds(now), error=error if error else self.error
        )

    def with_spec(self, spec: Spec, now: datetime) -> Release:
        check_transition(self, self.phase)
        return replace(self, spec=spec, modified_time=utc_seconds(now))

    def with_state(self, state: State, now: datetime) -> Release:
        """Flush point: the state after one more finished resource operation."""
        check_transition(self, self.phase)
        return replace(self, state=state, modified_time=utc_seconds(now))

    def succeeded(self, now: datetime) -> Release:
        return self.with_phase(Phase.SUCCEEDED, now)

    def failed(self, now: datetime, error: str) -> Release:
        return self.with_phase(Phase.FAILED, now, error=error)

    def unlocked(self, now: datetime, by: str = "") -> Release:
        """Force an interrupted release to `failed`, keeping every flushed resource."""
        who = f" by {by}" if by else ""
        return self.failed(now, f"unlocked{who} while {self.phase}")

    # --- (de)serialising ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "project": self.project,
            "workspace": self.workspace,
            "revision": self.revision,
            "stack": self.stack,
            "spec": self.spec.to_dict(),
            "state": self.state.to_dict(),
            "phase": str(self.phase),
            "createTime": rfc3339(self.create_time),
            "modifiedTime": rfc3339(self.modified_time),
            "trigger": str(self.trigger),
            "actor": self.actor,
            "commit": self.commit,
            "pullRequest": self.pull_request,
        }
        if self.error:
            out["error"] = self.error
        if self.policy_override:
            out["policyOverride"] = self.policy_override
        return out

    def to_yaml(self) -> str:
        return dump_data(self.to_dict())

    @classmethod
    def from_dict(cls, data: Any, source: str = "", text: str = "") -> Release:
        """Parse and validate; every problem names `source` and the field."""
        check = StateChecker(source, text)
        if not isinstance(data, Mapping):
            raise check.error("", f"expected a release mapping, got {_kind(data)}")
        project = check.name(data, "project")
        workspace = check.name(data, "workspace")
        stack = check.name(data, "stack")
        revision = check.integer(data, "revision", minimum=1)
        phase_text = check.string(data, "phase")
        try:
            phase = Phase(phase_text)
        except ValueError:
            raise check.error(
                "phase", f"unknown phase {phase_text!r} (expected one of {', '.join(Phase)})"
            ) from None
        trigger_text = data.get("trigger") or str(Trigger.CLI)
        try:
            trigger = Trigger(trigger_text)
        except ValueError:
            raise check.error(
                "trigger",
                f"unknown trigger {trigger_text!r} (expected one of {', '.join(Trigger)})",
            ) from None
        pull = data.get("pullRequest")
        if pull is not None and (not isinstance(pull, int) or isinstance(pull, bool)):
            raise check.error("pullRequest", f"expected a number or null, got {_kind(pull)}")
        error = data.get("error")
        if error is not None and not isinstance(error, str):
            raise check.error("error", f"expected a string, got {_kind(error)}")
        override = data.get("policyOverride")
        if override is not None and not isinstance(override, str):
            raise check.error("policyOverride", f"expected a string, got {_kind(override)}")
        return cls(
            project=project,
            workspace=workspace,
            revision=revision,
            stack=stack,
            spec=check.section(data, "spec", Spec.from_dict),
            state=check.section(data, "state", State.from_dict),
            phase=phase,
            create_time=check.time(data, "createTime"),
            modified_time=check.time(data, "modifiedTime"),
            trigger=trigger,
            actor=str(data.get("actor") or ""),
            commit=str(data.get("commit") or ""),
            pull_request=pull,
            error=error or None,
            policy_override=override or None,
        )

    @classmethod
    def from_yaml(cls, text: str, source: str = "") -> Release:
        return cls.from_dict(load_data(source, text, invalid="not valid YAML"), source, text)


# --- the revision index (.metadata.yml) -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReleaseMetaData:
    revision: int
    stack: str


@dataclass(frozen=True, slots=True)
class ReleaseMeta:
    """Kusion's `releases/<project>/<workspace>/.metadata.yml`."""

    latest_revision: int = 0
    release_meta_datas: tuple[ReleaseMetaData, ...] = field(default=())

    def append(self, revision: int, stack: str) -> ReleaseMeta:
        if revision != self.latest_revision + 1:
            raise StateConflict(
                f"revision {revision} does not follow the latest revision {self.latest_revision}"
            )
        return ReleaseMeta(
            latest_revision=revision,
            release_meta_datas=(*self.release_meta_datas, ReleaseMetaData(revision, stack)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "latestRevision": self.latest_revision,
            "releaseMetaDatas": [
                {"revision": m.revision, "stack": m.stack} for m in self.release_meta_datas
            ],
        }

    def to_yaml(self) -> str:
        return dump_data(self.to_dict())

    @classmethod
    def from_dict(cls, data: Any, source: str = "", text: str = "") -> ReleaseMeta:
        check = StateChecker(source, text)
        if not isinstance(data, Mapping):
            raise check.error("", f"expected the index mapping, got {_kind(data)}")
        latest = check.integer(data, "latestRevision", minimum=0)
        items = data.get("releaseMetaDatas") or []
        if not isinstance(items, list):
            raise check.error("releaseMetaDatas", f"expected a list, got {_kind(items)}")
        metas: list[ReleaseMetaData] = []
        previous = 0
        for i, item in enumerate(items):
            rev = item.get("revision") if isinstance(item, Mapping) else None
            stack = item.get("stack") if isinstance(item, Mapping) else None
            if not isinstance(rev, int) or isinstance(rev, bool) or rev <= previous:
                raise check.error(
                    ("releaseMetaDatas", i, "revision"),
                    f"expected a revision above {previous}, got {rev!r}",
                )
            if not isinstance(stack, str) or not stack:
                raise check.error(("releaseMetaDatas", i, "stack"), f"expected a stack name, got {stack!r}")
            metas.append(ReleaseMetaData(rev, stack))
            previous = rev
        if metas and metas[-1].revision != latest:
            raise check.error(
                "latestRevision",
                f"is {latest} but the last listed revision is {metas[-1].revision}",
            )
        return cls(latest_revision=latest, release_meta_datas=tuple(metas))

    @classmethod
    def from_yaml(cls, text: str, source: str = "") -> ReleaseMeta:
        return cls.from_dict(load_data(source, text, invalid="not valid YAML"), source, text)


# The canonical index text, as `ReleaseMeta.to_yaml` writes it, is
#   latestRevision: N\nreleaseMetaDatas:\n- revision: 1\n  stack: web\n...
# (or `releaseMetaDatas: []` when empty); these patterns recognise it without a full parse.
_HEAD = re.compile(r"\AlatestRevision: (\d+)\nreleaseMetaDatas:(?: \[\])?\n")
_TAIL = re.compile(r"- revision: (\d+)\n  stack: [^\n]+\n\Z")


def peek_latest_revision(text: str | None, source: str = "") -> int:
    """`latestRevision` of an index (0 when there is none), at a cost independent of history."""
    if not text:
        return 0
    head = _HEAD.match(text)
    if head:
        return int(head.group(1))
    return ReleaseMeta.from_yaml(text, source).latest_revision


def append_index(text: str | None, revision: int, stack: str, source: str = "") -> str:
    """The index text with `revision` (which must be latest+1) added for `stack`.

    Canonical text is extended in place (no full parse, so large indexes stay cheap);
    anything else is parsed, validated and rewritten canonically.
    """
    if not text:
        return ReleaseMeta().append(revision, stack).to_yaml()
    latest = _canonical_latest(text)
    if latest is not None:
        if revision != latest + 1:
            raise StateConflict(
                f"revision {revision} does not follow the latest revision {latest}"
            )
        entry = dump_data([{"revision": revision, "stack": stack}])
        head = _HEAD.match(text)
        assert head is not None
        body = "" if latest == 0 else text[head.end():]
        return f"latestRevision: {revision}\nreleaseMetaDatas:\n{body}{entry}"
    return ReleaseMeta.from_yaml(text, source).append(revision, stack).to_yaml()


def peek_revisions(text: str | None, source: str = "") -> tuple[int, ...]:
    """Every revision an index lists, oldest first; canonical text (revisions 1..latest, as
    `append_index` writes them) is not parsed, so this costs the same however long the history."""
    if not text:
        return ()
    latest = _canonical_latest(text)
    if latest is not None:
        return tuple(range(1, latest + 1))
    return tuple(item.revision for item in ReleaseMeta.from_yaml(text, source).release_meta_datas)


def _canonical_latest(text: str) -> int | None:
    """The latest revision of canonical index text (entries 1..latest in order, as
    `append_index` writes them), or None when the text takes the full parse."""
    head = _HEAD.match(text)
    if not head:
        return None
    latest = int(head.group(1))
    if text == f"latestRevision: {latest}\nreleaseMetaDatas: []\n":
        return latest if latest == 0 else None
    last = text.rfind("\n- revision: ", head.end() - 1)
    tail = _TAIL.match(text, last + 1) if last >= 0 else None
    consistent = (
        tail is not None
        and int(tail.group(1)) == latest
        and text.count("\n- revision: ", head.end() - 1) == latest
    )
    return latest if consistent else None


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]*\Z")


def valid_name(value: str) -> bool:
    """Project, workspace and stack names: they become path segments on the backend."""
    return bool(_NAME.match(value)) and len(value) <= 253


class StateChecker:
    """Field validation of one state-branch file (a release, an index, a lock record): each
    problem names the file, the field and where the field's key is in the text."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.text = text

    def error(self, path: str | FieldPath, message: str) -> ConfigError:
        fields = (path,) if isinstance(path, str) and path else () if isinstance(path, str) else path
        line, col = locate_data(self.text, fields, at_key=True) if fields and self.text else (0, 0)
        return ConfigError([Problem(self.source, line, col, format_path(fields), message)])

    def string(self, data: Mapping[str, Any], name: str) -> str:
        value = data.get(name)
        if not isinstance(value, str) or not value:
            raise self.error(name, f"expected a non-empty string, got {_kind(value)}")
        return value

    def name(self, data: Mapping[str, Any], name: str) -> str:
        value = self.string(data, name)
        if not valid_name(value):
            raise self.error(name, f"{value!r} is not a valid name (letters, digits, . _ -)")
        return value

    def integer(self, data: Mapping[str, Any], name: str, minimum: int) -> int:
        value = data.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self.error(name, f"expected a whole number >= {minimum}, got {value!r}")
        return value

    def time(self, data: Mapping[str, Any], name: str) -> datetime:
        value = data.get(name)
        try:
            return utc_seconds(parse_time(value))
        except ValueError:
            raise self.error(name, f"expected an RFC 3339 time, got {value!r}") from None

    def section(self, data: Mapping[str, Any], name: str, parse: Any) -> Any:
        value = data.get(name)
        if value is not None and not isinstance(value, Mapping):
            raise self.error(name, f"expected a mapping, got {_kind(value)}")
        try:
            return parse(value)
        except KeyError as exc:
            raise self.error(name, f"a resource lacks the field {exc}") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise self.error(name, f"malformed: {exc}") from None
