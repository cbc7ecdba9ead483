"""KCL stacks compiled by the kcl-lib adapter: Kusion's raw render from the shipped schemas and
local packages, errors at `file:line:col`, refused dependencies and imports, and the bounds."""

from __future__ import annotations

import socket
import string
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bot.adapters.kcl import SHIPPED, LocalKclCompiler, parse_kcl_mod, sandbox
from bot.adapters.localfs import LocalConfigReader
from bot.core.errors import ConfigError
from tests.golden import assert_golden

ROOT = Path(__file__).resolve().parents[2]
KCL = ROOT / "fixtures" / "configs" / "kcl"
GOLDEN = Path(__file__).parent / "golden"
HEADER = 'import kam.v1.app_configuration as ac\nimport service\nimport service.container as c\n\n'
MOD = textwrap.dedent("""\
    [package]
    name = "t"

    [dependencies]
    kam = { git = "https://github.com/KusionStack/kam.git", tag = "0.2.0" }
    service = { oci = "oci://ghcr.io/kusionstack/service", tag = "0.2.0" }
    """)


def stack(tmp_path: Path, main: str, mod: str | None = MOD, **files: str) -> LocalConfigReader:
    """A repository with the stack `app/dev` holding `main.k` (and `kcl.mod`) and `files`."""
    (tmp_path / "app" / "dev").mkdir(parents=True)
    (tmp_path / "app" / "dev" / "main.k").write_text(main)
    if mod is not None:
        (tmp_path / "app" / "dev" / "kcl.mod").write_text(mod)
    for rel, text in files.items():
        path = tmp_path / rel.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return LocalConfigReader(tmp_path)


