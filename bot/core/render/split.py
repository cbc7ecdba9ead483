"""Splitting a Markdown comment to fit a size limit (GitHub: 65,536 characters per comment).

Rules:

- Parts are cut between lines, never inside one. The one exception is a single line longer
  than a whole part can carry: it is cut and ends with `TRUNCATED` (`… [N characters cut]`),
  the only place where text is lost.
- Markdown stays well-formed in every part: a code fence or `<details>` block still open at a
  cut is closed at the end of the part and reopened (same fence, same summary marked
  "(continued)") at the start of the next one.
- A cut prefers the last point at top level (outside every fence and `<details>`), then the
  last point between two diff hunks (before a `@@ ` line), when that keeps the part at least
  half full, so resource diffs are seldom torn apart and a hunk never is.
- Every part starts with the hidden marker of the body (its first line, e.g.
  `<!-- shipmate:preview key=pr-7 -->`) extended with `part=i/n`, so the bot can find and
  update all of its parts, and, when there are several, with a visible "Part i of n" line.
- Lengths are counted in characters (Python code points).

`split_parts` returns the structure (head, carried lines, tail per part) so callers and tests
can check that the carried lines, joined, are exactly the original body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

GITHUB_LIMIT = 65_536
MIN_LIMIT = 512
_MARKER = re.compile(r"^<!-- shipmate:(?P<kind>[A-Za-z0-9_-]+)(?P<attrs>(?: [^\s=]+=\S*)*) -->$")
_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_DETAILS = re.compile(r"<details\b[^>]*>|</details\s*>", re.IGNORECASE)
_WIDE = 999_999  # a part number wider than any real one, to reserve room for the head


@dataclass(frozen=True, slots=True)
class Marker:
    """The hidden first line of a Shipmate comment: `<!-- shipmate:<kind> k=v ... -->`."""

    kind: str
    attrs: tuple[tuple[str, str], ...] = ()

    def line(self, **extra: str) -> str:
        merged = dict(self.attrs)
        merged.update(extra)
        body = "".join(f" {k}={v}" for k, v in merged.items())
        return f"<!-- shipmate:{self.kind}{body} -->"

    def get(self, key: str, default: str = "") -> str:
        return dict(self.attrs).get(key, default)


def make_marker(kind: str, attrs: Mapping[str, str]) -> Marker:
    clean = tuple((_token(k), _token(v)) for k, v in attrs.items())
    return Marker(_token(kind) or "comment", clean)


def _token(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_./:@#+-]", "_", str(text))


def parse_marker(text: str) -> Marker | None:
    """The marker on the first line of a comment body, or None if it is not ours."""
    first = text.split("\n", 1)[0].rstrip("\r")
    m = _MARKER.match(first)
    if m is None:
        return None
    attrs = tuple((k, v) for k, _, v in (item.partition("=") for item in m.group("attrs").split()))
    return Marker(m.group("kind"), attrs)


@dataclass(frozen=True, slots=True)
class _Open:
    """An open block: a fence (closer = its fence) or a details element (closer `</details>`)."""

    opener: str
    fence: str = ""

    @property
    def closer(self) -> str:
        return self.fence if self.fence else "</details>"

    def reopen(self) -> tuple[str, ...]:
        if self.fence:
            return (self.opener,)
        line = self.opener
        if "</summary>" in line and "(continued)" not in line:
            line = line.replace("</summary>", " (continued)</summary>", 1)
        return (line, "")


def _feed(stack: tuple[_Open, ...], line: str) -> tuple[_Open, ...]:
    if stack and stack[-1].fence:
        fence = stack[-1].fence
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if indent <= 3 and stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
            return stack[:-1]
        return stack
    m = _FENCE.match(line)
    if m and not (m.group("fence")[0] == "`" and "`" in m.group("info")):
        return (*stack, _Open(line, m.group("fence")))
    for tag in _DETAILS.finditer(line):
        if tag.group(0).startswith("</"):
            if stack and not stack[-1].fence:
                stack = stack[:-1]
        else:
            stack = (*stack, _Open(line))
    return stack


def _closers(stack: tuple[_Open, ...]) -> tuple[str, ...]:
    return tuple(o.closer for o in reversed(stack))


def _reopeners(stack: tuple[_Open, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for o in stack:
        out.extend(o.reopen())
    return tuple(out)


def _size(lines: tuple[str, ...] | list[str]) -> int:
    """Characters of the lines joined with newlines, plus one newline joining them to more."""
    return sum(len(line) + 1 for line in lines)


@dataclass(frozen=True, slots=True)
class Part:
    head: tuple[str, ...]
    lines: tuple[str, ...]
    tail: tuple[str, ...]
    truncated: bool = False

    def text(self) -> str:
        return "\n".join((*self.head, *self.lines, *self.tail))


TRUNCATED = " … [{n} characters cut]"


def split_parts(body: str, limit: int = GITHUB_LIMIT) -> list[Part]:
    if limit < MIN_LIMIT:
        raise ValueError(f"comment size limit {limit} is below the minimum of {MIN_LIMIT}")
    all_lines = body.split("\n")
    marker = parse_marker(body)
    lines = all_lines[1:] if marker is not None else all_lines
    marker = marker or Marker("comment")

    single = Part((marker.line(part="1/1"),), tuple(lines), ())
    if len(single.text()) <= limit:
        return [single]

    def head_for(i: int, n: int) -> tuple[str, ...]:
        return (marker.line(part=f"{i}/{n}"), f"**Part {i} of {n}**", "")

    fixed = _size(head_for(_WIDE, _WIDE))
    chunks: list[tuple[tuple[_Open, ...], list[str], tuple[_Open, ...], bool]] = []
    state: tuple[_Open, ...] = ()
    i = 0
    while i < len(lines):
        start = state
        used = fixed + _size(_reopeners(start))
        cur: list[str] = []
        st = start
        truncated = False
        # Places to cut before overflowing: at top level, or between two diff hunks.
        top: tuple[int, int, tuple[_Open, ...], int] | None = None
        hunk: tuple[int, int, tuple[_Open, ...], int] | None = None
        while i < len(lines):
            line = lines[i]
            nxt = _feed(st, line)
            # The last line of a part has no newline after it; `_size` counts one: slack.
            if used + len(line) + 1 + _size(_closers(nxt)) <= limit + 1:
                cur.append(line)
                used += len(line) + 1
                st = nxt
                i += 1
                if not st:
                    top = (len(cur), i, st, used)
                elif st[-1].fence and i < len(lines) and lines[i].startswith("@@ "):
                    hunk = (len(cur), i, st, used)
                continue
            if not cur:
                cut, st = _fit(line, st, limit + 1 - used - 1)
                cur.append(cut)
                used += len(cut) + 1
                truncated = True
                i += 1
                break
            half = fixed + (limit - fixed) // 2
            for point in (top, hunk):
                if point is not None and point[0] < len(cur) and point[3] >= half:
                    cur = cur[: point[0]]
                    i, st = point[1], point[2]
                    break
            break
        chunks.append((start, cur, st, truncated))
        state = st

    n = len(chunks)
    parts = []
    for idx, (start, cur, end, truncated) in enumerate(chunks, 1):
        head = head_for(idx, n) + _reopeners(start)
        parts.append(Part(head, tuple(cur), _closers(end), truncated))
    return parts


def _fit(line: str, st: tuple[_Open, ...], budget: int) -> tuple[str, tuple[_Open, ...]]:
    """The longest cut of `line` that, with the closers it leaves open, fits in `budget`."""
    closers = _size(_closers(_feed(st, line)))
    for _ in range(8):
        cut = _truncate(line, budget - closers)
        after = _feed(st, cut)
        need = _size(_closers(after))
        if need <= closers:
            return cut, after
        closers = need
    return cut, after


def _truncate(line: str, room: int) -> str:
    note = TRUNCATED.format(n=len(line))
    # Reserve enough for the note with the final count, which is never longer than len(line).
    keep = max(room - len(note), 0)
    return line[:keep] + TRUNCATED.format(n=len(line) - keep)


def split_markdown(body: str, limit: int = GITHUB_LIMIT) -> list[str]:
    """`body` as one or more comment bodies of at most `limit` characters (see module doc)."""
    return [p.text() for p in split_parts(body, limit)]
