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

Every YAML text Shipmate reads goes through this module, and all of it is untrusted (a pull
request writes the config; anyone who can push writes the state branch). Before anything is
composed or constructed, the event stream is checked against `Limits`: the text's size,
the nesting depth, the number of aliases, the number of nodes counted with every alias
expanded (so a "billion laughs" alias bomb is refused after a few hundred events, in a few
kilobytes of memory), recursive aliases, and integer literals too long to convert. A text
over a limit raises `ConfigError` at the `file:line:col` of the event that crossed it. The
check runs on the parser's event stream, which neither recurses nor expands aliases, so it
is linear in the text and stops at the first violation; what survives it is small and
shallow enough for the recursive composers and constructors of ruamel.yaml and PyYAML.
`load`/`load_all` (config files: ruamel's round trip, YAML 1.2, located) and `load_data`
(state-branch files and other plain data: PyYAML's safe loader, libyaml when present) are
the only YAML readers in Shipmate, and `dump_yaml` (generated files) and `dump_data`
(state-branch files) the only writers.

Why PyYAML is still here, next to ruamel.yaml: ruamel has no C parser in this install, and
its pure-Python one is what the limits must protect, so the event pre-scan runs on libyaml
through PyYAML. State-branch files (releases, `.metadata.yml`, locks, drift reports) are
read and written with PyYAML's libyaml loader and dumper too: existing state branches hold
PyYAML's YAML 1.1 output (`'yes'` quoted, multi-line strings single-quoted and folded), which
ruamel's YAML 1.2 emitter does not reproduce byte for byte, and ruamel's pure-Python dumper
is about five times slower on large states. No other module imports PyYAML.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

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


@dataclass(frozen=True, slots=True)
class Limits:
    """What one YAML text may hold. Node counts include every alias expanded."""

    max_chars: int = 4 * 1024 * 1024
    max_depth: int = 100
    max_nodes: int = 500_000
    max_aliases: int = 5_000
    max_number_chars: int = 100


# Config files: main.yaml, workspaces, projects, stacks, manifests, shipmate.yaml.
CONFIG_LIMITS = Limits()
# Files Shipmate writes itself (releases, indexes, locks): larger, never aliased.
DATA_LIMITS = Limits(max_chars=256 * 1024 * 1024, max_depth=128, max_nodes=50_000_000, max_aliases=1_000)

_DataLoader: Any = getattr(pyyaml, "CSafeLoader", pyyaml.SafeLoader)


class _DataDumper(getattr(pyyaml, "CSafeDumper", pyyaml.SafeDumper)):  # type: ignore[misc]
    """Safe dumper that writes shared values in full (no `&anchors`): files are for people."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

# The standard tags, each on the kind of node it can build (a mismatch, `!!set abc`, breaks
# the constructors in ways of their own); no other `!!` tag is accepted.
_YAML_TAG = "tag:yaml.org,2002:"
_TAGS_FOR = {
    "ScalarEvent": frozenset({"str", "int", "float", "bool", "null", "binary", "timestamp"}),
    "SequenceStartEvent": frozenset({"seq", "omap", "pairs"}),
    "MappingStartEvent": frozenset({"map", "set"}),
}

# A plain scalar that a YAML 1.1 or 1.2 resolver may turn into an integer.
_INTEGER_LIKE = re.compile(r"[-+]?(?:0[xXoObB])?[0-9a-fA-F_]+")


def check_limits(file: str, events: Any, limits: Limits = CONFIG_LIMITS) -> None:
    """Walk a parser's event stream (ruamel.yaml's or PyYAML's) and raise ConfigError at the
    first event that crosses `limits`. Consumes the events; never builds nodes."""
    depth = 0
    nodes = 0
    aliases = 0
    anchors: dict[str, int] = {}  # anchor → expanded size of its node, once closed
    open_: list[tuple[str | None, int]] = []  # (anchor, node count when it opened)
    for event in events:
        kind = type(event).__name__
        tag = getattr(event, "tag", None)
        if tag and tag.startswith(_YAML_TAG) and tag[len(_YAML_TAG):] not in _TAGS_FOR.get(kind, ()):
            raise _limit(file, event, f"the tag !!{tag[len(_YAML_TAG):]} cannot be used here")
        if kind in ("MappingStartEvent", "SequenceStartEvent"):
            depth += 1
            if depth > limits.max_depth:
                raise _limit(file, event, f"nested deeper than {limits.max_depth} levels")
            open_.append((_anchor(event), nodes))
            nodes += 1
        elif kind in ("MappingEndEvent", "SequenceEndEvent"):
            depth -= 1
            anchor, opened = open_.pop()
            if anchor is not None:
                anchors[anchor] = nodes - opened
        elif kind == "ScalarEvent":
            nodes += 1
            anchor = _anchor(event)
            if anchor is not None:
                anchors[anchor] = 1
            value = event.value
            if (
                len(value) > limits.max_number_chars
                and isinstance(event.implicit, tuple) and event.implicit[0]
                and _INTEGER_LIKE.fullmatch(value)
            ):
                raise _limit(file, event, f"a number literal longer than {limits.max_number_chars} characters")
        elif kind == "AliasEvent":
            aliases += 1
            if aliases > limits.max_aliases:
                raise _limit(file, event, f"more than {limits.max_aliases} aliases")
            name = _anchor(event)
            if name is not None and any(a == name for a, _ in open_):
                raise _limit(file, event, f"alias *{name} refers to a node that contains it")
            nodes += anchors.get(name or "", 1)
        elif kind == "DocumentStartEvent":
            anchors.clear()
        if nodes > limits.max_nodes:
            raise _limit(file, event, f"more than {limits.max_nodes} nodes with aliases expanded")


def _anchor(event: Any) -> str | None:
    anchor = getattr(event, "anchor", None)
    if anchor is None:
        return None
    return str(getattr(anchor, "value", anchor))


def _limit(file: str, event: Any, what: str) -> ConfigError:
    mark = event.start_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    return ConfigError([Problem(file, line, col, "", f"YAML refused: {what}")])


def _check_size(file: str, text: str, limits: Limits) -> None:
    if len(text) > limits.max_chars:
        raise ConfigError([Problem(file, 1, 1, "", f"YAML refused: longer than {limits.max_chars} characters")])


def _checked(file: str, text: str, limits: Limits) -> None:
    """Size and event-stream limits, checked with libyaml's parser (C, fast, itself capped at
    1,000 levels) before ruamel.yaml, whose scanner slows down with the square of the flow
    nesting, sees the text. When libyaml finds a syntax error, ruamel reads the text only up
    to a little past that point (when that part is shallow), to report the error in its own
    words."""
    _check_size(file, text, limits)
    try:
        check_limits(file, pyyaml.parse(text, Loader=_DataLoader), limits)
    except pyyaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line, mark.column) if mark is not None else (0, 0)
        if "maximum nesting depth" in str(exc.problem):
            raise ConfigError([Problem(file, line + 1, col + 1, "", f"YAML refused: nested deeper than {limits.max_depth} levels")]) from None
        start = sum(len(row) for row in text.splitlines(keepends=True)[:line])
        head = text[: start + col + 200]
        # libyaml's scanner looks ahead of the events checked, so the head may nest deeper
        # than the limit; it cannot nest deeper than it has opening brackets.
        if head.count("[") + head.count("{") <= limits.max_depth:
            try:
                for _ in YAML(typ="rt").parse(head):
                    pass
            except YAMLError as ruamel_exc:
                raise _syntax_error(file, ruamel_exc) from None
        what = " ".join(p for p in (exc.problem, exc.context) if p) or "syntax error"
        raise ConfigError([Problem(file, line + 1, col + 1, "", f"invalid YAML: {what}")]) from None
    except pyyaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "syntax error"
        raise ConfigError([Problem(file, 1, 1, "", f"invalid YAML: {first}")]) from None


def load(file: str, text: str, limits: Limits = CONFIG_LIMITS) -> Document:
    """Parse one YAML document within `limits`; syntax errors and limits raise ConfigError at
    the offending position."""
    _checked(file, text, limits)
    try:
        tree = YAML(typ="rt").load(text)
    except YAMLError as exc:
        raise _syntax_error(file, exc) from None
    except Exception as exc:  # noqa: BLE001 - the constructors fail in many ways on odd values
        raise _construct_error(file, text, exc) from None
    return Document(file=file, data=to_plain(tree), tree=tree)


def load_all(file: str, text: str, limits: Limits = CONFIG_LIMITS) -> list[Document]:
    """Parse every document of a multi-document YAML stream (empty documents are skipped).
    The limits apply to the whole stream."""
    _checked(file, text, limits)
    try:
        trees = [t for t in YAML(typ="rt").load_all(text) if t is not None]
    except YAMLError as exc:
        raise _syntax_error(file, exc) from None
    except Exception as exc:  # noqa: BLE001 - the constructors fail in many ways on odd values
        raise _construct_error(file, text, exc) from None
    return [Document(file=file, data=to_plain(t), tree=t) for t in trees]


def load_data(file: str, text: str, limits: Limits = DATA_LIMITS, invalid: str = "invalid YAML") -> Any:
    """Plain data from one YAML document (YAML 1.1, PyYAML's safe loader, libyaml when
    present), within `limits`. Any failure raises ConfigError at `file:line:col`, its message
    starting with `invalid`."""
    _check_size(file, text, limits)
    try:
        check_limits(file, pyyaml.parse(text, Loader=_DataLoader), limits)
        return pyyaml.load(text, Loader=_DataLoader)
    except ConfigError:
        raise
    except pyyaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = f"{invalid}: {exc.problem or exc}"
        if "maximum nesting depth" in str(exc.problem):
            what = f"YAML refused: nested deeper than {limits.max_depth} levels"
        raise ConfigError([Problem(file, line, column, "", what)]) from None
    except Exception as exc:  # noqa: BLE001 - YAMLError, and the constructors' own failures
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError([Problem(file, 1, 1, "", f"{invalid}: {first}")]) from None


def dump_data(data: Any) -> str:
    """State-branch YAML (what `load_data` reads back): block style, keys sorted, no anchors,
    no line folding; the same data always gives the same text, and the text is the one
    existing state branches already hold."""
    text: str = pyyaml.dump(
        data,
        Dumper=_DataDumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 30,
    )
    return text


def locate_data(text: str, path: Sequence[PathElem], at_key: bool = False) -> tuple[int, int]:
    """1-based (line, column) of the field at `path` in a text `load_data` accepted, as
    `Document.locate` gives it for config files; (0, 0) when the text does not compose.
    Composes the text again with libyaml, so it is for the error path only."""
    try:
        node: Any = pyyaml.compose(text, Loader=_DataLoader)
    except Exception:  # noqa: BLE001 - the position is a nicety; the error stands without it
        return 0, 0
    if node is None:
        return 0, 0
    mark = node.start_mark
    for i, elem in enumerate(path):
        child: Any = None
        if isinstance(node, pyyaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, pyyaml.ScalarNode) and key.value == str(elem):
                    child = (key, value)
                    break
        elif isinstance(node, pyyaml.SequenceNode) and isinstance(elem, int) and 0 <= elem < len(node.value):
            child = (node.value[elem], node.value[elem])
        if child is None:
            break
        key, node = child
        mark = key.start_mark if at_key and i == len(path) - 1 else node.start_mark
    return mark.line + 1, mark.column + 1


def _construct_error(file: str, text: str, exc: Exception) -> ConfigError:
    """A scalar that parsed but cannot be built (`2001-13-45`, `!!int abc`): find which, by
    building the composed scalars one at a time (the text already passed `check_limits`)."""
    reader = YAML(typ="rt")
    line, col = 1, 1
    try:
        stack: list[Any] = list(reader.compose_all(text))
        seen: set[int] = set()
        while stack:
            node = stack.pop()
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, ScalarNode):
                try:
                    reader.constructor.construct_object(node, deep=True)
                except Exception:  # noqa: BLE001 - as in `load`
                    line, col = node.start_mark.line + 1, node.start_mark.column + 1
                    break
            elif isinstance(node, SequenceNode):
                stack.extend(reversed(node.value))
            elif isinstance(node, MappingNode):
                for key, value in reversed(node.value):
                    stack.extend((value, key))
    except Exception:  # noqa: BLE001 - the position is a nicety; the error stands without it
        pass
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ConfigError([Problem(file, line, col, "", f"invalid YAML: cannot read this value: {first}")])


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
    if isinstance(node, AbstractSet):  # `!!set`
        return [_plain_key(k) for k in node]
    return str(node)  # `!!binary` bytes and anything else a tag made: text, never an object


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
_PLAIN_OK = re.compile(r"^[A-Za-z_$/(][\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]*\Z")  # \Z: `$` also matches before a final newline
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
