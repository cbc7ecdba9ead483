"""YAML in and out: located parsing of config files and deterministic dumping of Specs.

Reading uses ruamel.yaml's round-trip loader, so every mapping and sequence remembers the
line and column of its keys and items. `load` returns a `Document`: the plain Python data
(dicts, lists, str, int, float, bool, None) that the rest of the core works on, plus the
located tree, so a problem found later by field path (`modules.service.configs.default`)
can be reported at `file:line:col`.

Writing (`dump_yaml`, `dump_json`) is a small emitter of our own for plain data: block
style, two-space indentation, keys in the order given (callers canonicalise with
`canonical`), strings quoted only when a YAML 1.1 or 1.2 reader would otherwise read them as
something else. The output is valid YAML for PyYAML, ruamel.yaml and Go's yaml.v3, and the
same data always gives the same bytes. Nothing here touches files: text in, text out.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from bot.core.errors import ConfigError, Problem

PathElem = str | int
FieldPath = tuple[PathElem, ...]


@dataclass(frozen=True, slots=True)
class Document:
    """One parsed YAML file: plain `data` plus the located `tree` it came from."""

    file: str
    data: Any
    tree: Any

    def locate(self, path: Sequence[PathElem], at_key: bool = False) -> tuple[int, int]:
        """1-based (line, column) of the field at `path`.

        Points at the value (or, with `at_key`, at the key itself). A path that does not
        exist resolves to its deepest existing ancestor, which is where a missing field
        would have to be written.
        """
        return locate(self.tree, path, at_key)

    def problem(self, path: Sequence[PathElem], message: str, at_key: bool = False) -> Problem:
        line, col = self.locate(path, at_key)
        return Problem(self.file, line, col, format_path(path), message)


def load(file: str, text: str) -> Document:
    """Parse one YAML document; syntax errors raise ConfigError at the offending position."""
    try:
        tree = YAML(typ="rt").load(text)
    except YAMLError as exc:
        raise _syntax_error(file, exc) from None
    return Document(file=file, data=to_plain(tree), tree=tree)


def load_all(file: str, text: str) -> list[Document]:
    """Parse every document of a multi-document YAML stream (empty documents are skipped)."""
    try:
        trees = [t for t in YAML(typ="rt").load_all(text) if t is not None]
    except YAMLError as exc:
        raise _syntax_error(file, exc) from None
    return [Document(file=file, data=to_plain(t), tree=t) for t in trees]


def _syntax_error(file: str, exc: YAMLError) -> ConfigError:
    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        what = " ".join(p for p in (exc.problem, exc.context) if p) or "invalid YAML"
        duplicate = re.search(r'found duplicate key "([^"]*)"', str(exc))
        if duplicate:
            what = f'duplicate key "{duplicate.group(1)}"'
        return ConfigError([Problem(file, line, col, "", f"invalid YAML: {what}")])
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid YAML"
    return ConfigError([Problem(file, 1, 1, "", f"invalid YAML: {first}")])


def to_plain(node: Any) -> Any:
    """ruamel's round-trip values → plain dict/list/str/int/float/bool/None."""
    if isinstance(node, dict):
        return {_plain_key(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    if node is None or node is True or node is False:
        return node
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, TaggedScalar):
        return str(node.value)
    if isinstance(node, datetime.datetime | datetime.date):
        return node.isoformat()
    return node


def _plain_key(key: Any) -> Any:
    plain = to_plain(key)
    return plain if isinstance(plain, str | int | float | bool) or plain is None else str(plain)


def locate(tree: Any, path: Sequence[PathElem], at_key: bool = False) -> tuple[int, int]:
    """See `Document.locate`."""
    node = tree
    pos = _node_pos(tree) or (0, 0)
    for i, elem in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, CommentedMap) and elem in node:
            try:
                key_pos = node.lc.key(elem)
                value_pos = node.lc.value(elem)
            except (KeyError, TypeError):
                return pos[0] + 1, pos[1] + 1
            child = node[elem]
            if last:
                chosen = key_pos if at_key or child is None else (_node_pos(child) or value_pos)
                return chosen[0] + 1, chosen[1] + 1
            pos = _node_pos(child) or value_pos
            node = child
        elif isinstance(node, CommentedSeq) and isinstance(elem, int) and 0 <= elem < len(node):
            try:
                item_pos = node.lc.item(elem)
            except (KeyError, TypeError, IndexError):
                return pos[0] + 1, pos[1] + 1
            child = node[elem]
            pos = _node_pos(child) or item_pos
            if last:
                return pos[0] + 1, pos[1] + 1
            node = child
        else:
            break
    return pos[0] + 1, pos[1] + 1


