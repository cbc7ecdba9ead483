"""Protocols the core and the use cases depend on; adapters implement them.

Each port is narrow and batch-friendly: a runtime receives every resource of its type in one
call where that is cheaper (Terraform plans a whole stack at once), and per-resource calls
where it is not (Kubernetes). Sections are owned by the capability that introduced them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from bot.core.spec import Resource, State

JSON = dict[str, Any]


class Clock(Protocol):
    """The time source; the core never reads the clock itself."""

    def now(self) -> datetime: ...


# --- runtimes -------------------------------------------------------------------------------


class Runtime(Protocol):
    """One kind of infrastructure (Kubernetes, Terraform) that can read, dry-run and change resources.

    All methods take the prior `State` (the latest release's) so runtimes that keep state
    in the release (Terraform) can rebuild their working copy from it.
    """

    def read(self, resources: Sequence[Resource], prior: State) -> Mapping[str, JSON | None]:
        """Live objects by resource ID; `None` where the resource does not exist."""
        ...

    def dry_run(self, planned: Sequence[Resource], prior: State) -> Mapping[str, JSON]:
        """What each planned resource would look like after apply, by ID, without changing anything."""
        ...

    def apply(self, planned: Sequence[Resource], prior: State) -> Mapping[str, Resource]:
        """Create or update; returns the resource as it should be recorded in State, by ID."""
        ...

    def delete(self, resources: Sequence[Resource], prior: State) -> None:
        """Delete the given resources (absent ones are not an error)."""
        ...

    def wait_ready(self, resource: Resource, timeout_seconds: float) -> None:
        """Block until the resource is ready by its kind's rule, or raise RuntimeFailed."""
        ...
