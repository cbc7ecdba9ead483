"""The Kubernetes runtime as a `shipmate.runtimes` plug-in (registered in pyproject.toml).

It serves `Kubernetes` resources one by one (server-side apply), waits for readiness
(`readiness`), takes over objects named by `kusionstack.io/import-id` (`import`), and its
resources are API objects (`api-objects`: the fields the server fills in and the order of
the lists it merges by key are no change, a Secret's values are masked). The runtime of a
stack reads its kubeconfig from the workspace context (or, from the `kubernetes` runtime
option, `bot.settings.KubernetesOptions`: KUBECONFIG, or in-cluster) and keeps its discovery
cache in the stack's scratch directory when the bot gives one.
"""

from __future__ import annotations

from bot.adapters.kubernetes.runtime import KubernetesRuntime
from bot.core.ports import Runtime
from bot.core.runtimes import (
    Capability,
    RuntimeBuilder,
    RuntimePlugin,
    RuntimeSettings,
    RuntimeTarget,
)
from bot.core.spec import KUBERNETES
from bot.settings import KubernetesOptions


def configure(settings: RuntimeSettings) -> RuntimeBuilder:
    """The builder of one stack's Kubernetes runtime."""

    given = settings.options.get("kubernetes")
    options = given if isinstance(given, KubernetesOptions) else KubernetesOptions()

    def build(target: RuntimeTarget) -> Runtime:
        return KubernetesRuntime.from_context(
            target.context, options, base_dir=settings.base_dir, concurrency=settings.concurrency,
            scratch_dir=target.scratch_dir,
        )

    return build


PLUGIN = RuntimePlugin(
    KUBERNETES, frozenset({Capability.READINESS, Capability.IMPORT, Capability.API_OBJECTS,
                           Capability.FIELD_MANAGERS}), configure
)
