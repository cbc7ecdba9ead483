"""A stack's runtimes for tests that build them by hand (in-memory or refusing runtimes),
with the capabilities Shipmate's own plug-ins declare for the same resource types."""

from __future__ import annotations

from collections.abc import Mapping

from bot.core.ports import Runtime
from bot.core.runtimes import Capability, StackRuntimes
from bot.wiring import discover_runtimes

BUILTIN_CAPABILITIES = {plugin.type: plugin.capabilities for plugin in discover_runtimes()}
# The types whose State entries are stored losslessly (Terraform's).
RECORDED_STATE = frozenset(t for t, caps in BUILTIN_CAPABILITIES.items() if Capability.RECORDED_STATE in caps)


def stack_runtimes(runtimes: Mapping[str, Runtime]) -> StackRuntimes:
    """`runtimes` by resource type, declaring what the installed plug-in of each type declares."""
    return StackRuntimes.of(runtimes, BUILTIN_CAPABILITIES)
