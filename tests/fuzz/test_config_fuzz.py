"""Fuzz: config parsing on generated hostile YAML, through the real loaders.

Every file of a stack (shipmate.yaml, the workspace, project.yaml, stack.yaml, main.yaml and a
raw manifest) is replaced in turn by a generated text (alias bombs, deep nesting, huge
numbers, tags, random bytes, documents shaped like config with wrong types) and the stack is
generated as the CLI and the bot do. The only exception allowed out is ConfigError (a bad
config), each problem at `file:line:col`, and the memory any example takes stays bounded.
Deterministic (`derandomize`) and bounded in time (`max_examples`) for CI.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.localfs import LocalConfigReader
from bot.app.configrepo import generate_from
from bot.cli import main
from bot.core.config.snapshot import ConfigSnapshot
from bot.core.errors import ConfigError
from bot.core.generate import generate_stack
from bot.core.modules.registry import builtin_registry
from tests.fuzz.strategies import hostile_yaml

MEMORY_LIMIT = 64 * 1024 * 1024  # bytes traced at the peak of one example

STACK = {
    "shipmate.yaml": "apply: {mode: merge}\n",
    "workspaces/dev.yaml": "modules:\n  service:\n    configs:\n      default: {replicas: 2}\n",
    "shop/project.yaml": "name: shop\n",
    "shop/dev/stack.yaml": "name: dev\n",
    "shop/dev/main.yaml": (
        "web:\n  workload:\n    _type: service.Service\n    containers:\n      web: {image: nginx:1.25}\n"
        "  accessories:\n    network: {_type: network.Network, ports: [{port: 80}]}\n"
        "    raw: {_type: k8s_manifest.K8sManifest, paths: [manifests]}\n"
    ),
    "shop/dev/manifests/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {a: b}\n",
}
REGISTRY = builtin_registry()
FUZZ = settings(
    max_examples=120, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _generate_bounded(files: dict[str, str]) -> None:
    tracemalloc.start()
    try:
        try:
            generate_stack(ConfigSnapshot(files), "shop/dev", REGISTRY)
        except ConfigError as exc:
            for problem in exc.problems:
                assert problem.file and problem.line >= 1 and problem.column >= 1, str(problem)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT, f"peak {peak} bytes"


@FUZZ
@given(target=st.sampled_from(sorted(STACK)), text=hostile_yaml())
def test_generate_on_hostile_yaml_raises_only_located_config_errors(target: str, text: str) -> None:
    _generate_bounded({**STACK, target: text})


@FUZZ
@given(text=hostile_yaml())
def test_hostile_yaml_under_an_app_key_of_main_yaml(text: str) -> None:
    # The generated document as the body of one app: reaches the module schemas.
    indented = "".join("    " + line + "\n" for line in text.splitlines())
    main_yaml = f"web:\n  workload:\n    _type: service.Service\n    containers:\n      web: {{image: x}}\napi:\n  workload:\n{indented}"
    _generate_bounded({**STACK, "shop/dev/main.yaml": main_yaml})


@settings(FUZZ, max_examples=40)
@given(target=st.sampled_from(sorted(STACK)), data=st.binary(max_size=2_000) | hostile_yaml().map(str.encode))
def test_the_cli_and_the_reader_on_hostile_files_exit_2_without_a_traceback(
    tmp_path_factory: pytest.TempPathFactory, target: str, data: bytes
) -> None:
    root = tmp_path_factory.mktemp("repo")
    for rel, text in STACK.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / target).write_bytes(data)
    try:
        generate_from(LocalConfigReader(root), "shop/dev", REGISTRY)
    except ConfigError:
        pass
    code = main(["generate", "-w", str(Path(root) / "shop" / "dev"), "-o", str(root / "spec.yaml")])
    assert code in (0, 2)
