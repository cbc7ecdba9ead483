"""What a drifted stack's config can take of its live objects: the values of an adoption.

`bot.core.writeback` works out which drifted fields map back into the stack's files and how
the files read afterwards; the drift issue and the generated pull request
(`bot.core.render.drift_pull`) show it. An `Adoption` is deterministic: its fields are in the
order of the drift preview, its files sorted by path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class AdoptedField:
    """One drifted field: `resource` ID and `path` (as the preview writes it), and either where
    its live `value` was written (`file`, 1-based `line`; `removed` when the live object lacks
    it and the config no longer sets it) or why it was not (`reason`)."""

    resource: str
    path: str
    file: str = ""
    line: int = 0
    value: Any = None
    removed: bool = False
    reason: str = ""

    @property
    def mapped(self) -> bool:
        return bool(self.file)


@dataclass(frozen=True, slots=True)
class Adoption:
    """The edited files (whole texts, by repository path) and every drifted field, mapped or
    not."""

    files: Mapping[str, str] = field(default_factory=dict)
    fields: tuple[AdoptedField, ...] = ()

    @property
    def mapped(self) -> tuple[AdoptedField, ...]:
        return tuple(f for f in self.fields if f.mapped)

    @property
    def left(self) -> tuple[AdoptedField, ...]:
        return tuple(f for f in self.fields if not f.mapped)
