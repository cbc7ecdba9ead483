"""YAML in and out: located parsing of config files and deterministic dumping of Specs.

Reading config files has two readers with one meaning (YAML 1.2's core schema, as
ruamel.yaml's round-trip loader reads it). `load` returns a `Document`: the plain Python data
(dicts, lists, str, int, float, bool, None) that the rest of the core works on, plus the
located tree (ruamel's round trip, where every mapping and sequence remembers the line and
column of its keys and items), so a problem found later by field path
(`modules.service.configs.default`) can be reported at `file:line:col`. A plain file is read
by the fast reader (libyaml's parser and a builder of plain data, see "the fast path"
below), and its located tree is parsed only when a position is asked for; anything else -
errors, limits, tags, anchors - is read the located way from the start, so every message
stays the located reader's.

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
through PyYAML; and libyaml reads a plain config file about eight times faster than ruamel,
so the fast reader parses with it (generate of 1,000 apps: 0.43 s instead of 2.4 s). State-branch files (releases, `.metadata.yml`, locks, drift reports) are
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
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
from ruamel.yaml.resolver import implicit_resolvers as _ruamel_implicit

from bot.core.errors import ConfigError, Problem

PathElem = str | int
FieldPath = tuple[PathElem, ...]


@dataclass(frozen=True, eq=False)
class Document:
    """One parsed YAML document: plain `data` plus the located `tree` it came from.

    The located tree is ruamel.yaml's round-trip parse of `text` (the `index`th document of
    it). Texts read on the fast path (see `load`) are parsed that way only when a position is
    first asked for, which happens on the error path."""

    file: str
    data: Any
    text: str = field(default="", repr=False)
    index: int = 0

    @cached_property
    def tree(self) -> Any:
        try:
            trees = [t for t in YAML(typ="rt").load_all(self.text) if t is not None]
        except Exception:  # noqa: BLE001 - a position is a nicety; the error stands without it
            return None
        return trees[self.index] if self.index < len(trees) else None

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
    fast = _fast(text, limits, single=True)
    if fast is not None:
        return Document(file=file, data=fast[0], text=text)
    return load_located(file, text, limits, single=True)[0]


def load_all(file: str, text: str, limits: Limits = CONFIG_LIMITS) -> list[Document]:
    """Parse every document of a multi-document YAML stream (empty documents are skipped).
    The limits apply to the whole stream."""
    fast = _fast(text, limits, single=False)
    if fast is not None:
        return [Document(file=file, data=d, text=text, index=i) for i, d in enumerate(fast)]
    return load_located(file, text, limits, single=False)


def load_located(file: str, text: str, limits: Limits = CONFIG_LIMITS, single: bool = True) -> list[Document]:
    """What `load` (`single`) or `load_all` read, always the located way: the limits checked
    on the event stream, then ruamel.yaml's round-trip loader. `load` and `load_all` come here
    when the fast reader gives up; the tests compare the two."""
    _checked(file, text, limits)
    try:
        yaml = YAML(typ="rt")
        trees = [yaml.load(text)] if single else [t for t in yaml.load_all(text) if t is not None]
    except YAMLError as exc:
        raise _syntax_error(file, exc) from None
    except Exception as exc:  # noqa: BLE001 - the constructors fail in many ways on odd values
        raise _construct_error(file, text, exc) from None
    return [_located(Document(file=file, data=to_plain(t), text=text, index=i), t) for i, t in enumerate(trees)]


def _located(doc: Document, tree: Any) -> Document:
    doc.__dict__["tree"] = tree  # already parsed: the cached property's value
    return doc


# --- the fast path -----------------------------------------------------------------------------
#
# Most config files are plain: mappings, sequences, strings, simple numbers and booleans, no
# tags, anchors or directives. Those are read with libyaml's parser (PyYAML's `CParser`) and a
# small builder of plain data that applies YAML 1.2's core schema exactly as ruamel.yaml's
# round-trip loader does (its own resolver table, `ruamel.yaml.resolver.implicit_resolvers`,
# decides what is not a string), about eight times faster than ruamel's pure-Python parser.
# Anything the builder is not sure of gives up (`_Fallback`) and the text is read the located
# way above, which then says exactly what it says today: a syntax error, a limit crossed, a
# tag, an anchor or alias, a merge key, a duplicate key, a timestamp, a number written with
# `_`, `0o`, `0x` or leading zeros, a `%YAML` directive, a non-scalar key. Reading with the
# same limits: nodes are counted, depth checked, long integer-like literals sent back.
# A test compares both readers on the project's fixtures and on generated texts.


class _Fallback(Exception):
    """The fast reader cannot vouch for this text; read it the located way."""


_STR, _INT, _FLOAT, _BOOL, _NULL, _MAP, _SEQ = (
    "shipmate:str", "shipmate:int", "shipmate:float", "shipmate:bool", "shipmate:null",
    "shipmate:map", "shipmate:seq",
)
_RUAMEL_TAGS = {
    "tag:yaml.org,2002:bool": _BOOL, "tag:yaml.org,2002:int": _INT,
    "tag:yaml.org,2002:float": _FLOAT, "tag:yaml.org,2002:null": _NULL,
}
_IMPLICIT_12: dict[str, list[tuple[str | None, Any]]] = {}
for _versions, _tag, _regexp, _first in _ruamel_implicit:
    if (1, 2) in _versions:
        for _char in _first:
            _IMPLICIT_12.setdefault(_char, []).append((_RUAMEL_TAGS.get(str(_tag)), _regexp))
_SIMPLE_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_SIMPLE_FLOAT = re.compile(
    r"[-+]?(?:[0-9]+\.[0-9]*(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+|\.[0-9]+(?:[eE][-+][0-9]+)?"
    r"|\.(?:inf|Inf|INF))|\.(?:nan|NaN|NAN)"
)


try:
    from yaml import cyaml

    _CParser: Any = getattr(cyaml, "CParser")  # noqa: B009 - not in the stubs' exports
except ImportError:  # PyYAML built without libyaml: the located reader reads everything
    _CParser = None
_FAST = _CParser is not None


class _FastParser(_CParser or object):  # type: ignore[misc]
    """libyaml's composer, resolving with YAML 1.2's core schema into private tags (so an
    explicit tag, which skips the resolver, is never mistaken for one it chose)."""

    def __init__(self, text: str, limits: Limits) -> None:
        super().__init__(text)
        self.limits = limits
        self.nodes = 0

    def descend_resolver(self, parent: Any, index: Any) -> None:
        """No path resolvers."""

    def ascend_resolver(self) -> None:
        """No path resolvers."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise _Fallback
        if kind is pyyaml.ScalarNode:
            if implicit[0]:
                return self._plain(value)
            if implicit[1]:
                return _STR
            raise _Fallback  # the non-specific tag `!`
        if not implicit:
            raise _Fallback
        return _MAP if kind is pyyaml.MappingNode else _SEQ

    def _plain(self, value: str) -> str:
        if len(value) > self.limits.max_number_chars and _INTEGER_LIKE.fullmatch(value):
            raise _Fallback
        if not value:
            return _NULL
        for tag, regexp in _IMPLICIT_12.get(value[0], ()):
            if regexp.match(value):
                if tag is _INT and _SIMPLE_INT.fullmatch(value):
                    return _INT
                if tag is _FLOAT and _SIMPLE_FLOAT.fullmatch(value):
                    return _FLOAT
                if tag is _BOOL or tag is _NULL:
                    return tag
                raise _Fallback
        return _STR


