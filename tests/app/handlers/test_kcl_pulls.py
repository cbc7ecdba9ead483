"""A pull request that moves a stack to KCL (`main.k`, `kcl.mod`) is previewed like its YAML:
the checkout's files compiled, a local package resolved, and a KCL error on the comment."""

from __future__ import annotations

import textwrap

from tests.app.handlers.bench import Bench, object_id

MOD = textwrap.dedent("""\
    [package]
    name = "dev"

    [dependencies]
    kam = { git = "https://github.com/KusionStack/kam.git", tag = "0.2.0" }
    memory = { path = "../../lib/memory" }
    """)
# A local package (Kusion's `kusion mod` layout) whose schema renders as `_type: memory.Object`.
MEMORY = "schema Object:\n    text: str\n    size?: int\n"
MAIN = textwrap.dedent("""\
    import kam.v1.app_configuration as ac
    import memory

    web: ac.AppConfiguration {
        accessories: {
            notes: memory.Object {text: "from KCL", size: len("from KCL")}
        }
    }
    """)


def test_a_kcl_stack_is_previewed_from_the_pull_request(bench: Bench) -> None:
    bench.world.objects[object_id("notes")] = {"text": "hello"}
    pr = bench.open({
        "shop/dev/main.yaml": None,
        "shop/dev/main.k": MAIN,
        "shop/dev/kcl.mod": MOD,
        "lib/memory/kcl.mod": '[package]\nname = "memory"\n',
        "lib/memory/object.k": MEMORY,
    })
    [preview] = bench.bodies(pr)
    assert "### `shop` / `dev`" in preview
    assert "from KCL" in preview, preview
    assert bench.status(pr.head_sha) == ("success", "1 stack: 0 to create, 1 to update, 0 to delete, 0 unchanged")
    assert bench.world.objects == {object_id("notes"): {"text": "hello"}}


def test_a_kcl_error_is_reported_at_its_line(bench: Bench) -> None:
    pr = bench.open({
        "shop/dev/main.yaml": None,
        "shop/dev/main.k": MAIN.replace('text: "from KCL"', "text: 1"),
        "shop/dev/kcl.mod": MOD,
        "lib/memory/object.k": MEMORY,
    })
    [preview] = bench.bodies(pr)
    assert "shop/dev/main.k:6:" in preview and "expected str, got int(1)" in preview, preview
    assert bench.status(pr.head_sha) == ("failure", "1 of 1 stack failed to preview")


def test_a_pull_request_cannot_read_the_bots_files(bench: Bench) -> None:
    pr = bench.open({
        "shop/dev/main.yaml": None,
        "shop/dev/main.k": 'import file\n\nweb = {accessories: {notes: {_type: "memory.Object", text: file.read("/etc/hostname")}}}\n',
    })
    [preview] = bench.bodies(pr)
    assert "shop/dev/main.k:1:8: import: module 'file' is not available" in preview, preview


def test_a_change_only_to_a_package_the_stack_reads_previews_the_stack(bench: Bench) -> None:
    bench.push({"shop/dev/main.yaml": None, "shop/dev/main.k": MAIN, "shop/dev/kcl.mod": MOD,
                "lib/memory/object.k": MEMORY})
    pr = bench.open({"lib/memory/object.k": MEMORY + "    note?: str\n"})
    [preview] = bench.bodies(pr)
    assert "### `shop` / `dev`" in preview, preview
    assert "### `shop` / `prod`" not in preview
