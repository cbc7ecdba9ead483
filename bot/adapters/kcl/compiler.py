"""Compile a KCL stack in a child process, bounded and isolated, and map its errors back.

A pull request's KCL is untrusted code. Before anything runs, every `.k` file is read through
the `ConfigReader` (so nothing outside the repository is seen) and checked: system modules
that touch files or call out (`file`, `crypto`'s file digests, `kcl_plugin`), the functions
that write files (`dump_to_file`, `dump_all_to_file`) and relative imports that climb out of
the stack are refused, each at `file:line:col`. The files are then written to a fresh
temporary directory, and kcl-lib runs there in a child process with a clean environment, an
address-space and a CPU limit, and a wall-clock timeout, under bubblewrap when it works here
(`sandbox.py`: no network, no host files). kcl-lib resolves no dependency from
a registry: each is passed as a local package (`ExternalPkg`), as Kusion's `kcl.mod` names it
(`kclmod.py`).
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.adapters.kcl import sandbox
from bot.adapters.kcl.kclmod import SCHEMAS, SHIPPED, Dependency, parse_kcl_mod, profile_entries
from bot.core.config.snapshot import join
from bot.core.errors import ConfigError, Problem
from bot.core.ports import ConfigReader, KclRender

MOD_FILE = "kcl.mod"
WORKER = Path(__file__).with_name("worker.py")
# KCL's system modules a stack may import: none reads or writes files or runs plug-ins.
ALLOWED_SYSTEM = frozenset(
    {"base64", "collection", "datetime", "json", "manifests", "math", "net", "regex", "runtime",
     "template", "units", "yaml"}
)
REFUSED_SYSTEM = frozenset({"file", "crypto", "kcl_plugin"})
_REFUSED_NAMES = re.compile(r"\b(dump_to_file|dump_all_to_file)\b")
_IMPORT = re.compile(r"^([ \t]*)import[ \t]+(\.*)([A-Za-z_][\w.]*)?", re.M)
_DIAGNOSTIC = re.compile(r"^(?P<file>/[^:\n]+\.k):(?P<line>\d+):(?P<col>\d+) - (?:error|warning)\[\w+\]: "
                         r"(?P<kind>\w+) - (?P<message>.*)$", re.M)
_POINTER = re.compile(r"-->\s*(?P<file>/[^:\n]+\.k):(?P<line>\d+):(?P<col>\d+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class _Package:
    name: str  # "" for the stack's own package
    source: str  # repository-relative directory
    files: dict[str, str]  # path relative to `source` → text


@dataclass
class LocalKclCompiler:
    """The `KclCompiler` port on kcl-lib, run in a child process of this interpreter."""

    timeout_seconds: float = 30.0
    memory_bytes: int = 2 << 30
    max_files: int = 2000
    max_bytes: int = 16 << 20
    # True: under bubblewrap (an error when it does not work); None: when it works; False: never.
    isolate: bool | None = None

    def compile(self, reader: ConfigReader, stack_path: str) -> KclRender:
        mod_file = join(stack_path, MOD_FILE)
        mod_text = reader.read(mod_file)
        deps = parse_kcl_mod(mod_file, mod_text) if mod_text is not None else ()
        main = self._package(reader, "", stack_path)
        named = profile_entries(mod_file, mod_text) if mod_text is not None else ()
        entries = self._entries(reader, main, named)
        locals_: dict[str, _Package] = {}
        self._local_deps(reader, deps, locals_, {stack_path})
        packages = [main, entries, *locals_.values()]
        problems = [p for pkg in packages for p in _refused(pkg)]
        problems += _undeclared(main, entries, mod_file, mod_text, deps)
        if problems:
            raise ConfigError(dict.fromkeys(problems))  # an entry is also a file of the stack
        shown = join(stack_path, "main.k")
        if not entries.files:
            raise ConfigError([Problem(shown, 0, 0, "", "the stack has no .k file")])
        with tempfile.TemporaryDirectory(prefix="shipmate-kcl-") as tmp:
            # The repository's files at their own paths, so relative entries and imports hold.
            repo = Path(tmp) / "repo"
            for pkg in packages:
                _write(repo / pkg.source, pkg)
            work = repo / stack_path
            work.mkdir(parents=True, exist_ok=True)
            (work / MOD_FILE).write_text('[package]\nname = "main"\n', encoding="utf-8")  # the root; no deps
            pkgs = [(name, str(SCHEMAS / name)) for name in SHIPPED if name not in locals_]
            pkgs += [(name, str(repo / pkg.source)) for name, pkg in sorted(locals_.items())]
            out = self._run(Path(tmp), work, [str(repo / rel) for rel in entries.files], pkgs, shown)
        places = {str(repo): ""}
        if "error" in out:
            raise ConfigError(_diagnostics(str(out["error"]), places))
        return KclRender(str(out["yaml"]), _app_places(str(out.get("sourcemap") or ""), places))

    def _entries(self, reader: ConfigReader, main: _Package, named: Iterable[tuple[str, int]]) -> _Package:
        """The main package's files, repository-relative: `[profile] entries` in their order
        (a directory stands for its `.k` files), else the `.k` files of the stack directory."""
        files: dict[str, str] = {}
        for path, line in named:
            if reader.is_dir(path):
                listed = [rel for rel in reader.list_files(path) if rel.endswith(".k")]
            else:
                listed = [path]
            for rel in listed:
                text = reader.read(rel)
                if text is None:
                    raise ConfigError([Problem(join(main.source, MOD_FILE), line, 1, "profile.entries",
                                               f"no such file: {rel}")])
                files[rel] = text
        if not named:
            files = {join(main.source, rel): text for rel, text in sorted(main.files.items()) if "/" not in rel}
        return _Package("", "", files)

    def _package(self, reader: ConfigReader, name: str, source: str) -> _Package:
        files: dict[str, str] = {}
        total = 0
        prefix = f"{source}/" if source else ""
        for rel in reader.list_files(source, recursive=True):
            if not rel.endswith(".k") or rel.endswith("_test.k"):
                continue
            text = reader.read(rel)
            if text is None:
                continue
            total += len(text)
            if len(files) >= self.max_files or total > self.max_bytes:
                raise ConfigError([Problem(rel, 0, 0, "", f"a KCL package may hold at most {self.max_files} "
                                                          f"files and {self.max_bytes} bytes")])
            files[rel[len(prefix):]] = text
        return _Package(name, source, files)

    def _local_deps(self, reader: ConfigReader, deps: Iterable[Dependency], into: dict[str, _Package],
                    seen: set[str]) -> None:
        for dep in deps:
            if not dep.path or dep.name in into:
                continue
            into[dep.name] = self._package(reader, dep.name, dep.path)
            if dep.path in seen:
                continue
            seen.add(dep.path)
            mod_file = join(dep.path, MOD_FILE)
            text = reader.read(mod_file)
            if text is not None:
                self._local_deps(reader, parse_kcl_mod(mod_file, text), into, seen)

    def _run(self, root: Path, work: Path, entries: list[str], pkgs: list[tuple[str, str]],
             shown: str) -> dict[str, object]:
        job = {"work_dir": str(work), "files": entries, "pkgs": pkgs, "memory_bytes": self.memory_bytes,
               "cpu_seconds": max(1, int(self.timeout_seconds) + 1)}
        env = {"PATH": os.defpath, "HOME": str(root), "LANG": "C.UTF-8", "KCL_CACHE_PATH": str(root)}
        argv = [sys.executable, "-I", str(WORKER)]
        box = sandbox.find() if self.isolate is not False else None
        if box is not None:
            argv = box.wrap(argv, root, work)
        elif self.isolate:
            raise ConfigError([Problem(shown, 0, 0, "", "KCL must compile under bubblewrap, which does not work here")])
        try:
            proc = subprocess.run(argv, input=json.dumps(job), capture_output=True,
                                  text=True, cwd=work, env=env, timeout=self.timeout_seconds, check=False)
        except subprocess.TimeoutExpired:
            raise ConfigError([Problem(shown, 0, 0, "", f"KCL did not finish within {self.timeout_seconds:g} s "
                                                              "(a loop, or a program too large)")]) from None
        try:
            out: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            reason = "ran out of memory" if proc.returncode in (-9, 137) or "memory" in proc.stderr.lower() \
                else f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}"
            raise ConfigError([Problem(shown, 0, 0, "", f"KCL stopped: {reason}")]) from None
        return out


def _write(target: Path, pkg: _Package) -> None:
    for rel, text in pkg.files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _imports(text: str) -> Iterable[tuple[int, str, str]]:
    """(offset, leading dots, dotted name) of each import statement, continuation lines joined."""
    joined = text.replace("\\\n", "  ")
    for match in _IMPORT.finditer(joined):
        yield match.start(2), match[2], match[3] or ""


def _refused(pkg: _Package) -> list[Problem]:
    problems: list[Problem] = []
    for rel, text in sorted(pkg.files.items()):
        file = join(pkg.source, rel)
        depth = file.count("/")
        for offset, dots, name in _imports(text):
            line, col = _position(text, offset)
            head = name.split(".")[0]
            if not dots and head in REFUSED_SYSTEM:
                problems.append(Problem(file, line, col, "import", f"module {head!r} is not available: "
                                        "a stack's KCL may not read files, write files or run plug-ins"))
            elif dots and len(dots) - 1 > depth:
                problems.append(Problem(file, line, col, "import",
                                        f"relative import {dots}{name} leaves the repository"))
        for match in _REFUSED_NAMES.finditer(text):
            line, col = _position(text, match.start())
            problems.append(Problem(file, line, col, match[1], "writing files is not available to a stack's KCL"))
    return problems


def _undeclared(main: _Package, entries: _Package, mod_file: str, mod_text: str | None,
                deps: Iterable[Dependency]) -> list[Problem]:
    """Imports in the main package of packages `kcl.mod` does not name (Kusion fails there too)."""
    declared = {d.name for d in deps}
    own = {rel.split("/")[0] for rel in main.files if "/" in rel}
    problems: list[Problem] = []
    for file, text in sorted(entries.files.items()):
        for offset, dots, name in _imports(text):
            head = name.split(".")[0]
            if dots or not head or head in declared or head in own or head in ALLOWED_SYSTEM | REFUSED_SYSTEM:
                continue
            line, col = _position(text, offset)
            where = "kcl.mod has no [dependencies]" if mod_text is None else f"{mod_file} does not name it"
            hint = f"; add {head} = {{ oci = \"oci://ghcr.io/kusionstack/{head}\", tag = \"...\" }}" \
                if head in SHIPPED else f"; add {head} = {{ path = \"...\" }}"
            problems.append(Problem(file, line, col, "import", f"package {head!r} is imported but {where}{hint}"))
    return problems


def _where(path: str, places: dict[str, str]) -> str:
    """The repository path of a file kcl-lib saw in the temporary directory."""
    for tmp, source in places.items():
        if path.startswith(tmp + "/"):
            return join(source, path[len(tmp) + 1:])
    if path.startswith(str(SCHEMAS) + "/"):
        return "shipmate:kcl/" + path[len(str(SCHEMAS)) + 1:]
    return posixpath.basename(path)


def _app_places(sourcemap: str, places: dict[str, str]) -> dict[str, tuple[str, int, int]]:
    """Where each top-level value (an app) is defined, from kcl-lib's source map."""
    try:
        data = json.loads(sourcemap) if sourcemap else {}
        sources, names = data.get("sources", []), data.get("names", [])
        return {str(names[m["name_index"]]): (_where(str(sources[m["src_index"]]), places),
                                              int(m["src_line"]), int(m["src_col"]) + 1)
                for m in data.get("mappings", []) if m.get("name_index") is not None}
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return {}  # the map only improves where render problems point


def _diagnostics(text: str, places: dict[str, str]) -> list[Problem]:
    """KCL's diagnostics as problems in repository paths (the temporary directory mapped back)."""
    text = _ANSI.sub("", text)

    def where(path: str) -> str:
        return _where(path, places)

    found = [Problem(where(m["file"]), int(m["line"]), int(m["col"]), "", f"{m['kind']}: {m['message'].strip()}")
             for m in _DIAGNOSTIC.finditer(text)]
    if found:
        return list(dict.fromkeys(found))
    pointer = _POINTER.search(text)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    message = lines[0] if lines else "KCL failed"
    tail = [ln for ln in lines if ln.startswith("|") and len(ln) > 1 and not ln[1:].strip().isdigit()]
    detail = tail[-1].lstrip("| ^").strip() if tail else ""
    if pointer:
        return [Problem(where(pointer["file"]), int(pointer["line"]), int(pointer["col"]), "",
                        f"{message}: {detail}" if detail else message)]
    return [Problem("", 0, 0, "", message)]
