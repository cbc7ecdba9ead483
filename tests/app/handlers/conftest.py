"""The handler tier's fixtures: the `Memory` runtime and `memory` module installed through a
real entry point, as an outside package would install them, and a `Bench` per test."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.memory.runtime import worlds
from tests.app.handlers.bench import Bench


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    dist = site / "shipmate_memory-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shipmate-memory\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[shipmate.runtimes]\nMemory = bot.adapters.memory.runtime:PLUGIN\n\n"
        "[shipmate.modules]\nmemory = bot.adapters.memory.module:MemoryObject\n"
    )
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()


@pytest.fixture
def bench(installed: None, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Bench]:
    made = Bench(tmp_path, request.node.nodeid)
    yield made
    worlds.forget(made.world_name)
