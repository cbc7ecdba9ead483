"""The PR comment grammar: comment text → a command, help, a correction, or nothing.

Shipmate reacts only to a comment whose first non-empty line starts with one of its slash
commands; anything after a second non-empty line makes the comment ambiguous and it is
ignored, as Atlantis does, so quoted text or prose never triggers an apply by accident.

    /preview  [-p PROJECT] [-s STACK]
    /apply    [-p PROJECT] [-s STACK] [--override-policy REASON] [--no-wait]
    /destroy  -p PROJECT -s STACK --confirm PROJECT/STACK
    /unlock
    /help

The command may be written as inline code (`` `/apply` ``) or alone in a fenced code block,
with or without a language (```` ```text ````): fence lines are not lines of the comment.

A near miss of a command name (`/aply`) gets a "did you mean" reply; unknown flags and
malformed arguments get a usage reply. Slash words that resemble nothing of ours are left
alone, since other bots use slash commands too.

Bounded work: a command is one short line, so a comment longer than `MAX_COMMENT_CHARS` is
never one and is ignored without being read (`parse` looks at its length only); shorter
comments are read once, line by line. Every piece of the comment a reply repeats is quoted as
inline code (backticks escaped) and cut to `MAX_ECHO_CHARS`, so a reply never renders the
commenter's Markdown, mentions or links.
"""

from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import dataclass
from enum import StrEnum

from bot.core.render.comment import code

MAX_COMMENT_CHARS = 4096  # longer comments are never commands (and are not read)
MAX_ECHO_CHARS = 80  # how much of a word a reply repeats
_FENCE = re.compile(r"`{3,}[\w+.-]*")  # a code fence line: ``` with an optional language
_MAX_SUGGEST_CHARS = 32  # "did you mean" only for words about as long as ours


class Verb(StrEnum):
    PREVIEW = "preview"
    APPLY = "apply"
    DESTROY = "destroy"
    UNLOCK = "unlock"
    HELP = "help"


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed, well-formed command."""

    verb: Verb
    project: str | None = None
    stack: str | None = None
    confirm: str | None = None
    override_reason: str | None = None  # `/apply --override-policy REASON`
    no_wait: bool = False  # `/apply --no-wait`: refuse on a lock held by another pull request, not wait in line

    def matches(self, project: str, stack: str) -> bool:
        """Whether a stack is selected by this command's `-p`/`-s` filters."""
        return (self.project in (None, project)) and (self.stack in (None, stack))


@dataclass(frozen=True, slots=True)
class Reply:
    """The comment addressed us but cannot run: answer with this text, once the commenter is
    known to hold the permission `verb` needs (None: a near miss of a command name)."""

    text: str
    verb: Verb | None = None


@dataclass(frozen=True, slots=True)
class Ignore:
    """The comment is not for us."""

    reason: str


Parsed = Command | Reply | Ignore

_FLAGS: dict[Verb, frozenset[str]] = {
    Verb.PREVIEW: frozenset({"project", "stack"}),
    Verb.APPLY: frozenset({"project", "stack", "override_policy", "no_wait"}),
    Verb.DESTROY: frozenset({"project", "stack", "confirm"}),
    Verb.UNLOCK: frozenset(),
    Verb.HELP: frozenset(),
}
_ALIASES = {
    "-p": "project",
    "--project": "project",
    "-s": "stack",
    "--stack": "stack",
    "--confirm": "confirm",
    "--override-policy": "override_policy",
    "--no-wait": "no_wait",
}
_SWITCHES = frozenset({"no_wait"})  # flags that take no value
MAX_REASON_CHARS = 200

HELP_TEXT = """\
**Shipmate commands** (comment on the pull request; one command per comment):

| command | what it does |
|---|---|
| `/preview [-p PROJECT] [-s STACK]` | preview the stacks this pull request changes (or the ones selected) |
| `/apply [-p PROJECT] [-s STACK] [--override-policy REASON] [--no-wait]` | apply them and record a Release; locks each project/workspace for this pull request (a stack another pull request holds: waits in line for it, or with `--no-wait` is refused); `--override-policy` applies stacks the repository's policies fail (needs `permissions.overridePolicy`, the reason is recorded) |
| `/destroy -p PROJECT -s STACK --confirm PROJECT/STACK` | delete everything the stack's latest Release holds |
| `/unlock` | release every lock this pull request holds |
| `/help` | show this list |

`-p/--project` and `-s/--stack` select stacks; without them a command covers every stack the
pull request changes. Edited comments are ignored: post a new comment to run a command."""


def text_of(command: Command) -> str:
    """The comment that asks for `command`, as the grammar reads it back."""
    words = [f"/{command.verb}"]
    if command.project:
        words += ["-p", command.project]
    if command.stack:
        words += ["-s", command.stack]
    if command.confirm:
        words += ["--confirm", command.confirm]
    if command.override_reason:
        words += ["--override-policy", shlex.quote(command.override_reason)]
    if command.no_wait:
        words.append("--no-wait")
    return " ".join(words)


