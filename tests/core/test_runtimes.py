"""The runtime plug-in contract: what a plug-in must declare, one stack's runtimes, imports."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.errors import PlanError
from bot.core.runtimes import (
    Capability,
    RuntimePlugin,
    RuntimeSettings,
    RuntimeTarget,
    StackRuntimes,
    check_imports,
    checked_plugin,
)
from bot.core.spec import EXT_IMPORT_ID, Resource
from tests.localruntime.runtime import PLUGIN, LocalRuntime


def test_a_plugin_is_checked_and_its_capabilities_become_capabilities() -> None:
    declared = RuntimePlugin("Local", frozenset({"import"}), PLUGIN.configure)  # type: ignore[arg-type]
    plugin = checked_plugin("Local", lambda: declared)
    assert plugin.capabilities == {Capability.IMPORT}
    assert all(isinstance(c, Capability) for c in plugin.capabilities)


@pytest.mark.parametrize(("loaded", "message"), [
    (object(), "expected a bot.core.runtimes.RuntimePlugin, got object"),
    (RuntimePlugin("Other", frozenset(), PLUGIN.configure), "the entry point's name must be the resource type it serves, 'Other'"),
    (RuntimePlugin("Local", frozenset({"batches"}), PLUGIN.configure),  # type: ignore[arg-type]
     "unknown capabilities batches (known: batch, readiness, import, recorded-state, api-objects, field-managers)"),
    (RuntimePlugin("Local", frozenset(), "configure"), "configure is not callable"),  # type: ignore[arg-type]
])
def test_a_plugin_that_declares_something_wrong_is_refused(loaded: object, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        checked_plugin("Local", loaded)


def test_stack_runtimes_are_built_once_on_first_use(tmp_path: Path) -> None:
    built: list[str] = []
    build = PLUGIN.configure(RuntimeSettings(env={}, cache_dir=tmp_path))

    def local() -> LocalRuntime:
        built.append("Local")
        runtime = build(RuntimeTarget("shop", "dev", "dev", {"LOCAL_ROOT": str(tmp_path)}))
        assert isinstance(runtime, LocalRuntime)
        return runtime

    runtimes = StackRuntimes({"Local": local}, {"Local": PLUGIN.capabilities})
    assert list(runtimes) == ["Local"] and "Local" in runtimes and "Kubernetes" not in runtimes and built == []
    assert runtimes.declares("Local", Capability.IMPORT) and not runtimes.declares("Local", Capability.BATCH)
    assert runtimes.having(Capability.IMPORT) == {"Local"} and runtimes.having(Capability.READINESS) == set()
    assert runtimes["Local"] is runtimes["Local"]
    assert built == ["Local"]


def test_an_import_is_refused_by_a_runtime_that_cannot_import(tmp_path: Path) -> None:
    imported = Resource("local:file:legacy", "Local", {}, extensions={EXT_IMPORT_ID: "legacy.txt"})
    planned = Resource("local:file:notes", "Local", {"path": "notes.txt", "content": ""})
    runtime = LocalRuntime(tmp_path)
    check_imports([imported, planned], StackRuntimes.of({"Local": runtime}, {"Local": {Capability.IMPORT}}))
    check_imports([planned], StackRuntimes.of({"Local": runtime}))
    with pytest.raises(PlanError, match=r"^the runtime of local:file:legacy cannot import existing objects"):
        check_imports([imported, planned], StackRuntimes.of({"Local": runtime}))
