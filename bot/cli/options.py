"""What the subcommands share on the command line: the root group that suggests a command for a
near miss, the options of the stack commands, validated values, and Kusion's spellings.

Click suggests a near option itself (`No such option: --yse Did you mean --yes?`); the group
does the same for a subcommand. Numbers are checked where they are parsed, so `--concurrency 0`
or `--timeout -1` is a usage error naming the flag (exit 2) before anything is read.
Kusion writes its boolean flags `--detail=false` and `--watch=false`: `kusion_spellings`
turns those into `--no-detail` and `--no-watch`, and `-d` is `--detail`, as in Kusion.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
POSITIVE = click.IntRange(min=1)
SECONDS = click.FloatRange(min=0, min_open=True)
_NEGATABLE = ("detail", "watch")
_KUSION_BOOL = re.compile(r"^--(?P<name>[a-z-]+)=(?P<value>true|false|1|0)$", re.IGNORECASE)


class PipeClosed(Exception):
    """Whoever read our output has gone (`shipmate release list | head -1`)."""


class SuggestingGroup(click.Group):
    """A command group that lists its commands in the order they were added, answers a
    mistyped command with the nearest one (`No such command 'aply'. Did you mean 'apply'?`),
    and turns a closed stdout into `PipeClosed` (click would exit 1 itself)."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:  # --help and --version print while the arguments are parsed
            return super().make_context(info_name, args, parent, **extra)
        except BrokenPipeError as exc:
            raise PipeClosed from exc

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise PipeClosed from exc

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            near = difflib.get_close_matches(name, self.list_commands(ctx), n=1, cutoff=0.6)
            hint = f" Did you mean {near[0]!r}?" if near else ""
            ctx.fail(f"No such command {name!r}.{hint}")
        return super().resolve_command(ctx, args)


def group(name: str, help: str, examples: str, short: str | None = None) -> Callable[[F], SuggestingGroup]:
    """A subcommand group with the shared context settings and an examples epilog."""

    def make(f: F) -> SuggestingGroup:
        decorator = click.group(name, cls=SuggestingGroup, help=help, short_help=short, epilog=epilog(examples),
                                context_settings=CONTEXT)
        return decorator(f)

    return make


def command(name: str, help: str, examples: str, short: str | None = None) -> Callable[[F], click.Command]:
    """A subcommand with the shared context settings and an examples epilog."""
    return click.command(name, help=help, short_help=short, epilog=epilog(examples), context_settings=CONTEXT)


def epilog(examples: str) -> str:
    """`examples` (one command per line, `#` lines as comments) as a help epilog that click
    prints as written."""
    lines = [line.strip() for line in examples.strip().splitlines()]
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" if line else "" for line in lines)


def kusion_spellings(argv: Sequence[str]) -> list[str]:
    """`--detail=false` → `--no-detail`, `--watch=true` → `--watch` (Kusion's boolean flags),
    and `--ignore-fields A B` → `--ignore-fields A,B` (the paths after it, up to the next
    option, as before; Kusion's comma list is the same value); nothing after `--` changes."""
    out: list[str] = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--":
            return [*out, arg, *args]
        found = _KUSION_BOOL.match(arg)
        if found and found["name"] in _NEGATABLE:
            on = found["value"].lower() in ("true", "1")
            out.append(f"--{found['name']}" if on else f"--no-{found['name']}")
        elif arg == "--ignore-fields":
            paths = []
            while args and not args[0].startswith("-"):
                paths.append(args.pop(0))
            out.extend([arg, ",".join(paths)] if paths else [arg])
        else:
            out.append(arg)
    return out


# --- options of the stack commands ----------------------------------------------------------


def workdir(f: F) -> F:
    return click.option("-w", "--workdir", default=".", show_default=True, metavar="STACK_DIR",
                        help="The stack directory (holding stack.yaml).")(f)


def backend(f: F) -> F:
    return click.option("--backend", metavar="SPEC",
                        help="git:<path-or-url>[#branch] or local:<dir>; default: the state branch of the "
                        "repository holding the stack.")(f)


def stack_options(f: F) -> F:
    """-w, --workspace (checked against the stack's), --backend, --ignore-fields, --no-style."""
    f = click.option("--no-style", is_flag=True, help="No colour or styling (also: NO_COLOR set).")(f)
    f = click.option("--ignore-fields", multiple=True, metavar="PATH",
                     help="A dotted path to leave out of the comparison, e.g. metadata.annotations "
                     "(repeatable; a comma separates several).")(f)
    f = backend(f)
    f = click.option("--workspace", metavar="NAME",
                     help="The stack's workspace, as Kusion names it; refused when the stack's "
                     "stack.yaml names another.")(f)
    return workdir(f)


def apply_options(f: F) -> F:
    """-y, --dry-run, --timeout, --concurrency, -d/--detail, -o."""
    f = click.option("-o", "--output", type=click.Choice(("text", "json")), default="text", show_default=True,
                     help="How the result is printed; with json, the preview and the question go to stderr "
                     "and stdout holds one JSON document.")(f)
    f = click.option("--detail/--no-detail", "-d", default=True, show_default=True,
                     help="Show each resource's field diff before asking; --no-detail shows the "
                     "summary table only.")(f)
    f = click.option("--concurrency", type=POSITIVE, metavar="N",
                     help="Operations at once (default: shipmate.yaml's concurrency, else 10).")(f)
    f = click.option("--timeout", type=SECONDS, metavar="S", help="Fail the release after S seconds.")(f)
    f = click.option("--dry-run", is_flag=True, help="Preview only; write nothing.")(f)
    return click.option("-y", "--yes", is_flag=True, help="Apply without asking for confirmation.")(f)


def watch(f: F) -> F:
    return click.option("--watch/--no-watch", default=True, show_default=True,
                        help="Wait until workloads are ready.")(f)


def ignore_paths(values: Sequence[str]) -> tuple[str, ...]:
    """`--ignore-fields a.b --ignore-fields c,d` → ("a.b", "c", "d") (Kusion separates with commas)."""
    return tuple(p for value in values for p in (s.strip() for s in value.split(",")) if p)
