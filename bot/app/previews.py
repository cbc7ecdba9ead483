"""Which stacks a change touches, and their previews: shared by pull requests, `/preview`,
`/apply` and drift checks.

A repository whose stack files do not even parse yields one failed result naming the file
and line, instead of a crash; a stack whose config or preview fails yields a failed
`StackResult` with the error, and the other stacks are still previewed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.app.configrepo import discover_stacks
from bot.app.fanout import fan_out
from bot.app.services import Tree, secrets_of
from bot.app.stacks import LoadedStack, StackOps
from bot.core.affected import StackRef, affected_stacks
from bot.core.commands import Command
from bot.core.config.settings import RepoSettings
from bot.core.errors import ConfigError, ShipmateError, TransientError
from bot.core.preview.model import StackResult

log = logging.getLogger("shipmate.bot")

REPOSITORY = "(repository)"


@dataclass(frozen=True)
class Selection:
    """The stacks to act on, or the reason none could be found."""

    stacks: tuple[StackRef, ...] = ()
    error: str | None = None
    all_affected: tuple[StackRef, ...] = ()


def select(tree: Tree, changed: Sequence[str] | None, command: Command | None = None) -> Selection:
    """The stacks of `tree` that `changed` paths touch (every stack when `changed` is None),
    narrowed by the command's `-p`/`-s` filters."""
    try:
        stacks = discover_stacks(tree.reader)
    except ConfigError as exc:
        return Selection(error=str(exc))
    affected = tuple(stacks) if changed is None else affected_stacks(changed, stacks)
    chosen = tuple(s for s in affected if command is None or command.matches(s.project, s.name))
    return Selection(chosen, None, affected)


@dataclass
class Previewed:
    results: list[StackResult] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if r.error is not None or r.changeset is None)


def load(ops: StackOps, tree: Tree, ref: StackRef, trusted: RepoSettings, into: Previewed) -> LoadedStack | None:
    """Load one stack, recording a failure in `into` when its config is bad."""
    try:
        loaded = ops.load(tree.reader, ref.path)
    except ShipmateError as exc:
        into.results.append(StackResult.failed(ref.project, ref.name, ref.workspace, str(exc)))
        return None
    into.secrets |= secrets_of(loaded, trusted)
    return loaded


def preview(ops: StackOps, tree: Tree, stacks: Sequence[StackRef], trusted: RepoSettings) -> Previewed:
    """Load and preview each stack, `ops.parallel` at a time (`bot.app.fanout`); failures
    become failed results, never exceptions, except temporary ones (the job is tried again).
    Results are in the order of `stacks`."""

    def one(ref: StackRef) -> Previewed:
        out = Previewed()
        loaded = load(ops, tree, ref, trusted, out)
        if loaded is None:
            return out
        try:
            out.results.append(StackResult.of(ops.preview(loaded)))
        except TransientError:
            raise  # the state branch or a runtime may answer later: the job is tried again
        except ShipmateError as exc:
            out.results.append(StackResult.failed(ref.project, ref.name, ref.workspace, str(exc)))
        except Exception as exc:  # a runtime's client error: shown on the stack, logged in full
            log.exception("preview of %s at %s failed", ref.path, tree.sha[:7])
            out.results.append(
                StackResult.failed(ref.project, ref.name, ref.workspace, f"{type(exc).__name__}: {exc}")
            )
        return out

    total = Previewed()
    for part in fan_out(stacks, one, parallel=ops.parallel, key=lambda ref: (ref.project, ref.workspace)):
        total.results.extend(part.results)
        total.secrets |= part.secrets
    return total


def repository_failure(error: str) -> StackResult:
    return StackResult.failed(REPOSITORY, "*", "", error)
