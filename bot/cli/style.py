"""How the `shipmate` command styles what it prints: colour, and a live progress display.

Colour needs a terminal, and is off with `--no-style` (Kusion's flag) or a non-empty
`NO_COLOR` (no-color.org). The live progress display needs a terminal on stderr and is off
with `--no-style`; without it, progress is one plain line per operation.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True, slots=True)
class Style:
    """What the command's output may use."""

    color: bool = False  # ANSI colours in text on stdout
    live: bool = False  # a live progress display on stderr
    no_color: bool = True  # NO_COLOR or --no-style: the live display without colours too

    @classmethod
    def detect(cls, *, no_style: bool = False, out: TextIO | None = None, err: TextIO | None = None,
               env: Mapping[str, str] | None = None) -> Style:
        """The style for `out` (default stdout) and `err` (default stderr) under `env`
        (default the process environment: only NO_COLOR is read)."""
        out, err = out or sys.stdout, err or sys.stderr
        no_color = no_style or bool((os.environ if env is None else env).get("NO_COLOR"))
        return cls(color=not no_color and _isatty(out), live=not no_style and _isatty(err), no_color=no_color)


PLAIN = Style()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream
        return False
