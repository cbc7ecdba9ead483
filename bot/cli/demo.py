"""`shipmate demo`: the whole pull-request story against simulators, with nothing else running.

It starts a `bot.cli.sandbox.Sandbox` in a temporary directory (the GitHub and Kubernetes
simulators on free ports, the `acme/config` repository, Shipmate serving webhooks) and plays
what a team would do, printing what each person sees:

1. bob pushes a branch and opens a pull request: Shipmate comments its preview and sets the
   `shipmate/preview` status;
2. eve, who can only read the repository, comments `/apply`: refused;
3. alice approves the pull request and comments `/apply`: applied, a Release recorded on the
   state branch, the objects are in the cluster, the lock kept for the pull request;
4. alice merges: Shipmate applies the merge commit, records a Release and frees the lock;
5. `shipmate release list` of the stack, and the objects in the cluster;
6. on-prem: bob adds a page to the `edge/dev` stack, which runs on two machines (two real
   `sshd` test hosts, fixtures/sshd): its preview, alice's `/apply` through Ansible, and what
   runs on each machine.

Terraform: `SHIPMATE_TERRAFORM_BIN`/`TF_CLI_CONFIG_FILE` default to the project's
`.tools/terraform` (what `./scripts/install` sets up), else `terraform` on PATH. Everything
is removed at the end; the exit code is 0 when every step did what it should.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import click

from bot.cli import options
from bot.cli.sandbox import REPO, REPO_NAME, REPO_OWNER, Sandbox, git

STACK_FILE = "shop/dev/main.yaml"
BRANCH = "quieter-logs"
REACTIONS = {"eyes": "👀", "+1": "👍", "-1": "👎", "confused": "😕", "rocket": "🚀", "heart": "❤️",
             "hooray": "🎉", "laugh": "😄"}


class DemoFailed(Exception):
    """A step did not have the effect it should have."""


EXAMPLES = """
shipmate demo                            # in a temporary directory, removed at the end
shipmate demo --keep /tmp/demo --verbose # keep the repositories; show Shipmate's log
"""


@options.command("demo", "Start simulated GitHub and Kubernetes servers and Shipmate in this process, then "
                 "open, refuse, approve, apply and merge a pull request, printing what people see.", EXAMPLES,
                 short="Play a pull request from preview to apply on merge against simulators.")
@click.option("--keep", metavar="DIR", help="Run in DIR and keep it (default: a temporary directory).")
@click.option("--verbose", is_flag=True, help="Show Shipmate's log.")
def command(keep: str | None, verbose: bool) -> int:
    return run(keep, verbose)


def run(keep: str | None, verbose: bool) -> int:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:
        for name in ("shipmate", "werkzeug", "github", "urllib3", "kubernetes", "apscheduler"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    started = time.monotonic()
    out = sys.stdout
    try:
        if keep:
            root = Path(keep)
            play(root, out)
        else:
            with tempfile.TemporaryDirectory(prefix="shipmate-demo-") as tmp:
                play(Path(tmp), out)
    except DemoFailed as exc:
        out.write(f"\ndemo failed: {exc}\n")
        return 1
    except (OSError, RuntimeError, TimeoutError, ImportError) as exc:  # git, ports, simulators
        out.write(f"\ndemo failed: {type(exc).__name__}: {exc}\n")
        return 1
    where = f"kept in {keep}" if keep else "temporary files removed"
    out.write(f"\nDemo finished in {time.monotonic() - started:.1f} s; {where}.\n")
    return 0


def play(root: Path, out: TextIO) -> None:
    say = _Printer(out)
    with Sandbox.start(root, onprem=True) as box:
        say.line(f"GitHub simulator   {box.github.url}  (repository {REPO})")
        say.line(f"Kubernetes         {box.kube.url}")
        for name, host in sorted(box.hosts.items()):
            say.line(f"on-prem host {name:<5} ssh://root@127.0.0.1:{host.port}  (a test host: sshd in its own namespaces)")
        assert box.server is not None
        say.line(f"Shipmate           {box.server.url}  (webhook registered, queue and workers running)")
        story(box, root, say)


def story(box: Sandbox, root: Path, say: _Printer) -> None:
    # 1. bob opens a pull request
    say.step("bob changes shop/dev (LOG_LEVEL debug → info), pushes a branch and opens a pull request")
    work = box.clone("bob", root / "bob")
    path = work / STACK_FILE
    path.write_text(path.read_text().replace("LOG_LEVEL: debug", "LOG_LEVEL: info"))
    git("checkout", "-q", "-b", BRANCH, cwd=work)
    git("commit", "-q", "-am", "Quieter logs in dev", cwd=work)
    git("push", "-q", "origin", BRANCH, cwd=work)
    pr = box.repo("bob").create_pull(title="Quieter logs in dev", body="LOG_LEVEL info in dev.",
                                     head=BRANCH, base="main")
    box.settle()
    number, head = pr.number, pr.head.sha
    preview = expect_comment(box, number, "<!-- shipmate:preview", "the preview comment")
    say.comment(preview)
    say.statuses(box.github.statuses(REPO_OWNER, REPO_NAME, head))

    # 2. eve may not apply
    say.step("eve (read access) comments /apply")
    asked = box.repo("eve").get_issue(number).create_comment("/apply")
    box.settle()
    refusal = expect_comment(box, number, "**`/apply` was not run**", "the refusal", after=asked.id)
    say.reactions(reactions(box, number, asked.id))
    say.comment(refusal)

    # 3. alice approves and applies
    say.step("alice approves the pull request and comments /apply")
    box.repo("alice").get_pull(number).create_review(event="APPROVE", body="Looks good.")
    asked = box.repo("alice").get_issue(number).create_comment("/apply")
    box.settle()
    applied = expect_comment(box, number, "<!-- shipmate:apply", "the apply result", after=asked.id)
    say.reactions(reactions(box, number, asked.id))
    say.comment(applied)
    if "✅ 1 succeeded" not in applied["body"]:
        raise DemoFailed("the apply did not succeed")
    say.statuses(box.github.statuses(REPO_OWNER, REPO_NAME, head))

    # 4. alice merges
    say.step("alice merges the pull request; Shipmate applies the merge commit")
    merged = box.repo("alice").get_pull(number).merge(merge_method="merge")
    box.settle()
    result = expect_comment(box, number, "<!-- shipmate:merge", "the apply on merge")
    say.comment(result)
    if "✅ 1 succeeded" not in result["body"]:
        raise DemoFailed("the apply on merge did not succeed")
    say.statuses(box.github.statuses(REPO_OWNER, REPO_NAME, merged.sha))

    # 5. what is recorded, what runs
    say.step("shipmate release list --project shop --workspace dev")
    listing = release_list(box)
    say.block(listing)
    if listing.count("succeeded") < 2:
        raise DemoFailed("the state branch does not hold the two releases")
    say.step("what runs in the cluster (namespace shop)")
    say.block(cluster_objects(box))
    onprem_story(box, root, say)


EDGE_FILE = "edge/dev/main.yaml"
EDGE_BRANCH = "edge-about-page"


def onprem_story(box: Sandbox, root: Path, say: _Printer) -> None:
    """Step 6: the same loop on machines over SSH (the Ansible runtime)."""
    say.step("bob adds an about page to edge/dev (two machines over SSH) and opens a pull request")
    work = box.clone("bob", root / "bob-edge")
    path = work / EDGE_FILE
    path.write_text(path.read_text().replace(
        '        /etc/page/index.html: {content: "<h1>acme: all systems go</h1>\\n", mode: "0644"}\n',
        '        /etc/page/index.html: {content: "<h1>acme: all systems go</h1>\\n", mode: "0644"}\n'
        '        /etc/page/about.html: {content: "<p>Served by Shipmate</p>\\n", mode: "0644"}\n'))
    git("checkout", "-q", "-b", EDGE_BRANCH, cwd=work)
    git("commit", "-q", "-am", "An about page on the edge machines", cwd=work)
    git("push", "-q", "origin", EDGE_BRANCH, cwd=work)
    pr = box.repo("bob").create_pull(title="About page on the edge", body="", head=EDGE_BRANCH, base="main")
    box.settle()
    preview = expect_comment(box, pr.number, "<!-- shipmate:preview", "the on-prem preview comment")
    # Twenty creates: the table, not every object's diff.
    say.comment({**preview, "body": preview["body"].split("\n<details", 1)[0] + "\n\n(… each object's diff)"})

    say.step("alice approves and comments /apply: Ansible applies it on both machines")
    box.repo("alice").get_pull(pr.number).create_review(event="APPROVE", body="Ship it.")
    asked = box.repo("alice").get_issue(pr.number).create_comment("/apply")
    box.settle()
    applied = expect_comment(box, pr.number, "<!-- shipmate:apply", "the on-prem apply result", after=asked.id)
    say.comment(applied)
    if "✅ 1 succeeded" not in applied["body"]:
        raise DemoFailed("the on-prem apply did not succeed")

    say.step("what runs on the machines")
    say.block(machines(box))


def machines(box: Sandbox) -> str:
    rows: list[tuple[str, ...]] = [("HOST", "UNIT", "FILES IN /etc/page")]
    for name, host in sorted(box.hosts.items()):
        unit = host.unit("page")
        state = f"page.service active (pid {unit['pid']})" if unit.get("pid") else "page.service inactive"
        files = sorted(p.name for p in host.path("/etc/page").iterdir()) if host.path("/etc/page").exists() else []
        rows.append((name, state, ", ".join(files) or "-"))
    if any(r[1].endswith("inactive") for r in rows[1:]):
        raise DemoFailed("the page service does not run on every machine")
    return _table(rows)


# --- reading what people see ----------------------------------------------------------------


def comments(box: Sandbox, number: int) -> list[dict[str, Any]]:
    return list(box.github.comments(REPO_OWNER, REPO_NAME, number))


def expect_comment(box: Sandbox, number: int, start: str, what: str, after: int = 0) -> dict[str, Any]:
    found = [c for c in comments(box, number) if c["id"] > after and c["body"].startswith(start)]
    if not found:
        raise DemoFailed(f"Shipmate did not post {what} on #{number}")
    return found[-1]


def reactions(box: Sandbox, number: int, comment_id: int) -> list[str]:
    issue = box.repo("alice").get_issue(number)
    return [r.content for r in issue.get_comment(comment_id).get_reactions()]


def release_list(box: Sandbox) -> str:
    from bot.cli import main

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        # The simulator's repository on disk: read in place, no cache outside the sandbox.
        code = main(["release", "list", "--project", "shop", "--workspace", "dev",
                     "--backend", f"git:{box.github.bare_path(REPO_OWNER, REPO_NAME)}"])
    if code != 0:
        raise DemoFailed(f"shipmate release list exited with {code}")
    return buffer.getvalue()


def cluster_objects(box: Sandbox) -> str:
    from kubernetes import client, config

    api: Any = config.new_client_from_config(str(box.kubeconfig))  # type: ignore[no-untyped-call]
    try:
        rows: list[tuple[str, ...]] = [("KIND", "NAME", "DETAIL")]
        apps: Any = client.AppsV1Api(api)
        core: Any = client.CoreV1Api(api)
        for d in apps.list_namespaced_deployment("shop").items:
            env = {e.name: e.value for e in d.spec.template.spec.containers[0].env or [] if e.value}
            rows.append(("Deployment", d.metadata.name,
                         f"{d.status.available_replicas or 0}/{d.spec.replicas} available, "
                         f"LOG_LEVEL={env.get('LOG_LEVEL', '-')}"))
        for s in core.list_namespaced_service("shop").items:
            rows.append(("Service", s.metadata.name, f"{s.spec.type} {s.spec.cluster_ip}"))
        for c in core.list_namespaced_config_map("shop").items:
            if c.metadata.name != "kube-root-ca.crt":
                rows.append(("ConfigMap", c.metadata.name, ", ".join(sorted(c.data or {}))))
        for sec in core.list_namespaced_secret("shop").items:
            rows.append(("Secret", sec.metadata.name, f"{len(sec.data or {})} keys (values not shown)"))
    finally:
        api.close()
    if len(rows) == 1:
        raise DemoFailed("nothing was created in the cluster")
    return _table(rows)


# --- printing ---------------------------------------------------------------------------------


def _table(rows: list[tuple[str, ...]]) -> str:
    """Rows as aligned columns, the first row the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows) + "\n"


