"""Per-kind readiness rules of the Kubernetes runtime, on objects shaped like the API server's."""

from __future__ import annotations

from typing import Any

import pytest

from bot.adapters.kubernetes import readiness


def deployment(replicas: int, gen: int, observed: int, updated: int, available: int) -> dict[str, Any]:
    return {
        "metadata": {"generation": gen},
        "spec": {"replicas": replicas},
        "status": {"observedGeneration": observed, "updatedReplicas": updated,
                   "availableReplicas": available, "replicas": replicas},
    }


@pytest.mark.parametrize(
    ("obj", "ready"),
    [
        (deployment(2, 3, 3, 2, 2), True),
        (deployment(2, 3, 2, 2, 2), False),  # controller has not seen generation 3
        (deployment(2, 3, 3, 1, 2), False),  # rollout not finished
        (deployment(2, 3, 3, 2, 1), False),  # one replica not available
        (deployment(0, 1, 1, 0, 0), True),
    ],
)
def test_deployment_available(obj: dict[str, Any], ready: bool) -> None:
    assert readiness.deployment(obj).ready is ready


def test_deployment_progress_deadline_fails() -> None:
    obj = deployment(1, 1, 1, 0, 0)
    obj["status"]["conditions"] = [{"type": "Progressing", "status": "False",
                                    "reason": "ProgressDeadlineExceeded", "message": "timed out"}]
    verdict = readiness.deployment(obj)
    assert not verdict.ready and "progress deadline exceeded: timed out" == verdict.failed


def test_deployment_replicas_default_to_one() -> None:
    obj = {"metadata": {"generation": 1}, "spec": {},
           "status": {"observedGeneration": 1, "updatedReplicas": 1, "availableReplicas": 1}}
    assert readiness.deployment(obj).ready
    assert readiness.deployment({"metadata": {"generation": 1}, "spec": {}}).waiting_for


def test_statefulset_and_daemonset() -> None:
    sts = {"metadata": {"generation": 1}, "spec": {"replicas": 3},
           "status": {"observedGeneration": 1, "readyReplicas": 2, "updatedReplicas": 3}}
    assert readiness.statefulset(sts).waiting_for == "2/3 ready"
    sts["status"]["readyReplicas"] = 3
    assert readiness.statefulset(sts).ready
    ds = {"metadata": {"generation": 1}, "status": {"observedGeneration": 1}}
    assert readiness.daemonset(ds).waiting_for == "not scheduled yet"
    ds["status"].update(desiredNumberScheduled=2, numberReady=2, updatedNumberScheduled=1)
    assert readiness.daemonset(ds).waiting_for == "1/2 updated"
    ds["status"]["updatedNumberScheduled"] = 2
    assert readiness.daemonset(ds).ready


def test_job_complete_and_failed() -> None:
    running = {"spec": {"completions": 2}, "status": {"succeeded": 1}}
    assert readiness.job(running).waiting_for == "1/2 completions"
    done = {"spec": {}, "status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    assert readiness.job(done).ready
    failed = {"status": {"conditions": [{"type": "Failed", "status": "True",
                                         "reason": "BackoffLimitExceeded",
                                         "message": "Job has reached the specified backoff limit"}]}}
    verdict = readiness.job(failed)
    assert verdict.failed == (
        "job failed: BackoffLimitExceeded: Job has reached the specified backoff limit"
    )


def test_pvc_crd_pod() -> None:
    assert readiness.pvc({"status": {"phase": "Bound"}}).ready
    assert readiness.pvc({"status": {"phase": "Pending"}}).waiting_for == "phase Pending"
    assert readiness.crd({"status": {"conditions": [{"type": "Established", "status": "True"}]}}).ready
    assert readiness.crd({}).waiting_for == "not established"
    clash = {"status": {"conditions": [{"type": "NamesAccepted", "status": "False",
                                        "message": "plural name in use"}]}}
    assert readiness.crd(clash).failed == "names not accepted: plural name in use"
    assert readiness.pod({"status": {"phase": "Failed", "message": "OOMKilled"}}).failed
    assert readiness.pod({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}).ready


def test_kinds_without_rule_are_ready_once_accepted() -> None:
    for api_version, kind in [("v1", "Service"), ("v1", "ConfigMap"), ("v1", "Secret"),
                              ("v1", "Namespace"), ("batch/v1", "CronJob"),
                              ("networking.k8s.io/v1", "Ingress"), ("example.com/v1", "Widget")]:
        assert readiness.rule_for(api_version, kind) is None
    assert readiness.rule_for("apps/v1", "Deployment") is readiness.deployment
    assert readiness.rule_for("batch/v1", "Job") is readiness.job


def test_status_summary_is_compact_and_sorted() -> None:
    assert readiness.status_summary({"status": {"b": 1, "a": [2]}}) == '{"a":[2],"b":1}'
    assert readiness.status_summary(None) == "object not found"
