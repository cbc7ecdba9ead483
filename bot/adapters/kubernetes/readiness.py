"""Readiness rules per Kubernetes kind: pure functions from a live object to a verdict.

A rule looks only at the object the API server returned (its `metadata.generation`, `spec`
and `status`) and answers one of three things: ready, not ready yet (with a short summary of
what it is waiting for), or failed for good (a Job's `Failed` condition, a Deployment past its
progress deadline). Kinds without a rule are ready as soon as the API server accepted them:
Service, ConfigMap, Secret, Namespace, CronJob, Ingress, custom resources, ...
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

JSON = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one readiness check."""

    ready: bool
    waiting_for: str = ""
    failed: str = ""


READY = Verdict(ready=True)


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _status(obj: JSON) -> JSON:
    status = obj.get("status")
    return status if isinstance(status, Mapping) else {}


def _spec(obj: JSON) -> JSON:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _condition(obj: JSON, kind: str) -> JSON | None:
    for cond in _status(obj).get("conditions") or ():
        if isinstance(cond, Mapping) and cond.get("type") == kind:
            return cond
    return None


def _is_true(cond: JSON | None) -> bool:
    return cond is not None and str(cond.get("status")) == "True"


def _observed(obj: JSON) -> Verdict | None:
    """Not ready while the controller has not seen the latest generation of the spec."""
    generation = _int((obj.get("metadata") or {}).get("generation"), 0)
    observed = _int(_status(obj).get("observedGeneration"), -1)
    if generation and observed < generation:
        return Verdict(False, f"observedGeneration {observed} < generation {generation}")
    return None


def deployment(obj: JSON) -> Verdict:
    """Available: the controller saw the spec and every desired replica is updated and available."""
    progressing = _condition(obj, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Verdict(False, failed=f"progress deadline exceeded: {progressing.get('message', '')}".strip())
    pending = _observed(obj)
    if pending:
        return pending
    want = _int(_spec(obj).get("replicas"), 1)
    status = _status(obj)
    updated = _int(status.get("updatedReplicas"))
    available = _int(status.get("availableReplicas"))
    if updated != want or available != want:
        return Verdict(False, f"{updated}/{want} updated, {available}/{want} available")
    return READY


def statefulset(obj: JSON) -> Verdict:
    """Ready: every desired replica is ready (and updated, when the controller reports it)."""
    pending = _observed(obj)
    if pending:
        return pending
    want = _int(_spec(obj).get("replicas"), 1)
    status = _status(obj)
    ready = _int(status.get("readyReplicas"))
    if ready != want:
        return Verdict(False, f"{ready}/{want} ready")
    if "updatedReplicas" in status and _int(status.get("updatedReplicas")) != want:
        return Verdict(False, f"{_int(status.get('updatedReplicas'))}/{want} updated")
    return READY


def daemonset(obj: JSON) -> Verdict:
    """Ready: every node that should run a pod runs an updated, ready one."""
    pending = _observed(obj)
    if pending:
        return pending
    status = _status(obj)
    if "desiredNumberScheduled" not in status:
        return Verdict(False, "not scheduled yet")
    want = _int(status.get("desiredNumberScheduled"))
    ready = _int(status.get("numberReady"))
    if ready != want:
        return Verdict(False, f"{ready}/{want} ready")
    if "updatedNumberScheduled" in status and _int(status.get("updatedNumberScheduled")) != want:
        return Verdict(False, f"{_int(status.get('updatedNumberScheduled'))}/{want} updated")
    return READY


def job(obj: JSON) -> Verdict:
    """Complete: the `Complete` condition, or as many successes as completions; `Failed` fails."""
    failed = _condition(obj, "Failed")
    if _is_true(failed):
        assert failed is not None
        reason = str(failed.get("reason") or "Failed")
        message = str(failed.get("message") or "")
        return Verdict(False, failed=f"job failed: {reason}" + (f": {message}" if message else ""))
    if _is_true(_condition(obj, "Complete")):
        return READY
    completions = _int(_spec(obj).get("completions"), 1)
    succeeded = _int(_status(obj).get("succeeded"))
    if succeeded >= completions:
        return READY
    return Verdict(False, f"{succeeded}/{completions} completions")


def pod(obj: JSON) -> Verdict:
    """Ready: the `Ready` condition (or phase Succeeded); phase Failed fails."""
    phase = _status(obj).get("phase")
    if phase == "Failed":
        return Verdict(False, failed=f"pod failed: {_status(obj).get('message') or phase}")
    if phase == "Succeeded" or _is_true(_condition(obj, "Ready")):
        return READY
    return Verdict(False, f"phase {phase or 'Pending'}")


def pvc(obj: JSON) -> Verdict:
    """Bound to a volume."""
    phase = _status(obj).get("phase")
    if phase == "Bound":
        return READY
    if phase == "Lost":
        return Verdict(False, failed="claim lost its volume")
    return Verdict(False, f"phase {phase or 'Pending'}")


def crd(obj: JSON) -> Verdict:
    """Established; a `NamesAccepted=False` condition fails."""
    names = _condition(obj, "NamesAccepted")
    if names is not None and str(names.get("status")) == "False":
        return Verdict(False, failed=f"names not accepted: {names.get('message', '')}".strip())
    if _is_true(_condition(obj, "Established")):
        return READY
    return Verdict(False, "not established")


Rule = Callable[[JSON], Verdict]

RULES: Mapping[tuple[str, str], Rule] = {
    ("apps", "Deployment"): deployment,
    ("apps", "StatefulSet"): statefulset,
    ("apps", "DaemonSet"): daemonset,
    ("batch", "Job"): job,
    ("", "Pod"): pod,
    ("", "PersistentVolumeClaim"): pvc,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): crd,
}


def rule_for(api_version: str, kind: str) -> Rule | None:
    """The readiness rule for a kind, or None when the kind is ready once accepted."""
    group = api_version.rpartition("/")[0]
    return RULES.get((group, kind))


def status_summary(obj: JSON | None) -> str:
    """The object's `status` as compact, key-sorted JSON for error messages."""
    if obj is None:
        return "object not found"
    return json.dumps(_status(obj), sort_keys=True, separators=(",", ":"), default=str)