def _fast(text: str, limits: Limits, single: bool) -> list[Any] | None:
    """The plain data of `text`'s documents (empty ones skipped), or None when the located
    reader must decide."""
    if not _FAST or len(text) > limits.max_chars or text.startswith("%") or "\n%" in text:
        return None
    parser = _FastParser(text, limits)
    try:
        roots: list[Any] = []
        if single:
            node = parser.get_single_node()
            roots = [] if node is None else [node]
        else:
            while parser.check_node():
                roots.append(parser.get_node())
        shared = "&" in text
        out = []
        for root in roots:
            data = _build(root, 0, limits.max_depth, set() if shared else None)
            if data is not None or single:
                out.append(data)
        return out if out or not single else [None]
    except (_Fallback, pyyaml.YAMLError, RecursionError, ValueError):
        return None
    finally:
        parser.dispose()


def _build(node: Any, depth: int, max_depth: int, seen: set[int] | None) -> Any:
    if seen is not None:
        if id(node) in seen:
            raise _Fallback  # an alias
        seen.add(id(node))
    tag = node.tag
    if tag is _STR or tag == _STR:
        return node.value
    if depth >= max_depth:
        raise _Fallback
    if tag == _MAP:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if type(key_node) is not pyyaml.ScalarNode:
                raise _Fallback
            key = _build(key_node, depth + 1, max_depth, seen)
            if key in out:
                raise _Fallback
            out[key] = _build(value_node, depth + 1, max_depth, seen)
        return out
    if tag == _SEQ:
        return [_build(item, depth + 1, max_depth, seen) for item in node.value]
    value = node.value
    if tag == _INT:
        return int(value)
    if tag == _FLOAT:
        lower = value.lower()
        if lower.endswith(".inf"):
            return -math.inf if lower.startswith("-") else math.inf
        return math.nan if lower == ".nan" else float(value)
    if tag == _BOOL:
        return value[0] in "tT"
    if tag == _NULL:
        return None
    raise _Fallback  # an explicit tag


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


