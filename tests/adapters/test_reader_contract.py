"""The ConfigReader contract, run against a checkout on disk (`LocalConfigReader`) and an
in-memory commit (`MemoryConfigReader`): the same files read, list and refuse alike."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from bot.adapters.localfs import MAX_FILE_BYTES, LocalConfigReader
from bot.adapters.memory import Commits, MemoryCheckouts, MemoryReaders
from bot.adapters.memory.reader import MAX_FILE_BYTES as MEMORY_MAX_FILE_BYTES
from bot.core.errors import ConfigError, RuntimeFailed
from bot.core.ports import ConfigReader

FILES = {
    "shipmate.yaml": "apply: comment\n",
    "workspaces/dev.yaml": "context: {}\n",
    "workspaces/.hidden.yaml": "secret: 1\n",
    "shop/project.yaml": "name: shop\n",
    "shop/dev/stack.yaml": "name: dev\n",
    "shop/dev/main.yaml": "web: {}\n",
    "shop/.terraform/state": "x\n",
    ".github/CODEOWNERS": "* @acme/platform\n",
}

MakeReader = Callable[[Mapping[str, str]], ConfigReader]


@pytest.fixture(params=["disk", "memory"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> MakeReader:
    def on_disk(files: Mapping[str, str]) -> ConfigReader:
        for rel, text in files.items():
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_text(text)
        return LocalConfigReader(tmp_path)

    def in_memory(files: Mapping[str, str]) -> ConfigReader:
        commits = Commits()
        sha = commits.commit("acme/config", files)
        return MemoryReaders(commits)(MemoryCheckouts(commits).checkout("acme/config", sha))

    return on_disk if request.param == "disk" else in_memory


def test_files_read_and_missing_ones_are_none(make: MakeReader) -> None:
    reader = make(FILES)
    assert reader.read("shop/dev/stack.yaml") == "name: dev\n"
    assert reader.read("./shop/../shop/dev/stack.yaml") == "name: dev\n"
    assert reader.read(".github/CODEOWNERS") == "* @acme/platform\n"  # hidden: never listed, read by name
    assert reader.read("shop/dev/nothing.yaml") is None
    assert reader.read("shop/dev") is None  # a directory is not a file


def test_listing_skips_hidden_files_and_directories(make: MakeReader) -> None:
    reader = make(FILES)
    assert reader.list_files("workspaces") == ["workspaces/dev.yaml"]
    assert reader.list_files("shop") == ["shop/project.yaml"]
    assert reader.list_files("shop", recursive=True) == [
        "shop/dev/main.yaml", "shop/dev/stack.yaml", "shop/project.yaml",
    ]
    assert reader.list_files("", recursive=True) == sorted(p for p in FILES if "/." not in f"/{p}")
    assert reader.list_files("nowhere") == []
    assert reader.list_files("shipmate.yaml") == []


def test_directories(make: MakeReader) -> None:
    reader = make(FILES)
    assert reader.is_dir("shop") and reader.is_dir("shop/dev") and reader.is_dir("")
    assert not reader.is_dir("shop/dev/stack.yaml") and not reader.is_dir("nowhere")


@pytest.mark.parametrize("path", ["../outside.yaml", "shop/../../outside.yaml", "/etc/passwd"])
def test_a_path_leading_outside_is_refused(make: MakeReader, path: str) -> None:
    reader = make(FILES)
    with pytest.raises(ConfigError, match="refused to read: the path leads outside the repository"):
        reader.read(path)


def test_a_file_larger_than_the_limit_is_refused(make: MakeReader) -> None:
    assert MEMORY_MAX_FILE_BYTES == MAX_FILE_BYTES
    reader = make({"big.yaml": "a" * (MAX_FILE_BYTES + 1), "edge.yaml": "é" * (MAX_FILE_BYTES // 2)})
    with pytest.raises(ConfigError, match=f"file is larger than {MAX_FILE_BYTES} bytes"):
        reader.read("big.yaml")
    assert reader.read("edge.yaml") == "é" * (MAX_FILE_BYTES // 2)


def test_an_unknown_commit_fails_the_checkout() -> None:
    commits = Commits()
    with pytest.raises(RuntimeFailed, match="acme/config has no commit 0000000"):
        MemoryCheckouts(commits).checkout("acme/config", "0" * 40)


def test_the_same_files_are_the_same_commit() -> None:
    commits = Commits()
    one = commits.commit("acme/config", {"a": "1", "b": "2"})
    assert commits.commit("acme/config", {"b": "2", "a": "1"}) == one
    assert commits.commit("acme/other", {"a": "1", "b": "2"}) != one
    assert commits.commit("acme/config", {"a": "1"}) != one