def collapsed(markdown: str) -> Iterator[str]:
    """Comment Markdown as a person first sees it: hidden markers dropped, each folded
    `<details>` block shown as its summary line only, an open one (`<details open>`) as its
    summary line and what it holds."""
    hidden = 0
    blocks: list[bool] = []  # for each block still open: whether it hides what it holds
    for line in markdown.split("\n"):
        if line.startswith("<!-- shipmate:"):
            continue
        opened = re.match(r"<details( open)?><summary>(.*)</summary>", line)
        if opened:
            folded = not opened.group(1)
            if hidden == 0:
                yield ("▸ " if folded else "▾ ") + re.sub(r"</?code>", "`", opened.group(2))
            blocks.append(folded)
            hidden += folded
            continue
        if line.strip() == "</details>":
            if blocks:
                hidden -= blocks.pop()
            continue
        if hidden == 0:
            yield line


class _Printer:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.n = 0

    def line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def step(self, text: str) -> None:
        self.n += 1
        self.line(f"\n== {self.n}. {text}")

    def block(self, text: str, indent: str = "   ") -> None:
        for line in text.rstrip("\n").split("\n"):
            self.line((indent + line).rstrip())

    def comment(self, comment: dict[str, Any]) -> None:
        self.line(f"\n   💬 {comment['user']['login']} commented:")
        lines = [line for line in collapsed(comment["body"])]
        while lines and not lines[-1].strip():
            lines.pop()
        self.block("\n".join(_squeeze(lines)), indent="   │ ")

    def statuses(self, statuses: list[dict[str, Any]]) -> None:
        for s in sorted(statuses, key=lambda x: x["context"]):
            self.line(f"   ● status {s['context']}: {s['state']} — {s['description']}")

    def reactions(self, contents: list[str]) -> None:
        self.line("   reactions on the comment: " + " ".join(REACTIONS.get(c, c) for c in contents))


def _squeeze(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if not line.strip() and out and not out[-1].strip():
            continue
        out.append(line)
    return out