def _node_pos(node: Any) -> tuple[int, int] | None:
    if isinstance(node, CommentedMap | CommentedSeq):
        lc = node.lc
        if lc.line is not None:
            return int(lc.line), int(lc.col)
    return None


_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_\-/]+$")


def format_path(path: Sequence[PathElem]) -> str:
    """`('modules', 'svc', 'configs', 0)` → `modules.svc.configs[0]`; odd keys are quoted."""
    out = ""
    for elem in path:
        if isinstance(elem, int):
            out += f"[{elem}]"
        elif _SIMPLE_KEY.match(elem):
            out += f".{elem}" if out else elem
        else:
            out += f"[{json.dumps(elem)}]"
    return out


# --- writing ---------------------------------------------------------------------------------


def canonical(data: Any) -> Any:
    """A deep copy of plain data with every mapping's keys sorted (by their string form)."""
    if isinstance(data, Mapping):
        return {k: canonical(data[k]) for k in sorted(data, key=_sort_key)}
    if isinstance(data, list | tuple):
        return [canonical(v) for v in data]
    return data


def _sort_key(key: Any) -> tuple[int, str]:
    return (0, key) if isinstance(key, str) else (1, str(key))


def dump_json(data: Any) -> str:
    """Pretty JSON with a trailing newline; keys in the order given."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def dump_yaml(data: Any) -> str:
    """Block-style YAML of plain data with a trailing newline; keys in the order given."""
    lines: list[str] = []
    if isinstance(data, Mapping) and data:
        _emit_map(data, 0, lines)
    elif isinstance(data, list | tuple) and data:
        _emit_seq(data, 0, lines)
    else:
        lines.append(_scalar(data))
    lines.append("")
    return "\n".join(lines)


def _emit_map(data: Mapping[Any, Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for key, value in data.items():
        k = _scalar(key)
        if isinstance(value, Mapping) and value:
            lines.append(f"{pad}{k}:")
            _emit_map(value, indent + 2, lines)
        elif isinstance(value, list | tuple) and value:
            lines.append(f"{pad}{k}:")
            _emit_seq(value, indent, lines)
        else:
            lines.append(f"{pad}{k}: {_scalar(value)}")


def _emit_seq(data: Sequence[Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for value in data:
        if isinstance(value, Mapping) and value:
            start = len(lines)
            _emit_map(value, indent + 2, lines)
            lines[start] = f"{pad}- {lines[start][indent + 2:]}"
        elif isinstance(value, list | tuple) and value:
            start = len(lines)
            _emit_seq(value, indent + 2, lines)
            lines[start] = f"{pad}- {lines[start][indent + 2:]}"
        else:
            lines.append(f"{pad}- {_scalar(value)}")


_STR_CACHE: dict[str, str] = {}
_PLAIN_OK = re.compile(r"^[A-Za-z_$/(][\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]*$")
# Characters a YAML reader refuses raw (or reads as line breaks) inside a double-quoted scalar.
_ESCAPE = re.compile("[^\x09\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")
_LOOKS_SPECIAL = re.compile(
    r"""^(?:
        ~|null|Null|NULL
      | y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF
      | [-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)
    )$""",
    re.X,
)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        cached = _STR_CACHE.get(value)
        if cached is None:
            cached = _quote(value)
            if len(_STR_CACHE) < 200_000:
                _STR_CACHE[value] = cached
        return cached
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list | tuple):
        return "[]"
    return _quote(str(value))


def _quote(s: str) -> str:
    if (
        _PLAIN_OK.match(s)
        and not _LOOKS_SPECIAL.match(s)
        and ": " not in s
        and " #" not in s
        and not s.endswith((" ", ":", "\t"))
    ):
        return s
    return _ESCAPE.sub(_escape_char, json.dumps(s, ensure_ascii=False))


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    if "." not in text and "e" in text:
        mantissa, exp = text.split("e")
        text = f"{mantissa}.0e{exp}"
    elif "." not in text:
        text += ".0"
    return text
