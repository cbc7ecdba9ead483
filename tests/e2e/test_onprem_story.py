"""The on-prem story through the bot: the acme example's `edge/dev` stack (two machines serving a
status page, docs/onprem.md) previewed on a pull request, applied with `/apply`, changed (an
environment variable restarts the unit, a removed file is deleted) and destroyed with
`/destroy`, against two real sshd test hosts (fixtures/sshd), through simulated GitHub and
`shipmate serve` as it runs in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.gitstate import git_backend
from bot.app.drift import check_drift
from bot.cli.sandbox import REPO, Sandbox
from bot.core.release import Phase
from bot.core.yamlio import load_data
from tests.e2e.world import all_bot_text, bodies, comment, open_pr, replace

pytestmark = pytest.mark.e2e

MAIN = "edge/dev/main.yaml"
TOKEN = "s3cr3t-token-value"  # ref://app/token in the acme dev workspace's fake store
PAGE = "ansible:{host}:ansible.builtin.systemd_service:page.service"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox.start(tmp_path_factory.mktemp("onprem"), onprem=True) as sandbox:
        yield sandbox


def test_an_onprem_stack_from_preview_to_destroy(box: Sandbox, tmp_path: Path) -> None:
    web1, web2 = box.hosts["web1"], box.hosts["web2"]

    # bob adds a file to the edge machines: the first preview creates everything, on both hosts.
    pr = open_pr(box, "bob", {MAIN: replace(
        '        /srv/acme/token: {content: ref://app/token, mode: "0600"}\n',
        '        /srv/acme/token: {content: ref://app/token, mode: "0600"}\n'
        '        /srv/acme/about.txt: {content: "edge\\n", mode: "0644"}\n',
    )}, title="About the edge machines")
    box.settle()
    [preview] = bodies(box, pr.number)
    assert "### `edge` / `dev` · workspace `dev`" in preview
    assert "**20 to create, 0 to update, 0 to delete" in preview
    assert "`ansible:web2:ansible.builtin.copy:/srv/acme/about.txt` | ➕ Create" in preview
    assert not web1.path("/srv/acme").exists()

    # alice approves and applies: the files, the user and the unit on both machines.
    box.repo("alice").get_pull(pr.number).create_review(event="APPROVE")
    asked = comment(box, "alice", pr.number, "/apply")
    box.settle()
    [applied] = bodies(box, pr.number, after=asked.id)
    assert "| `edge` / `dev` | `dev` | ✅ succeeded | r1 | 20 to create" in applied
    for host in (web1, web2):
        assert host.path("/srv/acme/about.txt").read_text() == "edge\n"
        assert host.path("/srv/acme/token").read_text() == TOKEN
        assert host.unit("page")["pid"]
    started = {h.name: h.unit("page")["starts"] for h in (web1, web2)}

    # alice merges: applied again from the merge commit (nothing to change), the lock freed.
    box.repo("alice").get_pull(pr.number).merge(merge_method="merge")
    box.settle()

    # Someone edits a file on web1 by hand: the drift check (check mode against the machine) finds it.
    assert check_drift(box.services, REPO).drifted == ()
    web1.path("/srv/acme/about.txt").write_text("edited by hand\n")
    drifted = check_drift(box.services, REPO)
    assert drifted.drifted == ("edge/dev",)
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "drift") as backend:
        text = backend.store.snapshot().read("drift/edge/dev.yaml")
    assert text is not None
    assert {"id": "ansible:web1:ansible.builtin.copy:/srv/acme/about.txt", "action": "Update"} in (
        load_data("drift/edge/dev.yaml", text.decode())["changes"])
    web1.path("/srv/acme/about.txt").write_text("edge\n")

    # A change: one more environment variable, and the motd file goes.
    second = open_pr(box, "bob", {MAIN: lambda text: replace(
        '        PYTHONUNBUFFERED: "1"\n', '        PYTHONUNBUFFERED: "1"\n        LOG_LEVEL: debug\n')(
        replace('        /srv/acme/motd: {content: "acme edge machine, managed by Shipmate\\n", mode: "0644"}\n', "")(text))},
        title="Debug logs on the edge")
    box.settle()
    [changed] = bodies(box, second.number)
    assert "`ansible:web1:ansible.builtin.copy:/etc/page/page.env` | ✏️ Update" in changed
    assert f"`{PAGE.format(host='web1')}` | ✏️ Update" in changed
    assert "`ansible:web1:ansible.builtin.copy:/srv/acme/motd` | ➖ Delete" in changed

    box.repo("alice").get_pull(second.number).create_review(event="APPROVE")
    asked = comment(box, "alice", second.number, "/apply")
    box.settle()
    [applied] = bodies(box, second.number, after=asked.id)
    assert "✅ succeeded" in applied
    for host in (web1, web2):
        assert 'LOG_LEVEL="debug"' in host.path("/etc/page/page.env").read_text()
        assert not host.path("/srv/acme/motd").exists()
        assert host.unit("page")["starts"] > started[host.name]  # restarted for its new environment

    # /destroy leaves the machines clean and records it.
    asked = comment(box, "alice", second.number, "/destroy -p edge -s dev --confirm edge/dev")
    box.settle()
    [destroyed] = bodies(box, second.number, after=asked.id)
    assert "✅" in destroyed
    for host in (web1, web2):
        assert not host.path("/srv/acme").exists() and not host.path("/etc/page").exists()
        assert not host.path("/etc/systemd/system/page.service").exists()
        assert not host.unit("page").get("pid")
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "state") as backend:
        latest = backend.latest("edge", "dev")
        assert latest is not None and latest.phase is Phase.SUCCEEDED and not latest.state.resources
        # Credentials stay references in what is recorded; secret contents are never in clear.
        assert "ref://ssh-deploy/key" in str(backend.get("edge", "dev", 1).state.resources[0].attributes)
    assert TOKEN not in all_bot_text(box, (pr.number, second.number))
