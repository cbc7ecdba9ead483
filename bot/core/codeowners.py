"""Who owns which paths: a CODEOWNERS file, read and matched as GitHub does.

GitHub looks for the file in `.github/CODEOWNERS`, then `CODEOWNERS`, then
`docs/CODEOWNERS` (`LOCATIONS`), and uses the first it finds. Each line is a pattern followed
by owners (`@login`, `@org/team` or an e-mail address); `#` starts a comment; blank lines are
skipped. For a path, the LAST matching line wins, and a matching line with no owners leaves
the path without owners.

Patterns are gitignore's, with GitHub's exceptions (no `!` negation, no `[ ]` ranges; `\\#`
for a pattern that starts with `#`):

- `*` matches within one path segment, `?` one character but `/`, `**` any number of segments
  (`**/logs`, `logs/**`, `a/**/b`);
- a pattern with a `/` at the start or in the middle is anchored at the repository's root;
  otherwise it matches at any depth (`*.yaml`, `apps/`);
- a pattern that matches a directory owns everything below it; a trailing `/` matches
  directories only (`apps/` owns `x/apps/y` but not a file named `apps`); GitHub's one
  exception: a last segment `*` (`docs/*`) owns the directory's files, not its subdirectories'.

Lines that cannot be read (a bad owner, an unsupported pattern) are skipped, as GitHub skips
them, and listed in `CodeOwners.errors` with their line numbers.

`unmet` decides the requirement `code_owners` (bot.core.policy): each group of owners a
changed path has needs an approval from one of them; a team counts through the members the
caller read from the code host (`members`; a team it could not read has none).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")

_LOGIN = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"
_OWNER = re.compile(rf"^@{_LOGIN}(?:/[A-Za-z0-9._-]+)?$|^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class Rule:
    """One line: its pattern, its owners (maybe none) and where it was written."""

    pattern: str
    owners: tuple[str, ...]
    line: int
    regex: re.Pattern[str]

    def matches(self, path: str) -> bool:
        return self.regex.fullmatch(path.strip("/")) is not None


@dataclass(frozen=True, slots=True)
class CodeOwners:
    """A parsed CODEOWNERS file (`file` is where it was found; empty: there was none)."""

    file: str = ""
    rules: tuple[Rule, ...] = ()
    errors: tuple[str, ...] = ()

    def owners_of(self, path: str) -> tuple[str, ...]:
        """The owners of `path` (repository-relative): the last matching line's, else none."""
        for rule in reversed(self.rules):
            if rule.matches(path):
                return rule.owners
        return ()

    def groups(self, paths: Iterable[str]) -> tuple[tuple[str, ...], ...]:
        """The distinct groups of owners of `paths` (paths without owners need no one), sorted."""
        return tuple(sorted({owners for owners in map(self.owners_of, paths) if owners}))


def parse(file: str, text: str) -> CodeOwners:
    """Read a CODEOWNERS file's text; unreadable lines are skipped and reported."""
    rules: list[Rule] = []
    errors: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        tokens = _tokens(raw)
        if not tokens:
            continue
        pattern, owners = tokens[0], tuple(tokens[1:])
        problem = _pattern_problem(pattern) or next(
            (f"{owner!r} is not a @login, @org/team or e-mail address" for owner in owners
             if not _OWNER.match(owner)), None)
        if problem is not None:
            errors.append(f"{file}:{number}: {problem}")
            continue
        rules.append(Rule(pattern, owners, number, re.compile(translate(pattern))))
    return CodeOwners(file, tuple(rules), tuple(errors))


def find(read: Mapping[str, str | None]) -> CodeOwners:
    """The first CODEOWNERS of `LOCATIONS` that `read` holds (path -> text or None)."""
    for location in LOCATIONS:
        text = read.get(location)
        if text is not None:
            return parse(location, text)
    return CodeOwners()


def translate(pattern: str) -> str:
    """A CODEOWNERS pattern as a regular expression over a path without leading `/`."""
    directory_only = pattern.endswith("/") and pattern != "/"
    body = pattern.rstrip("/") if directory_only else pattern
    anchored = body.startswith("/") or "/" in body
    body = body.lstrip("/")
    out: list[str] = []
    i = 0
    while i < len(body):
        if body.startswith("**/", i) and (i == 0 or body[i - 1] == "/"):
            out.append("(?:.*/)?")
            i += 3
        elif body.startswith("**", i) and i + 2 == len(body) and (i == 0 or body[i - 1] == "/"):
            out.append(".*")
            i += 2
        elif body[i] == "*":
            out.append("[^/]*")
            i += 1
        elif body[i] == "?":
            out.append("[^/]")
            i += 1
        elif body[i] == "\\" and i + 1 < len(body):
            out.append(re.escape(body[i + 1]))
            i += 2
        else:
            out.append(re.escape(body[i]))
            i += 1
    prefix = "" if anchored else "(?:.*/)?"
    if directory_only:
        suffix = "/.*"
    elif body == "*" or body.endswith("/*"):
        suffix = ""  # GitHub: `docs/*` owns docs' files, not those of its subdirectories
    else:
        suffix = "(?:/.*)?"
    return prefix + "".join(out) + suffix


def unmet(groups: Sequence[tuple[str, ...]], approvers: Iterable[str],
          members: Mapping[str, Iterable[str]] | None = None) -> tuple[tuple[str, ...], ...]:
    """The groups of owners none of whom approved: an owner `@login` approves as that login
    (case-insensitive), a team `@org/team` through any of its `members`; an e-mail owner
    cannot be told from a login and never counts."""
    who = {login.lower() for login in approvers}
    teams = {team.lower(): {m.lower() for m in logins} for team, logins in (members or {}).items()}

    def approved(owner: str) -> bool:
        if not owner.startswith("@"):
            return False
        name = owner[1:].lower()
        return name in who if "/" not in name else bool(teams.get(name, set()) & who)

    return tuple(group for group in groups if not any(approved(owner) for owner in group))


def teams_in(groups: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    """The `org/team` names the groups hold (their members are the code host's to say)."""
    return tuple(sorted({o[1:] for g in groups for o in g if o.startswith("@") and "/" in o}))


def _tokens(line: str) -> list[str]:
    """The line's words before any comment (`\\#` and `\\ ` keep their character)."""
    words: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line):
            current.append(line[i:i + 2])
            i += 2
            continue
        if ch == "#" and not current:
            break
        if ch.isspace():
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(ch)
        i += 1
    if current:
        words.append("".join(current))
    return words


def _pattern_problem(pattern: str) -> str | None:
    if pattern.startswith("!"):
        return f"{pattern!r}: negated patterns (!) are not supported in CODEOWNERS"
    if re.search(r"(?<!\\)\[", pattern):
        return f"{pattern!r}: character ranges ([ ]) are not supported in CODEOWNERS"
    return None