def problems(reader: LocalConfigReader, compiler: LocalKclCompiler | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        (compiler or LocalKclCompiler()).compile(reader, "app/dev")
    return [str(p) for p in caught.value.problems]


def service(body: str) -> str:
    return HEADER + "web: ac.AppConfiguration {\n    workload: service.Service {\n" + textwrap.indent(body, " " * 8) + "    }\n}\n"


def test_the_example_renders_as_kusion_with_type_paths_everywhere() -> None:
    render = LocalKclCompiler().compile(LocalConfigReader(KCL), "quickstart/dev")
    assert_golden(GOLDEN / "kcl-quickstart-render.yaml", render.text)
    assert render.apps == {"quickstart": ("quickstart/dev/main.k", 10, 1)}
    app = yaml.safe_load(render.text)["quickstart"]
    assert app["_type"] == "kam.v1.app_configuration.AppConfiguration"
    assert app["workload"]["containers"]["quickstart"]["_type"] == "service.container.Container"
    assert app["accessories"]["network"]["ports"][0]["_type"] == "network.Port"


def test_every_shipped_package_is_named() -> None:
    assert SHIPPED == ("job", "k8s_manifest", "kam", "network", "service", "terraform")


def test_a_type_error_is_located_in_the_stack(tmp_path: Path) -> None:
    reader = stack(tmp_path, service('containers: {\n    web: c.Container {\n        image: 1\n    }\n}\n'))
    [problem] = problems(reader)
    assert problem.startswith("app/dev/main.k:9:")
    assert "TypeError: expected str, got int(1)" in problem


def test_a_syntax_error_and_a_failed_check_are_located(tmp_path: Path) -> None:
    assert problems(stack(tmp_path / "a", "a = [1, 2\n"))[0].startswith("app/dev/main.k:1:")
    failed = problems(stack(tmp_path / "b", service(
        'containers: {\n    web: c.Container {\n        image: "x"\n        env: {"1bad": "v"}\n    }\n}\n')))
    assert failed[0].startswith("app/dev/main.k:")
    assert "a valid environment variable name" in failed[0]


def test_an_evaluation_error_is_located(tmp_path: Path) -> None:
    [problem] = problems(stack(tmp_path, "a = [1][3]\n"))
    assert problem == "app/dev/main.k:1:1: EvaluationError: list index out of range: 3"


def test_an_unknown_dependency_names_its_kcl_mod_line(tmp_path: Path) -> None:
    mod = MOD + 'mysql = { oci = "oci://ghcr.io/kusionstack/mysql", tag = "0.2.0" }\n'
    [problem] = problems(stack(tmp_path, "a = 1\n", mod))
    assert problem.startswith("app/dev/kcl.mod:7:1: dependencies.mysql: unknown dependency 'mysql'")
    assert "never from a registry" in problem


def test_an_import_kcl_mod_does_not_name_is_an_error(tmp_path: Path) -> None:
    main = HEADER + "import network as n\n\nx = n.Port {port: 80}\n"
    [problem] = problems(stack(tmp_path, main))
    assert problem == (
        "app/dev/main.k:5:8: import: package 'network' is imported but app/dev/kcl.mod does not name it; "
        'add network = { oci = "oci://ghcr.io/kusionstack/network", tag = "..." }')
    [without] = problems(stack(tmp_path / "b", "import service\n", mod=None))
    assert "kcl.mod has no [dependencies]" in without


def test_local_path_dependencies_resolve_in_the_repository(tmp_path: Path) -> None:
    mod = MOD + 'shared = { path = "../../lib/shared" }\n'
    reader = stack(tmp_path, HEADER + 'import shared\n\nweb: ac.AppConfiguration {\n    workload: shared.web("nginx")\n}\n', mod,
                   lib__shared__kcl_mod="", lib__shared__shared_k=textwrap.dedent("""\
                       import service
                       import service.container as c

                       web = lambda image: str {
                           service.Service {containers: {main: c.Container {image: image}}}
                       }
                       """))
    (tmp_path / "lib" / "shared" / "kcl_mod").rename(tmp_path / "lib" / "shared" / "kcl.mod")
    (tmp_path / "lib" / "shared" / "shared_k").rename(tmp_path / "lib" / "shared" / "shared.k")
    render = yaml.safe_load(LocalKclCompiler().compile(reader, "app/dev").text)
    assert render["web"]["workload"]["containers"]["main"] == {"_type": "service.container.Container", "image": "nginx"}


def test_a_path_dependency_outside_the_repository_is_refused(tmp_path: Path) -> None:
    [problem] = problems(stack(tmp_path, "a = 1\n", MOD + 'x = { path = "../../../elsewhere" }\n'))
    assert problem == "app/dev/kcl.mod:7:1: dependencies.x: path '../../../elsewhere' is not inside the repository"


def test_an_error_in_a_local_package_names_its_file(tmp_path: Path) -> None:
    reader = stack(tmp_path, "import shared\n\na = shared.b\n", MOD + 'shared = { path = "../shared" }\n',
                   app__shared__lib_k="b = 1 +\n")
    (tmp_path / "app" / "shared" / "lib_k").rename(tmp_path / "app" / "shared" / "lib.k")
    assert problems(reader)[0].startswith("app/shared/lib.k:1:")


@pytest.mark.parametrize(("main", "expected"), [
    ('import file\n\na = file.read("/etc/hostname")\n', "app/dev/main.k:1:8: import: module 'file' is not available"),
    ('import crypto\n\na = crypto.filesha256("/etc/hostname")\n', "app/dev/main.k:1:8: import: module 'crypto'"),
    ('import \\\n  file\n', "app/dev/main.k:2:3: import: module 'file'"),
    ('import kcl_plugin.hello\n', "app/dev/main.k:1:8: import: module 'kcl_plugin'"),
    ('import yaml as y\n\n_x = y.dump_to_file({}, "/tmp/x")\n', "app/dev/main.k:3:8: dump_to_file: writing files"),
    ('import ....etc.x\n', "app/dev/main.k:1:8: import: relative import ....etc.x leaves the repository"),
])
def test_untrusted_kcl_reads_and_writes_no_file(tmp_path: Path, main: str, expected: str) -> None:
    found = problems(stack(tmp_path, main))
    assert found[0].startswith(expected), found


def test_a_runaway_program_is_stopped(tmp_path: Path) -> None:
    reader = stack(tmp_path, "a = [i * i for i in range(2000000000)]\n")
    [problem] = problems(reader, LocalKclCompiler(timeout_seconds=2, memory_bytes=1 << 30))
    assert problem.startswith("app/dev/main.k: KCL ")
    assert "did not finish within 2 s" in problem or "KCL stopped" in problem


def test_a_stack_without_kcl_files_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "app" / "dev").mkdir(parents=True)
    (tmp_path / "app" / "dev" / "kcl.mod").write_text(MOD)
    [problem] = problems(LocalConfigReader(tmp_path))
    assert problem == "app/dev/main.k: the stack has no .k file"


def test_nothing_is_left_behind(tmp_path: Path) -> None:
    reader = stack(tmp_path, "a = 1\n")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert LocalKclCompiler().compile(reader, "app/dev").text == "a: 1"
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


NAMES = st.text(string.ascii_lowercase + "_", min_size=1, max_size=12).filter(lambda n: n[0] != "_")