# --- where each node is: spans for surgical edits ----------------------------------------------
#
# Writing a value back into a person's YAML file (drift adopted into the config,
# `bot.core.writeback`) must change that value and nothing else: not the comments, the key
# order, the quoting or the indentation of the rest. ruamel.yaml's round-trip dumper keeps most
# of that but not all (a flow `[{port: 80}]` comes back as `[port: 80]`; one indentation per
# file), so edits are made in the text at the character offsets ruamel's composer gives every
# node, and the edited text is read again by whoever made the edit.


@dataclass(frozen=True, slots=True)
class Span:
    """One node of a YAML text: characters `[start, end)`, its kind (`scalar`, `mapping`,
    `sequence`), whether it is written in flow style (or sits inside a flow collection),
    a scalar's style (None: plain; `"`, `'`, `|`, `>`), and for a mapping entry's value where
    its key starts (`key_start`); `line` is 1-based."""

    start: int
    end: int
    kind: str
    flow: bool = False
    style: str | None = None
    key_start: int | None = None
    line: int = 1


def spans(file: str, text: str, limits: Limits = CONFIG_LIMITS) -> list[dict[FieldPath, Span]]:
    """Every node of every non-empty document of `text` by its path (string and integer keys as
    `load_all` reads them; other keys are left out), within `limits` (ConfigError otherwise)."""
    _checked(file, text, limits)
    try:
        nodes = [n for n in YAML(typ="rt").compose_all(text) if n is not None]
    except YAMLError as exc:
        raise _syntax_error(file, exc) from None
    out: list[dict[FieldPath, Span]] = []
    for node in nodes:
        found: dict[FieldPath, Span] = {}
        _spans(node, (), False, None, found)
        out.append(found)
    return out


def _spans(node: Any, path: FieldPath, in_flow: bool, key_start: int | None, out: dict[FieldPath, Span]) -> None:
    start, end = node.start_mark, node.end_mark
    if isinstance(node, MappingNode):
        flow = in_flow or bool(node.flow_style)
        out[path] = Span(start.index, end.index, "mapping", flow, None, key_start, start.line + 1)
        for key, value in node.value:
            if isinstance(key, ScalarNode):
                _spans(value, (*path, _key_of(key)), flow, key.start_mark.index, out)
    elif isinstance(node, SequenceNode):
        flow = in_flow or bool(node.flow_style)
        out[path] = Span(start.index, end.index, "sequence", flow, None, key_start, start.line + 1)
        for i, item in enumerate(node.value):
            _spans(item, (*path, i), flow, None, out)
    else:
        style = node.style if node.style in ('"', "'", "|", ">") else None
        out[path] = Span(start.index, end.index, "scalar", in_flow, style, key_start, start.line + 1)


def _key_of(key: Any) -> PathElem:
    """A mapping key as `load` reads it: a decimal integer key is an int, any other a string."""
    if key.tag.endswith(":int") and re.fullmatch(r"[-+]?[0-9]+", key.value):
        return int(key.value)
    return str(key.value)


def scalar_text(value: Any, *, quoted: bool = False) -> str:
    """A scalar as YAML writes it in a block context (plain when a reader would read it back
    as the same value, else double-quoted); `quoted`: a string always double-quoted (JSON,
    also valid YAML), for flow contexts and JSON files."""
    if quoted and isinstance(value, str):
        return _ESCAPE.sub(_escape_char, json.dumps(value, ensure_ascii=False))
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, ensure_ascii=False, sort_keys=False)
    return _scalar(value)
