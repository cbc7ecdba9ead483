"""git as a child of the bot: the checkout cache and the state branch start git with a built
environment (no token, no webhook secret, no salt), the token never lands in a file, and
the archive of a commit is extracted safely on every Python the package supports.

A `git` first on PATH records each call's environment and arguments, then runs the real git:
what the bot's git children really received, observed from the outside.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from bot.adapters.github.checkout import (
    GitCheckouts,
    extract_checked,
    extract_tree,
    split_credentials,
)
from bot.adapters.gitstate import git_backend
from bot.core.errors import RuntimeFailed
from fixtures.github_sim import GitHubSim

TOKEN = "ghs_FAKEinstallationTOKEN0001"
SECRETS = {
    "GITHUB_TOKEN": "ghp_FAKEprocessTOKEN0002",
    "SHIPMATE_WEBHOOK_SECRET": "whsec-FAKE-0003",
    "SHIPMATE_SECRET_SALT": "salt-FAKE-0004",
    "SHIPMATE_GITHUB_APP_PRIVATE_KEY": "-----BEGIN FAKE KEY 0005",
}
IDENTITY = {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
            "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}


def recording_git(tmp_path: Path) -> tuple[Path, Path]:
    """A directory with a `git` that appends its arguments and environment to a log."""
    real = shutil.which("git")
    assert real is not None
    bindir, log = tmp_path / "bin", tmp_path / "git-calls.log"
    bindir.mkdir()
    (bindir / "git").write_text(
        f'#!/bin/sh\n{{ echo "ARGS $*"; env; echo "=== end"; }} >> "{log}"\nexec "{real}" "$@"\n'
    )
    (bindir / "git").chmod(0o755)
    return bindir, log


@pytest.fixture
def repo_on_sim(tmp_path):
    with GitHubSim.start(tmp_path / "gh", users=[f"bot:{TOKEN}:admin"]) as sim:
        sim.create_repo("acme", "infra")
        work = tmp_path / "work"
        env = {**os.environ, **IDENTITY, "GIT_TERMINAL_PROMPT": "0"}
        url = sim.git_url("acme", "infra", TOKEN, "bot")
        subprocess.run(["git", "clone", "-q", url, str(work)], check=True, env=env, capture_output=True)
        (work / "main.yaml").write_text("a: 1\n")
        subprocess.run(["git", "add", "-A"], cwd=work, check=True, env=env)
        subprocess.run(["git", "commit", "-qm", "init"], cwd=work, check=True, env=env)
        subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=work, check=True, env=env,
                       capture_output=True)
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, check=True, env=env,
                             capture_output=True, text=True).stdout.strip()
        yield url, sha


def calls(log: Path) -> list[str]:
    return [c for c in log.read_text().split("=== end\n") if c.strip()]


def files_under(root: Path) -> str:
    return "\n".join(p.read_bytes().decode(errors="replace") for p in root.rglob("*") if p.is_file())


def test_checkout_git_gets_no_secret_and_keeps_no_token(repo_on_sim, tmp_path: Path) -> None:
    url, sha = repo_on_sim
    assert TOKEN in url
    bindir, log = recording_git(tmp_path)
    environ = {**SECRETS, "PATH": f"{bindir}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    checkouts = GitCheckouts(tmp_path / "cache", lambda repo: url, environ)
    tree = Path(checkouts.checkout("acme/infra", sha))
    assert (tree / "main.yaml").read_text() == "a: 1\n"
    recorded = [c for c in calls(log) if not c.startswith("ARGS http-backend")]
    assert any(c.startswith("ARGS -c http.extraHeader=Authorization: Basic ") for c in recorded)
    for call in recorded:
        environment = call.split("\n", 1)[1]
        for value in [*SECRETS.values(), TOKEN]:
            assert value not in environment
        assert TOKEN not in call  # not in the URL either: a Basic header given with -c
    # Nothing on disk holds the token: not the mirror's config, FETCH_HEAD or the tree.
    assert TOKEN not in files_under(tmp_path / "cache")


def test_state_branch_git_gets_no_secret(repo_on_sim, tmp_path: Path, monkeypatch) -> None:
    url, _ = repo_on_sim
    bindir, log = recording_git(tmp_path)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    with git_backend(url, "shipmate-state", data_dir=tmp_path / "data") as backend:
        assert backend.latest("shop", "prod") is None
    # (The simulator serves git through `git http-backend`: its calls are not the bot's.)
    recorded = [c for c in calls(log) if not c.startswith("ARGS http-backend")]
    assert any(c.startswith("ARGS init --bare") for c in recorded)
    assert any(c.startswith("ARGS fetch ") for c in recorded)
    for call in recorded:
        environment = call.split("\n", 1)[1]
        for value in SECRETS.values():
            assert value not in environment


def test_split_credentials() -> None:
    bare, options = split_credentials("https://x-access-token:t%40k@github.example:8443/a/b.git")
    assert bare == "https://github.example:8443/a/b.git"
    assert options == ["-c", "http.extraHeader=Authorization: Basic eC1hY2Nlc3MtdG9rZW46dEBr"]
    assert split_credentials("https://github.com/a/b.git") == ("https://github.com/a/b.git", [])
    assert split_credentials("/srv/git/a.git") == ("/srv/git/a.git", [])


# --- extracting a commit's archive ------------------------------------------------------------


def make_tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> tarfile.TarFile:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    buffer.seek(0)
    return tarfile.open(fileobj=buffer)


def entry(name: str, kind: bytes = tarfile.REGTYPE, *, link: str = "", mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, mode
    return info


def test_fallback_extracts_a_normal_tree(tmp_path: Path) -> None:
    tar = make_tar(
        (entry("shop", tarfile.DIRTYPE, mode=0o755), None),
        (entry("shop/main.yaml"), b"a: 1\n"),
        (entry("run.sh", mode=0o4777), b"#!/bin/sh\n"),
        (entry("shop/link.yaml", tarfile.SYMTYPE, link="main.yaml"), None),
        (entry("shop/hard.yaml", tarfile.LNKTYPE, link="shop/main.yaml"), None),
    )
    extract_checked(tar, tmp_path)
    assert (tmp_path / "shop" / "link.yaml").read_text() == "a: 1\n"
    assert (tmp_path / "shop" / "hard.yaml").read_text() == "a: 1\n"
    assert (tmp_path / "run.sh").stat().st_mode & 0o7777 == 0o755  # no set-id, no world write


@pytest.mark.parametrize(("members", "why"), [
    ([(entry("/etc/evil"), b"x")], "absolute path"),
    ([(entry("../evil"), b"x")], "'..'"),
    ([(entry("a/../../evil"), b"x")], "'..'"),
    ([(entry("out", tarfile.SYMTYPE, link="/etc"), None)], "symbolic link"),
    ([(entry("out", tarfile.SYMTYPE, link="../../etc"), None)], "symbolic link"),
    ([(entry("hard", tarfile.LNKTYPE, link="/etc/passwd"), None)], "hard link"),
    ([(entry("dev", tarfile.CHRTYPE), None)], "device"),
    ([(entry("fifo", tarfile.FIFOTYPE), None)], "device or FIFO"),
    ([(entry("d", tarfile.DIRTYPE, mode=0o755), None), (entry("d/in", tarfile.SYMTYPE, link=".."), None),
      (entry("d/in/in2", tarfile.SYMTYPE, link="../.."), None)], "out of the tree"),
])
def test_fallback_refuses_hostile_members(tmp_path: Path, members, why: str) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(RuntimeFailed, match="unsafe archive member") as refused:
        extract_checked(make_tar(*members), dest)
    assert why in str(refused.value)
    assert not (tmp_path / "evil").exists() and not (tmp_path / "out").exists()


def test_extract_tree_uses_a_safe_path_on_this_python(tmp_path: Path) -> None:
    extract_tree(make_tar((entry("ok.yaml"), b"ok\n")), tmp_path / "a")
    assert (tmp_path / "a" / "ok.yaml").read_text() == "ok\n"
    with pytest.raises((RuntimeFailed, tarfile.TarError)):
        extract_tree(make_tar((entry("../evil"), b"x")), tmp_path / "b")
    assert not (tmp_path / "evil").exists()
