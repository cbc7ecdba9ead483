"""`Checkouts` over in-memory commits: a checkout is a name, `memory:<owner/repo>@<sha>`.

The bot reads a checkout through the `ConfigReader` its services make of the name
(`bot.adapters.memory.reader.MemoryReaders`), as it reads a git checkout's directory through
`LocalConfigReader`; an unknown commit fails the checkout as a git fetch of it would.
"""

from __future__ import annotations

from bot.adapters.memory.commits import Commits

PREFIX = "memory:"


class MemoryCheckouts:
    """The `Checkouts` port over `Commits`."""

    def __init__(self, commits: Commits) -> None:
        self.commits = commits
        self.checked_out: list[tuple[str, str]] = []  # (repo, sha), in order: what the bot looked at

    def checkout(self, repo: str, sha: str) -> str:
        self.commits.files(repo, sha)  # fails here for an unknown commit, as a fetch would
        self.checked_out.append((repo, sha))
        return f"{PREFIX}{repo}@{sha}"


def parse_checkout(name: str) -> tuple[str, str]:
    """(repo, sha) of a checkout name; ValueError for a name this module did not give."""
    if not name.startswith(PREFIX) or "@" not in name:
        raise ValueError(f"{name!r} is not an in-memory checkout")
    repo, _, sha = name[len(PREFIX):].rpartition("@")
    return repo, sha