@given(st.dictionaries(NAMES, st.sampled_from(["shipped", "path"]), max_size=6), st.integers(0, 3))
def test_kcl_mod_dependencies_are_found_on_their_lines(kinds: dict[str, str], blank: int) -> None:
    lines = ["[package]", 'name = "p"', *([""] * blank), "[dependencies]"]
    where: dict[str, int] = {}
    for name, kind in kinds.items():
        value = f'{{ path = "../{name}" }}' if kind == "path" else '{ oci = "oci://x/y", tag = "1" }'
        lines.append(f"{name} = {value}")
        where[name] = len(lines)
    text = "\n".join(lines) + "\n"
    try:
        deps = parse_kcl_mod("s/kcl.mod", text)
    except ConfigError as exc:
        for problem in exc.problems:
            name = problem.field.split(".", 1)[1]
            assert kinds[name] == "shipped" and name not in SHIPPED
            assert problem.line == where[name]
        return
    assert {d.name: d.line for d in deps} == where
    assert {d.name: d.path for d in deps} == {n: (n if k == "path" else "") for n, k in kinds.items()}


def test_under_bubblewrap_the_compile_sees_no_host_file_and_no_network(tmp_path: Path) -> None:
    box = sandbox.find()
    if box is None:  # a machine without a working bwrap: insisting on it is an error, not a silent run
        with pytest.raises(ConfigError, match="bubblewrap"):
            LocalKclCompiler(isolate=True).compile(stack(tmp_path, "a = 1\n"), "app/dev")
        return
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("key")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        probe = textwrap.dedent(f"""\
            import os, socket
            print(os.path.exists({str(secret)!r}), os.path.exists({str(ROOT / '.git')!r}))
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=2)
                print("connected")
            except OSError:
                print("no network")
            """)
        out = subprocess.run(box.wrap([sys.executable, "-I", "-c", probe], scratch, scratch),
                             capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.split() == ["False", "False", "no", "network"]
    render = LocalKclCompiler(isolate=True).compile(LocalConfigReader(KCL), "quickstart/dev")
    assert render.apps == {"quickstart": ("quickstart/dev/main.k", 10, 1)}


@given(
    module=st.sampled_from(["file", "crypto", "kcl_plugin.hello"]),
    before=st.lists(st.sampled_from(["", "# a comment", "a = 1", "import regex", "import base64 as b"]), max_size=4),
    gap=st.sampled_from([" ", "  ", "\t", " \\\n  ", "\\\n"]),
    alias=st.sampled_from(["", " as f", " as _x"]),
)
def test_a_refused_import_is_found_however_it_is_written(module: str, before: list[str], gap: str, alias: str) -> None:
    """Refused before anything runs, at the line of the `import` keyword."""
    main = "\n".join([*before, f"import{gap}{module}{alias}", "b = 2", ""])
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "app" / "dev").mkdir(parents=True)
        (Path(tmp) / "app" / "dev" / "main.k").write_text(main)
        with pytest.raises(ConfigError) as caught:
            LocalKclCompiler(isolate=False, timeout_seconds=0.001).compile(LocalConfigReader(Path(tmp)), "app/dev")
    [problem] = caught.value.problems
    assert problem.file == "app/dev/main.k" and problem.field == "import"
    assert f"module {module.split('.')[0]!r} is not available" in problem.message
    assert problem.line == len(before) + 1 + gap.count("\n")


def test_profile_entries_are_the_main_package_in_their_order(tmp_path: Path) -> None:
    """As konfig's multi-stack example: a shared base outside the stack, the stack's own last."""
    mod = MOD + '\n[profile]\nentries = ["../base/base.k", "main.k"]\n'
    base = 'schema App:\n    replicas: int\n    image?: str\n\nweb: App {\n    replicas: 1\n    image: "nginx"\n}\n'
    reader = stack(tmp_path, "web: App {\n    replicas = 2\n}\n", mod, app__base__base_k=base)
    (tmp_path / "app" / "base" / "base_k").rename(tmp_path / "app" / "base" / "base.k")
    (tmp_path / "app" / "dev" / "ignored.k").write_text("ignored = 1\n")  # not an entry
    render = LocalKclCompiler().compile(reader, "app/dev")
    assert yaml.safe_load(render.text) == {"web": {"_type": "App", "replicas": 2, "image": "nginx"}}
    assert render.apps["web"][0] == "app/dev/main.k"  # the last definition


@pytest.mark.parametrize(("entries", "expected"), [
    ('["../../../x.k"]', "app/dev/kcl.mod:9:1: profile.entries: entry '../../../x.k' is not a file inside the repository"),
    ('["missing.k"]', "app/dev/kcl.mod:9:1: profile.entries: no such file: app/dev/missing.k"),
])
def test_bad_profile_entries_name_their_line(tmp_path: Path, entries: str, expected: str) -> None:
    assert problems(stack(tmp_path, "a = 1\n", MOD + f"\n[profile]\nentries = {entries}\n")) == [expected]