def usage(verb: Verb) -> str:
    lines = {
        Verb.PREVIEW: "/preview [-p PROJECT] [-s STACK]",
        Verb.APPLY: '/apply [-p PROJECT] [-s STACK] [--override-policy "REASON"] [--no-wait]',
        Verb.DESTROY: "/destroy -p PROJECT -s STACK --confirm PROJECT/STACK",
        Verb.UNLOCK: "/unlock",
        Verb.HELP: "/help",
    }
    return f"Usage:\n```\n{lines[verb]}\n```"


def quote(text: str) -> str:
    """User text as inline code: backticks escaped, cut to `MAX_ECHO_CHARS`."""
    if len(text) > MAX_ECHO_CHARS:
        text = text[:MAX_ECHO_CHARS] + "…"
    return code(text)


def parse(body: str) -> Parsed:
    """Parse a comment body. Never raises: malformed input becomes a `Reply` or `Ignore`.

    Work is bounded by `MAX_COMMENT_CHARS` whatever the size of `body`."""
    if len(body) > MAX_COMMENT_CHARS:
        return Ignore(f"longer than {MAX_COMMENT_CHARS} characters: not a command")
    lines = [line.strip() for line in body.splitlines()]
    lines = [line.strip("`").strip() for line in lines if not _FENCE.fullmatch(line)]
    lines = [line for line in lines if line]
    if not lines or not lines[0].startswith("/"):
        return Ignore("not a command")
    if len(lines) > 1:
        return Ignore("a command must be the only line of its comment")
    try:
        words = shlex.split(lines[0])
    except ValueError as exc:
        verb = _verb(lines[0].split(maxsplit=1)[0][1:].lower())
        if verb is None:
            return Ignore("not a Shipmate command")
        return Reply(f"Could not read the command: {exc}.", verb)
    if not words:  # "/" followed by a quote only
        return Ignore("not a command")
    name = words[0][1:].lower()
    verb = _verb(name)
    if verb is None:
        close = (
            difflib.get_close_matches(name, [v.value for v in Verb], n=1, cutoff=0.6)
            if len(name) <= _MAX_SUGGEST_CHARS else []
        )
        if close:
            return Reply(f"Unknown command {quote('/' + name)}. Did you mean `/{close[0]}`?\n\n{HELP_TEXT}")
        return Ignore("not a Shipmate command")
    if verb is Verb.HELP or "-h" in words[1:] or "--help" in words[1:]:
        return Command(Verb.HELP) if verb is Verb.HELP else Reply(usage(verb), verb)
    return _parse_flags(verb, words[1:])


def _verb(name: str) -> Verb | None:
    try:
        return Verb(name)
    except ValueError:
        return None


def _parse_flags(verb: Verb, args: list[str]) -> Parsed:
    values: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        flag, eq, inline = arg.partition("=")
        key = _ALIASES.get(flag)
        if key is None or key not in _FLAGS[verb]:
            known = sorted(k for k, v in _ALIASES.items() if v in _FLAGS[verb])
            hint = difflib.get_close_matches(flag, known, n=1) if len(flag) <= _MAX_SUGGEST_CHARS else []
            extra = f" Did you mean `{hint[0]}`?" if hint else ""
            return Reply(f"`/{verb}` does not take {quote(arg)}.{extra}\n\n{usage(verb)}", verb)
        if key in _SWITCHES:
            if eq:
                return Reply(f"`{flag}` takes no value.\n\n{usage(verb)}", verb)
            values[key] = "yes"
            i += 1
            continue
        if eq:
            value = inline
            i += 1
        else:
            if i + 1 >= len(args):
                return Reply(f"`{flag}` needs a value.\n\n{usage(verb)}", verb)
            value = args[i + 1]
            i += 2
        if key == "override_policy":
            if not value.strip() or len(value) > MAX_REASON_CHARS or not value.isprintable():
                return Reply(f"`{flag}` needs a reason of one line, up to {MAX_REASON_CHARS} characters "
                             f'(quote it: `{flag} "the reason"`).\n\n{usage(verb)}', verb)
        elif not _valid_name(value, allow_slash=key == "confirm"):
            return Reply(f"{quote(value)} is not a valid value for `{flag}`.\n\n{usage(verb)}", verb)
        values[key] = value
    command = Command(verb, values.get("project"), values.get("stack"), values.get("confirm"),
                      values.get("override_policy", "").strip() or None, "no_wait" in values)
    if verb is Verb.DESTROY:
        if not command.project or not command.stack:
            return Reply(f"`/destroy` needs both `-p` and `-s`.\n\n{usage(verb)}", verb)
        expected = f"{command.project}/{command.stack}"
        if command.confirm != expected:
            return Reply(
                f"`/destroy` deletes everything in `{expected}`. To go ahead, add "
                f"`--confirm {expected}`.\n\n{usage(verb)}",
                verb,
            )
    return command


def _valid_name(value: str, *, allow_slash: bool) -> bool:
    if not value or value.startswith(("-", "~")) or ".." in value:
        return False
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    if allow_slash:
        allowed.add("/")
    return all(ch in allowed for ch in value)
