"""The local config reader on hostile directories: symbolic links out of the repository or
into its hidden directories, link loops, oversized and non-UTF-8 files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.adapters.localfs import MAX_FILE_BYTES, LocalConfigReader
from bot.app.configrepo import generate_from
from bot.core.errors import ConfigError


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "workspaces").mkdir(parents=True)
    (root / "workspaces" / "dev.yaml").write_text("modules: {}\n")
    (root / "shop" / "dev").mkdir(parents=True)
    (root / "shop" / "project.yaml").write_text("name: shop\n")
    (root / "shop" / "dev" / "stack.yaml").write_text("name: dev\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[remote]\nurl = https://x-access-token:ghs_secret@github.com/a/b\n")
    (tmp_path / "outside.yaml").write_text("web: {}\n")
    return root


def refused(reader: LocalConfigReader, path: str) -> str:
    with pytest.raises(ConfigError) as caught:
        reader.read(path)
    return str(caught.value)


def test_links_out_of_the_repository_are_refused_with_the_links_path(repo: Path) -> None:
    main = repo / "shop" / "dev" / "main.yaml"
    reader = LocalConfigReader(repo)
    for target in ("/proc/self/environ", "../../../outside.yaml", str(repo.parent / "outside.yaml")):
        main.unlink(missing_ok=True)
        os.symlink(target, main)
        assert refused(reader, "shop/dev/main.yaml") == (
            "shop/dev/main.yaml:1:1: refused to read: a symbolic link that leads outside the repository"
        )


def test_a_linked_directory_out_of_the_repository_is_refused(repo: Path) -> None:
    os.symlink(repo.parent, repo / "shop" / "ext")
    reader = LocalConfigReader(repo)
    assert refused(reader, "shop/ext/outside.yaml") == (
        "shop/ext/outside.yaml:1:1: refused to read: a symbolic link that leads outside the repository"
    )
    with pytest.raises(ConfigError, match="leads outside the repository"):
        reader.is_dir("shop/ext")


def test_links_into_hidden_directories_and_loops_are_refused(repo: Path) -> None:
    os.symlink("../../.git/config", repo / "shop" / "dev" / "main.yaml")
    os.symlink("b.yaml", repo / "shop" / "dev" / "a.yaml")
    os.symlink("a.yaml", repo / "shop" / "dev" / "b.yaml")
    reader = LocalConfigReader(repo)
    assert refused(reader, "shop/dev/main.yaml") == (
        "shop/dev/main.yaml:1:1: refused to read: a symbolic link that leads into a hidden directory"
    )
    assert refused(reader, "shop/dev/a.yaml") == "shop/dev/a.yaml:1:1: refused to read: a symbolic link loop"
    assert refused(reader, "../outside.yaml") == "../outside.yaml:1:1: refused to read: the path leads outside the repository"


def test_generate_reports_a_link_out_as_a_config_error_not_a_traceback(repo: Path) -> None:
    os.symlink("/proc/self/environ", repo / "shop" / "dev" / "main.yaml")
    with pytest.raises(ConfigError, match=r"^shop/dev/main\.yaml:1:1: refused to read: a symbolic link"):
        generate_from(LocalConfigReader(repo), "shop/dev")


def test_links_inside_the_repository_are_followed(repo: Path) -> None:
    (repo / "common").mkdir()
    (repo / "common" / "main.yaml").write_text("web: {}\n")
    os.symlink("../../common/main.yaml", repo / "shop" / "dev" / "main.yaml")
    reader = LocalConfigReader(repo)
    assert reader.read("shop/dev/main.yaml") == "web: {}\n"
    assert "shop/dev/main.yaml" in reader.list_files("shop/dev")


def test_oversized_and_non_utf8_files_are_config_errors_with_a_position(repo: Path) -> None:
    (repo / "shop" / "dev" / "main.yaml").write_bytes(b"a: 1\nb: \xff\n")
    (repo / "shop" / "dev" / "big.yaml").write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    reader = LocalConfigReader(repo)
    assert refused(reader, "shop/dev/main.yaml") == "shop/dev/main.yaml:2:4: expected a UTF-8 text file"
    assert refused(reader, "shop/dev/big.yaml") == f"shop/dev/big.yaml:1:1: file is larger than {MAX_FILE_BYTES} bytes"
