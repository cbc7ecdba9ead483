"""Integers that reach a Kubernetes field are range-checked where they are written: the
workspace's platform config as well as main.yaml."""

from __future__ import annotations

import pytest

from bot.core.config.snapshot import ConfigSnapshot
from bot.core.errors import ConfigError
from bot.core.generate import generate_stack

MAIN = "web:\n  workload:\n    _type: service.Service\n    containers:\n      web: {image: nginx}\n"


def problems(files: dict[str, str]) -> list[str]:
    base = {"shop/project.yaml": "name: shop\n", "shop/dev/stack.yaml": "name: dev\n", "shop/dev/main.yaml": MAIN}
    with pytest.raises(ConfigError) as caught:
        generate_stack(ConfigSnapshot({**base, **files}), "shop/dev")
    return [str(p) for p in caught.value.problems]


def test_platform_replicas_beyond_int32_are_reported_in_the_workspace() -> None:
    workspace = "modules:\n  service:\n    configs:\n      default:\n        replicas: 10000000000\n"
    assert problems({"workspaces/dev.yaml": workspace}) == [
        "workspaces/dev.yaml:5:19: modules.service.configs.default.replicas: "
        "expected an integer from 0 to 2147483647, got 10000000000"
    ]


def test_a_termination_grace_period_may_be_int64_but_no_more() -> None:
    main = MAIN.replace("{image: nginx}", "{image: nginx, livenessProbe: {probeHandler: {url: 'http://localhost:80/'}, "
                                          "terminationGracePeriod: " + str(2**63) + "}}")
    (message,) = problems({"workspaces/dev.yaml": "modules: {}\n", "shop/dev/main.yaml": main})
    assert message.endswith("terminationGracePeriod: expected an integer from 0 to 9223372036854775807, got 9223372036854775808")
    ok = main.replace(str(2**63), str(2**63 - 1))
    assert generate_stack(ConfigSnapshot({"shop/project.yaml": "name: shop\n", "shop/dev/stack.yaml": "name: dev\n",
                                          "workspaces/dev.yaml": "modules: {}\n", "shop/dev/main.yaml": ok}), "shop/dev")

