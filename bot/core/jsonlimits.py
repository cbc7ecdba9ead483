"""Bounded JSON decoding for untrusted text: webhook bodies, however they are signed.

Python's `json` raises `RecursionError` on deep nesting and `ValueError` on an integer of
more than 4,300 digits, and accepts `NaN` and `Infinity`; none of that may reach a caller as
anything but a refusal with a reason. `loads` decodes with an integer hook that refuses long
literals before converting them, turns the decoder's own recursion guard into a refusal,
bounds the number of objects and arrays before decoding, and checks the depth of what it
built (iteratively) against `max_depth`. Every failure is a
`JSONRefused` (a `ValueError`) whose message says why.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote_to_bytes

MAX_DEPTH = 64  # GitHub's payloads nest about 8 deep
MAX_INT_DIGITS = 40  # GitHub's ids are 64-bit
MAX_CONTAINERS = 100_000  # objects and arrays: GitHub's payloads hold a few hundred


class JSONRefused(ValueError):
    """The text is not JSON Shipmate accepts; the message says why."""


def loads(
    data: bytes | str,
    max_depth: int = MAX_DEPTH,
    max_int_digits: int = MAX_INT_DIGITS,
    max_containers: int = MAX_CONTAINERS,
) -> Any:
    """Decode JSON within the limits, or raise `JSONRefused`.

    Before decoding, the `{` and `[` characters are counted (an upper bound on the objects
    and arrays the text can build), so a body of `[{},{},...]` cannot cost a hundred times
    its size in memory."""
    containers = data.count("{") + data.count("[") if isinstance(data, str) else data.count(b"{") + data.count(b"[")
    if containers > max_containers:
        raise JSONRefused(f"more than {max_containers} objects and arrays")

    def integer(text: str) -> int:
        if len(text.lstrip("-")) > max_int_digits:
            raise JSONRefused(f"an integer of more than {max_int_digits} digits")
        return int(text)

    def constant(name: str) -> Any:
        raise JSONRefused(f"{name} is not a JSON value")

    try:
        value = json.loads(data, parse_int=integer, parse_constant=constant)
    except JSONRefused:
        raise
    except RecursionError:
        raise JSONRefused(f"nested deeper than {max_depth} levels") from None
    except UnicodeDecodeError as exc:
        raise JSONRefused(f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except ValueError as exc:  # json.JSONDecodeError among them
        raise JSONRefused(f"not valid JSON: {exc}") from None
    if _deeper_than(value, max_depth):
        raise JSONRefused(f"nested deeper than {max_depth} levels")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def form_field(body: bytes, name: str) -> bytes | None:
    """The first `name` field of an `application/x-www-form-urlencoded` body, decoded, or None.

    `urllib.parse.parse_qs` costs some seventy times the size of a long percent-encoded value
    in memory (a string per escape); this finds the field with one regular expression and
    decodes it in 64 KiB pieces, so the cost stays about the size of the value."""
    match = re.search(rb"(?:^|&)" + re.escape(name.encode()) + rb"=([^&]*)", body)
    if match is None:
        return None
    value = match.group(1).replace(b"+", b" ")
    out = bytearray()
    pos = 0
    while pos < len(value):
        end = min(pos + 65536, len(value))
        if end < len(value):
            cut = value.rfind(b"%", end - 2, end)  # never split a %XX escape
            if cut > pos:
                end = cut
        out += unquote_to_bytes(value[pos:end])
        pos = end
    return bytes(out)
