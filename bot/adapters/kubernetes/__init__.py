"""Kubernetes runtime: the official client, server-side apply, dry-run, readiness.

`KubernetesRuntime.from_context(context, options)` builds the runtime for a workspace; see
`runtime` for the semantics, `kubeconfig` for where credentials come from and `readiness`
for the per-kind rules.
"""

from bot.adapters.kubernetes.runtime import (
    FIELD_MANAGER,
    PROPAGATION_POLICY,
    BatchFailed,
    KubernetesRuntime,
    ObjectId,
    normalize,
)

from_context = KubernetesRuntime.from_context

__all__ = [
    "FIELD_MANAGER",
    "PROPAGATION_POLICY",
    "BatchFailed",
    "KubernetesRuntime",
    "ObjectId",
    "from_context",
    "normalize",
]
