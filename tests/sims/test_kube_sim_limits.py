"""A huge replica count is worked through in rounds, and stopping the simulator stops it."""

from __future__ import annotations

import threading
import time

from kubernetes import client, config

from fixtures.kube_sim import KubeSim


def test_huge_replica_set_is_created_in_rounds_and_stops_with_the_simulator(tmp_path):
    sim = KubeSim.start(ready_delay=0.05)
    try:
        api = config.new_client_from_config(str(sim.write_kubeconfig(tmp_path / "kc")))
        apps = client.AppsV1Api(api)
        apps.create_namespaced_replica_set("default", {
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "many"},
            "spec": {"replicas": 1_000_000, "selector": {"matchLabels": {"app": "many"}},
                     "template": {"metadata": {"labels": {"app": "many"}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
        })
        deadline = time.monotonic() + 10
        pods = 0
        while time.monotonic() < deadline and pods == 0:
            pods = len(client.CoreV1Api(api).list_namespaced_pod("default").items)
            time.sleep(0.05)
        assert 0 < pods < 1_000_000
    finally:
        started = time.monotonic()
        sim.stop()
    assert time.monotonic() - started < 5
    assert not [t for t in threading.enumerate() if t.name == "kube-sim-controller" and t.is_alive()]
