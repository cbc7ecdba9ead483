"""Drift adopted: which live values a drifted stack's config can take, and the files after.

A scheduled drift check previews the default branch against what is live; each changed field of
an updated resource is a candidate to be written back into the stack's own files, so that a
pull request can make the config say what is live (`bot.app.drift_pulls`). A field maps back
when one of these holds, and writing it changes, in the Spec generated again from the edited
files, that field and nothing but other drifted fields (each to its live value):

- **a value written literally**: the field's generated value is a scalar (string, number,
  boolean) that some scalar of the stack's own YAML or JSON files holds, the same value of the
  same type: the AppConfiguration (`main.yaml`, not a KCL render), a raw manifest, the
  Terraform module's attributes. Examples: a container's `image` or `env` value, a workload's
  `replicas`, a ConfigMap's `data` in a manifest, a Terraform resource's argument;
- **a field added or removed by hand on an object written in a manifest**: the object is a
  document of a manifest file of the stack, and adding the key (with the live value) to the
  mapping holding it, or removing the key, is what changes the field.

Never written back: the fields of a Secret, any value holding a secret or a mask, values a
module computes from what is written (`cpu: 100m-250m` becomes a request and a limit), list
elements added or removed by hand, objects created or deleted by hand, and anything in a file
that is not the stack's own (workspaces, `project.yaml`, `stack.yaml`, `shipmate.yaml`, files
outside the stack's directory, which other stacks may share). Each of these is listed with its
reason. Every edit is proved by generating the Spec again, so a mapping is never a guess: the
candidates are tried (at most `MAX_CANDIDATES` a field, `MAX_FIELDS` fields, `MAX_GENERATIONS`
Specs generated in all; a field the edit of an earlier one already took to its live value
needs no try of its own) and the first
whose regenerated Spec says the live value is kept.

Edits are made in the text (`bot.core.yamlio.spans`): the value's characters are replaced, a
`key: value` line is added after a block mapping's last entry (or `, key: value` before a flow
mapping's `}`), an entry's lines are removed; comments, order, quoting and indentation of
everything else stay as they are. Pure: the snapshot is given, the Spec generated in memory.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core import mask
from bot.core.adoption import AdoptedField, Adoption
from bot.core.config.snapshot import ConfigSnapshot
from bot.core.errors import ConfigError
from bot.core.generate import generate_stack
from bot.core.mask import holds_mask
from bot.core.modules.kube import kubernetes_id
from bot.core.modules.registry import ModuleRegistry
from bot.core.preview import fields
from bot.core.preview.model import Action, ChangeSet, DiffKind, FieldDiff, KeySelector, Path
from bot.core.preview.normalize import api_object
from bot.core.spec import Resource, Spec
from bot.core.yamlio import FieldPath, Span, load_all, scalar_text, spans

MAX_FIELDS = 50  # drifted fields considered per stack
MAX_CANDIDATES = 8  # places tried per field
MAX_GENERATIONS = 120  # Specs generated per stack, all tries together (bounded time on a large stack)
SUFFIXES = (".yaml", ".yml", ".json")
NOT_OWN = ("stack.yaml", "stack.yml", "project.yaml", "project.yml")

_MISSING = object()
Key = tuple[str, Path]


@dataclass(frozen=True, slots=True)
class _Edit:
    """Characters `[start, end)` of `file` become `text`; `line`: where, for people (1-based)."""

    file: str
    start: int
    end: int
    text: str
    line: int


@dataclass(frozen=True, slots=True)
class _File:
    path: str
    text: str
    docs: tuple[Any, ...]
    spans: tuple[dict[FieldPath, Span], ...]


def adopt(snapshot: ConfigSnapshot, stack_path: str, changeset: ChangeSet, *,
          registry: ModuleRegistry | None = None, salt: str = "", secrets: Iterable[str] = (),
          fixed: Iterable[str] = ()) -> Adoption:
    """What the config of the stack at `stack_path` can take of the drift `changeset` shows
    (`before`: live, `after`: what the config gives). `fixed`: files that are not written by
    hand (a KCL stack's rendered `main.yaml`); `secrets`: values never written."""
    generations = [0]

    def regenerate(files: Mapping[str, str]) -> Spec:
        generations[0] += 1
        return generate_stack(snapshot.merged(files) if files else snapshot, stack_path, registry, salt)

    drift: dict[Key, FieldDiff] = {}
    order: list[tuple[Key, str]] = []
    left: dict[Key, str] = {}
    for step in changeset.changed_steps():
        if step.action not in (Action.UPDATE, Action.REPLACE):
            order.append(((step.id, ()), ""))
            gone = "deleted" if step.action is Action.CREATE else "left in place"
            left[(step.id, ())] = f"the whole object was {gone}, not a field: only fields are written back"
            continue
        for diff in step.diffs:
            key = (step.id, diff.path)
            drift[key] = diff
            order.append((key, diff.dotted))
    try:
        base = regenerate({})
    except ConfigError as exc:
        reason = f"the config does not generate: {exc.problems[0] if exc.problems else exc}"
        return Adoption({}, tuple(AdoptedField(k[0], dotted, reason=reason) for k, dotted in order))
    files = _own_files(snapshot, stack_path, frozenset(fixed))
    literals = tuple(s for s in secrets if len(s) >= 4)
    resources = {r.id: r for r in base.resources}
    chosen: dict[Key, _Edit] = {}
    taken: dict[Key, _Edit] = {}  # fields an earlier chosen edit takes to their live values too
    tried = 0
    for key, _ in order:
        if key in left or key not in drift:
            continue
        if key in taken:
            chosen[key] = taken[key]
            continue
        if tried >= MAX_FIELDS or generations[0] >= MAX_GENERATIONS:
            left[key] = f"more than {tried} drifted fields to try: the rest are not tried"
            continue
        tried += 1
        reason, candidates = _candidates(key, drift[key], resources.get(key[0]), files, literals,
                                         changeset.api_objects)
        if reason:
            left[key] = reason
            continue
        for edit in candidates[:MAX_CANDIDATES]:
            if generations[0] >= MAX_GENERATIONS:
                break
            covered = _verify(regenerate, base, changeset, drift, [edit], files)
            if covered is not None and key in covered:
                chosen[key] = edit
                taken.update(dict.fromkeys(covered - set(taken), edit))
                break
        if key not in chosen:
            left[key] = _why_not(drift[key], candidates)
    kept = _combine(regenerate, base, changeset, drift, chosen, files)
    texts = _edited(files, {e for e in kept.values()})
    out: list[AdoptedField] = []
    for key, dotted in order:
        found, made = drift.get(key), kept.get(key)
        if made is not None and found is not None:
            out.append(AdoptedField(key[0], dotted, made.file, made.line,
                                    None if found.kind is DiffKind.ADDED else found.before,
                                    removed=found.kind is DiffKind.ADDED))
        else:
            reason = left.get(key) or "writing it changes other fields too"
            out.append(AdoptedField(key[0], dotted, reason=reason))
    return Adoption(dict(sorted(texts.items())), tuple(out))


# --- where a field could be written ----------------------------------------------------------

def _own_files(snapshot: ConfigSnapshot, stack_path: str, fixed: frozenset[str]) -> dict[str, _File]:
    """The stack's own YAML/JSON files, parsed (files that do not parse are left out)."""
    prefix = stack_path.strip("/") + "/"
    out: dict[str, _File] = {}
    for path in snapshot:
        if not path.startswith(prefix) or not path.endswith(SUFFIXES) or path in fixed \
                or posixpath.basename(path) in NOT_OWN:
            continue
        text = snapshot.read(path) or ""
        try:
            docs = tuple(d.data for d in load_all(path, text))
            located = tuple(spans(path, text))
        except ConfigError:
            continue
        if len(docs) == len(located):
            out[path] = _File(path, text, docs, located)
    return out


def _candidates(key: Key, diff: FieldDiff, resource: Resource | None, files: Mapping[str, _File],
                literals: Sequence[str], api_objects: Collection[str] | None) -> tuple[str, list[_Edit]]:
    """Why the field cannot be written back, or the edits that might write it."""
    rid, path = key
    if resource is None:
        return "the object is not in the generated Spec", []
    if mask.secret_paths(resource.attributes, resource.type, api_objects):  # masking's own test of a Secret
        return "a Secret's fields are never written into the config", []
    live = diff.before
    if diff.kind is not DiffKind.ADDED and (holds_mask(live) or _holds(live, literals)):
        return "the live value holds a secret", []
    if any(isinstance(s, KeySelector) for s in path[-1:]) and diff.kind is not DiffKind.CHANGED:
        return "a list element added or removed by hand", []
    if diff.kind is DiffKind.CHANGED:
        written = _value_at(resource.attributes, path)
        if written is _MISSING or not _is_scalar(written) or not _is_scalar(live):
            return "not a single value the config writes", []
        return "", _literal_edits(written, live, files)
    return "", _manifest_edits(rid, diff, files)


def _literal_edits(written: Any, live: Any, files: Mapping[str, _File]) -> list[_Edit]:
    """Replacing each scalar that holds `written` (same value, same type) with `live`."""
    out: list[_Edit] = []
    for name in sorted(files):
        f = files[name]
        for doc, located in zip(f.docs, f.spans, strict=True):
            for where, span in located.items():
                if span.kind != "scalar" or not _same(_value_at(doc, where), written):
                    continue
                quoted = span.flow or span.style is not None or name.endswith(".json")
                out.append(_replace(f, span, scalar_text(live, quoted=quoted)))
    return out


def _manifest_edits(rid: str, diff: FieldDiff, files: Mapping[str, _File]) -> list[_Edit]:
    """Adding (the live object has it) or removing (it lacks it) a key of an object written
    as a manifest document."""
    out: list[_Edit] = []
    for name in sorted(files):
        f = files[name]
        for doc, located in zip(f.docs, f.spans, strict=True):
            if not isinstance(doc, dict) or not isinstance(doc.get("metadata"), dict) or kubernetes_id(doc) != rid:
                continue
            concrete = _concrete(doc, diff.path)
            if concrete is None:
                continue
            edit = _remove(f, located, concrete) if diff.kind is DiffKind.ADDED \
                else _add(f, doc, located, concrete, diff.before)
            if edit is not None:
                out.append(edit)
    return out


def _why_not(diff: FieldDiff, candidates: Sequence[_Edit]) -> str:
    if not candidates:
        if diff.kind is DiffKind.CHANGED:
            return "no value of the stack's own files holds what the config gives it (a module computes it, " \
                   "or it comes from a workspace)"
        return "not written in a manifest of the stack (a module or the app's metadata gives it)"
    return "writing it changes other fields too"


# --- proving an edit ---------------------------------------------------------------------------

def _verify(regenerate: Callable[[Mapping[str, str]], Spec], base: Spec, changeset: ChangeSet,
            drift: Mapping[Key, FieldDiff], edits: Iterable[_Edit], files: Mapping[str, _File]) -> set[Key] | None:
    """The drifted fields the edits take to their live values, when the edited files change
    nothing else in the generated Spec; None when they change anything else (or break it)."""
    try:
        texts = _edited(files, edits)
        spec = regenerate(texts)
    except (ConfigError, ValueError):
        return None
    before = {r.id: r for r in base.resources}
    after = {r.id: r for r in spec.resources}
    if list(before) != list(after):
        return None
    covered: set[Key] = set()
    for rid, new in after.items():
        old = before[rid]
        if new == old:
            continue
        if new.extensions != old.extensions or new.depends_on != old.depends_on or new.type != old.type:
            return None
        for change in fields.diff(old.attributes, new.attributes, api_object(new.type, changeset.api_objects)):
            want = drift.get((rid, change.path))
            if want is None or not _takes_live(change, want):
                return None
            covered.add((rid, change.path))
    return covered


def _takes_live(change: FieldDiff, want: FieldDiff) -> bool:
    """Whether a change of the generated field (old config → new config) is the drift's
    live value (`want.before`)."""
    if change.kind is DiffKind.REMOVED:
        return want.kind is DiffKind.ADDED
    return want.kind is not DiffKind.ADDED and _same(change.after, want.before)


def _combine(regenerate: Callable[[Mapping[str, str]], Spec], base: Spec, changeset: ChangeSet,
             drift: Mapping[Key, FieldDiff], chosen: Mapping[Key, _Edit],
             files: Mapping[str, _File]) -> dict[Key, _Edit]:
    """The chosen edits that hold together: all of them when their files regenerate as each
    promised, else those kept one by one in the drift's order."""
    if not chosen:
        return {}
    covered = _verify(regenerate, base, changeset, drift, set(chosen.values()), files)
    if covered is not None and set(chosen) <= covered and not _overlap(set(chosen.values())):
        return dict(chosen)
    kept: dict[Key, _Edit] = {}
    for key, edit in chosen.items():
        trial = {**kept, key: edit}
        edits = set(trial.values())
        if _overlap(edits):
            continue
        covered = _verify(regenerate, base, changeset, drift, edits, files)
        if covered is not None and set(trial) <= covered:
            kept = trial
    return kept


# --- text edits ----------------------------------------------------------------------------------

def _edited(files: Mapping[str, _File], edits: Iterable[_Edit]) -> dict[str, str]:
    """The texts of the files `edits` change (ValueError when two edits overlap)."""
    by_file: dict[str, list[_Edit]] = {}
    for edit in set(edits):
        by_file.setdefault(edit.file, []).append(edit)
    out: dict[str, str] = {}
    for name, mine in by_file.items():
        text = files[name].text
        last = len(text) + 1
        for edit in sorted(mine, key=lambda e: (e.start, e.end), reverse=True):
            if edit.end > last or (edit.end == last and edit.start == edit.end):
                raise ValueError(f"overlapping edits of {name}")
            text = text[: edit.start] + edit.text + text[edit.end:]
            last = edit.start
        out[name] = text
    return out


def _overlap(edits: set[_Edit]) -> bool:
    ordered = sorted(edits, key=lambda e: (e.file, e.start, e.end))
    return any(a.file == b.file and b.start < a.end for a, b in zip(ordered, ordered[1:], strict=False))


def _replace(f: _File, span: Span, text: str) -> _Edit:
    """A scalar's characters replaced, its trailing line breaks (a block scalar's) kept."""
    old = f.text[span.start: span.end]
    tail = old[len(old.rstrip()):]
    return _Edit(f.path, span.start, span.end, text + tail, span.line)


def _add(f: _File, doc: Any, located: Mapping[FieldPath, Span], path: FieldPath, live: Any) -> _Edit | None:
    """Set `path` (missing from the document) to `live`: a new entry in its deepest existing
    mapping, holding the missing keys nested."""
    depth = len(path) - 1
    while depth > 0 and _value_at(doc, path[:depth]) is _MISSING:
        depth -= 1
    parent, rest = path[:depth], path[depth:]
    holder = located.get(parent)
    if holder is None or holder.kind != "mapping" or not all(isinstance(k, str) for k in rest):
        return None
    value: Any = live
    for k in reversed(rest[1:]):
        value = {k: value}
    key = str(rest[0])
    entries = [s for p, s in located.items() if len(p) == len(parent) + 1 and p[:len(parent)] == parent]
    if holder.flow or f.path.endswith(".json"):
        close = holder.end - 1
        if f.text[close: close + 1] != "}":
            return None
        sep = ", " if entries else ""
        text = f"{sep}{json.dumps(key, ensure_ascii=False)}: {json.dumps(value, ensure_ascii=False)}"
        return _Edit(f.path, close, close, text, _line(f.text, close))
    if not entries:
        return None
    first = min(s.key_start for s in entries if s.key_start is not None)
    column = first - (f.text.rfind("\n", 0, first) + 1)
    leaves = [s for p, s in located.items() if p[:len(parent)] == parent and len(p) > len(parent) and s.kind == "scalar"]
    end = max((s.end for s in leaves), default=holder.end)
    at = end if f.text[end - 1: end] == "\n" else _next_line(f.text, end)
    shown = scalar_text(value) if _is_scalar(value) else json.dumps(value, ensure_ascii=False)
    line = f"{' ' * column}{scalar_text(key)}: {shown}\n"
    prefix = "" if at == 0 or f.text[at - 1: at] == "\n" else "\n"
    return _Edit(f.path, at, at, prefix + line, _line(f.text, at) + (1 if prefix else 0))


def _remove(f: _File, located: Mapping[FieldPath, Span], path: FieldPath) -> _Edit | None:
    """The lines of a block mapping's entry at `path`, when nothing else is written on them."""
    span = located.get(path)
    parent = located.get(path[:-1])
    if span is None or parent is None or parent.kind != "mapping" or parent.flow or span.key_start is None:
        return None
    start = f.text.rfind("\n", 0, span.key_start) + 1
    if f.text[start: span.key_start].strip():
        return None
    leaves = [s for p, s in located.items() if p[:len(path)] == path and s.kind == "scalar"]
    end = max((s.end for s in leaves), default=span.end)
    stop = end if f.text[end - 1: end] == "\n" else _next_line(f.text, end)
    rest = f.text[end:stop].strip()
    if rest and not rest.startswith("#"):
        return None
    return _Edit(f.path, start, stop, "", _line(f.text, start))


def _next_line(text: str, at: int) -> int:
    found = text.find("\n", at)
    return len(text) if found < 0 else found + 1


def _line(text: str, at: int) -> int:
    return text.count("\n", 0, at) + 1


# --- values --------------------------------------------------------------------------------------

def _value_at(data: Any, path: Sequence[Any]) -> Any:
    """The value at a preview path (keys, indexes, `[name=x]` selectors), or `_MISSING`."""
    node = data
    for seg in path:
        if isinstance(seg, KeySelector):
            if not isinstance(node, list):
                return _MISSING
            found = [i for i in node if isinstance(i, dict) and all(i.get(k) == v for k, v in seg.fields)]
            if len(found) != 1:
                return _MISSING
            node = found[0]
        elif isinstance(seg, int) and not isinstance(seg, bool):
            if not isinstance(node, list) or not 0 <= seg < len(node):
                return _MISSING
            node = node[seg]
        else:
            if not isinstance(node, dict) or seg not in node:
                return _MISSING
            node = node[seg]
    return node


def _concrete(doc: Any, path: Path) -> FieldPath | None:
    """A preview path as a document path (selectors become indexes); None when a selector or
    an index names no element."""
    out: list[str | int] = []
    node = doc
    for seg in path:
        if isinstance(seg, KeySelector):
            if not isinstance(node, list):
                return None
            found = [n for n, i in enumerate(node) if isinstance(i, dict) and all(i.get(k) == v for k, v in seg.fields)]
            if len(found) != 1:
                return None
            out.append(found[0])
            node = node[found[0]]
        else:
            out.append(seg)
            node = _value_at(node, (seg,)) if node is not _MISSING else _MISSING
    return tuple(out)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same kind (`1 == 1.0`, but `true` is not `1` and `"1"` not `1`)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _holds(value: Any, literals: Sequence[str]) -> bool:
    if not literals:
        return False
    text = json.dumps(value, ensure_ascii=False, default=str)
    return any(s in text for s in literals)

