"""A self-contained world for the demo and the end-to-end tests: the GitHub and Kubernetes
simulators, a config repository, and Shipmate serving webhooks, all in one process.

    with Sandbox.start(tmp_path) as box:
        bob = box.client("bob")                      # PyGithub as bob
        work = box.clone("bob", tmp_path / "work")   # a git clone with bob's credentials
        ...
        box.settle()                                 # every webhook delivered and processed

`Sandbox.start` starts the Kubernetes simulator and writes its kubeconfig, starts the GitHub
simulator with the users `alice` (admin), `bob` (write: opens pull requests), `eve` (read
only) and `shipmate` (the bot's account), creates `acme/config` from the example repository
`fixtures/configs/acme` with every workspace's `context.KUBECONFIG_PATH` pointing at the
simulator, then builds Shipmate exactly as `shipmate serve` does (`bot.cli.serve.
build_server`: SQLite queue, workers, the webhook app on a free port) and registers it as
the repository's webhook. The dashboard (`/ui`) is on: its OAuth App is registered with the
simulator, whose sign-in form asks which user to sign in as. Nothing outside the sandbox directory is written (Terraform's
working directories included).

With `onprem=True` it also starts an on-prem test host (fixtures/sshd: a real sshd in its own
namespaces, a systemctl test double) for every host the example's workspaces' `onprem`
inventories name, and points those inventories at them (loopback port, root, pinned host key,
the client key in the fake secret store); `artifacts` serves files to them over loopback HTTP.

With `serve=False` there is no server: the webhooks go to a recorder and `dispatch()` runs
them through the bot's router in the calling thread, one after the other, until no new
ones arrive (for tests that check the handlers step by step).
"""

from __future__ import annotations

import faulthandler
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from bot.adapters.github.webhooks import make_delivery
from bot.app.services import Services
from bot.cli.serve import Server, build_server
from bot.core.events import Delivery
from bot.settings import (
    BotSettings,
    DashboardSettings,
    GitHubSettings,
    HttpSettings,
    QueueSettings,
    Settings,
    StorageSettings,
    WebhookSettings,
)
from bot.wiring import Bot, build_bot

REPO_OWNER = "acme"
REPO_NAME = "config"
REPO = f"{REPO_OWNER}/{REPO_NAME}"
SECRET = "sandbox-webhook-secret"
# The dashboard's OAuth App on the simulated GitHub (people sign in with its sign-in form).
DASHBOARD = DashboardSettings(client_id="sandbox-dashboard", client_secret="sandbox-dashboard-secret",
                              session_secret="sandbox-session-secret-0123456789abcdef")
USERS: dict[str, tuple[str, str]] = {  # login → (token, permission)
    "alice": ("tok-alice", "admin"),
    "bob": ("tok-bob", "write"),
    "eve": ("tok-eve", "read"),
    "shipmate": ("tok-shipmate", "write"),
}
BOT = "shipmate"
APP_ID = 4242
APP_INSTALLATION = 7
APP_BOT = f"{BOT}[bot]"  # the login the bot acts as with `Sandbox.start(app=True)`
SOURCE_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = SOURCE_ROOT / "fixtures" / "configs" / "acme"


def terraform_env(base: Mapping[str, str]) -> dict[str, str]:
    """`base` with SHIPMATE_TERRAFORM_BIN and TF_CLI_CONFIG_FILE (when unset, or naming no
    file) defaulted to the project's `.tools/terraform` when it exists (offline provider
    mirror), else left to `terraform` on PATH."""
    env = dict(base)
    tools = SOURCE_ROOT / ".tools" / "terraform"
    binary = tools / "bin" / "terraform"
    if not env.get("SHIPMATE_TERRAFORM_BIN") and binary.exists():
        env["SHIPMATE_TERRAFORM_BIN"] = str(binary)
    configured = env.get("TF_CLI_CONFIG_FILE")
    if not (configured and Path(configured).is_file()) and (tools / "terraformrc").exists():
        env["TF_CLI_CONFIG_FILE"] = str(tools / "terraformrc")
    return env


def app_key_pair() -> tuple[str, str]:
    """A fresh RSA key pair (private, public; PEM) for the sandbox's GitHub App."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def git(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=False,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})},
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def add_context(text: str, values: Mapping[str, str]) -> str:
    """A workspace file's text with `values` added at the top of its `context:` mapping."""
    lines = "".join(f"  {k}: {v}\n" for k, v in values.items())
    if "\ncontext:\n" in text:
        return text.replace("\ncontext:\n", "\ncontext:\n" + lines, 1)
    return text.rstrip("\n") + "\ncontext:\n" + lines


@dataclass
class Sandbox:
    root: Path
    github: Any  # fixtures.github_sim.GitHubSim
    kube: Any  # fixtures.kube_sim.KubeSim
    kubeconfig: Path
    server: Server | None
    env: dict[str, str]
    bot: Bot
    recorder: Any = None  # fixtures.github_sim.testing.HookRecorder when not serving
    hosts: dict[str, Any] = field(default_factory=dict)  # name -> fixtures.sshd.TestHost (onprem=True)
    artifacts: Any = None  # fixtures.sshd.ArtifactServer (onprem=True)
    _onprem: ExitStack = field(default_factory=ExitStack, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _dispatched: int = 0

    @classmethod
    def start(
        cls,
        root: Path,
        *,
        env: Mapping[str, str] | None = None,
        context: Mapping[str, str] | None = None,
        workers: int = 2,
        serve: bool = True,
        files: Mapping[str, str] | None = None,
        onprem: bool = False,
        artifacts: Mapping[str, bytes] | None = None,
        app: bool = False,
    ) -> Sandbox:
        """Start everything under `root`; `context` adds workspace context values and `files`
        replaces or adds files of the example repository before it is pushed; `onprem` starts
        the on-prem test hosts and `artifacts` (name -> content) serves files to them; `app`: the
        bot acts as a GitHub App installed on the repository (`APP_BOT`), not with a token."""
        from fixtures.github_sim import GitHubSim, SimHook, SimUser
        from fixtures.github_sim.testing import HookRecorder
        from fixtures.kube_sim import KubeSim

        root = root.resolve()
        root.mkdir(parents=True, exist_ok=True)
        kube = KubeSim.start()
        github = None
        onprem_stack = ExitStack()
        try:
            kubeconfig = kube.write_kubeconfig(root / "kubeconfig")
            hosts, served, point = cls._onprem_hosts(onprem_stack, root, files or {}, artifacts or {}) if onprem else ({}, None, None)
            users = [SimUser(login, token, perm) for login, (token, perm) in USERS.items()]
            github = GitHubSim.start(root / "github", users=users)
            github.create_repo(REPO_OWNER, REPO_NAME)
            token: str | None = USERS[BOT][0]
            app_id = private = None
            if app:
                private, public = app_key_pair()
                github.register_app(APP_ID, BOT, public, installation_id=APP_INSTALLATION)
                token, app_id = None, APP_ID
            cls._seed(github, root / "seed", {"KUBECONFIG_PATH": str(kubeconfig), **(context or {})}, files or {},
                      point)
            environ = terraform_env(os.environ if env is None else env)
            environ["SHIPMATE_CACHE_DIR"] = str(root / "cache")
            environ.setdefault("SHIPMATE_SECRET_SALT", "sandbox-salt")
            runtimes = Settings.from_env(environ)  # Terraform and KUBECONFIG as the CLI finds them
            settings = Settings(
                # No write budget unless the caller asks (SHIPMATE_GITHUB_THROTTLE): the simulator
                # has no secondary rate limit unless told to.
                github=GitHubSettings(token=token, app_id=app_id, app_private_key=private, api_url=github.api_url,
                                      throttle="SHIPMATE_GITHUB_THROTTLE" in environ and runtimes.github.throttle,
                                      writes_per_minute=runtimes.github.writes_per_minute,
                                      writes_per_hour=runtimes.github.writes_per_hour,
                                      pending_delay=runtimes.github.pending_delay),
                webhook=WebhookSettings(secrets=(SECRET,)),
                http=HttpSettings(host="127.0.0.1", port=0),
                queue=QueueSettings(workers=workers),
                bot=BotSettings(repositories=(REPO,)),
                storage=StorageSettings(data_dir=root / "shipmate"),
                terraform=runtimes.terraform,
                kubernetes=runtimes.kubernetes,
                dashboard=DASHBOARD,
            )
            if not serve:
                recorder = HookRecorder()
                box = cls(root, github, kube, kubeconfig, None, environ, build_bot(settings, environ), recorder,
                          hosts, served, onprem_stack)
                github.add_hook(SimHook(recorder.url, SECRET))
                box.dispatch()
                return box
            server = build_server(settings, environ, scheduler=False)
            assert server.bot is not None
            box = cls(root, github, kube, kubeconfig, server, environ, server.bot, None, hosts, served, onprem_stack)
            box._thread = threading.Thread(target=server.serve, name="shipmate-serve", daemon=True)
            box._thread.start()
            github.add_hook(SimHook(f"{server.url}/webhooks/github", SECRET))
            assert DASHBOARD.client_id and DASHBOARD.client_secret
            github.oauth_app(DASHBOARD.client_id, DASHBOARD.client_secret, f"{server.url}/login/callback")
            return box
        except BaseException:
            try:
                if github is not None:
                    github.stop()
                kube.stop()
            finally:
                onprem_stack.close()
            raise

    @staticmethod
    def _onprem_hosts(stack: ExitStack, root: Path, files: Mapping[str, str],
                      artifacts: Mapping[str, bytes]) -> tuple[dict[str, Any], Any, Any]:
        """Start the artifact server and a test host for every host the example's on-prem
        inventories name (`files` replacing the example's), ended with `stack`; how to point a
        workspace file at them."""
        from fixtures.sshd import ArtifactServer, client_key, test_hosts
        from fixtures.sshd.inventory import inventory_hosts, point_workspace

        workspaces = {f"workspaces/{p.name}": p.read_text() for p in (EXAMPLE / "workspaces").glob("*.yaml")}
        workspaces.update({rel: text for rel, text in files.items() if rel.startswith("workspaces/")})
        names = sorted({name for text in workspaces.values() for name in inventory_hosts(text)})
        served = stack.enter_context(ArtifactServer.start(artifacts))
        key = client_key(root / "onprem-key")
        started = stack.enter_context(test_hosts(root / "hosts", tuple(names), key, forward=(served.port,)))
        hosts = {host.name: host for host in started}
        return hosts, served, lambda text: point_workspace(text, hosts, key)

    @staticmethod
    def _seed(github: Any, work: Path, context: Mapping[str, str], files: Mapping[str, str], point: Any = None) -> None:
        """Push the example repository, its workspaces pointing at the simulators (and, with
        `point`, at the on-prem test hosts)."""
        shutil.copytree(EXAMPLE, work)
        for rel, text in files.items():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_text(text)
        for workspace in sorted((work / "workspaces").glob("*.yaml")):
            text = add_context(workspace.read_text(), context)
            workspace.write_text(point(text) if point is not None else text)
        identity = {"GIT_AUTHOR_NAME": "alice", "GIT_AUTHOR_EMAIL": "alice@acme.example",
                    "GIT_COMMITTER_NAME": "alice", "GIT_COMMITTER_EMAIL": "alice@acme.example"}
        git("init", "-q", "-b", "main", cwd=work)
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", "The acme config repository", cwd=work, env=identity)
        git("push", "-q", github.git_url(REPO_OWNER, REPO_NAME, USERS["alice"][0], "alice"), "main", cwd=work)
        shutil.rmtree(work)

    # --- acting as a person -------------------------------------------------------------------

    def client(self, login: str) -> Any:
        """PyGithub as `login`."""
        return self.github.client(USERS[login][0])

    def repo(self, login: str) -> Any:
        return self.client(login).get_repo(REPO)

    def clone(self, login: str, dest: Path) -> Path:
        """`git clone` of the config repository with `login`'s credentials."""
        url = self.github.git_url(REPO_OWNER, REPO_NAME, USERS[login][0], login)
        git("clone", "-q", url, str(dest), cwd=self.root)
        git("config", "user.name", login, cwd=dest)
        git("config", "user.email", f"{login}@acme.example", cwd=dest)
        return dest

    def state_url(self) -> str:
        """Where the state branch lives (for `shipmate release list --backend git:<url>`)."""
        return str(self.github.git_url(REPO_OWNER, REPO_NAME, USERS["alice"][0], "alice"))

    # --- waiting ------------------------------------------------------------------------------

    @property
    def services(self) -> Services:
        assert self.bot.services is not None
        return self.bot.services

    def dispatch(self, timeout: float = 60.0) -> list[Delivery]:
        """(Without a server) run the webhooks received so far through the router, in order,
        until no new ones arrive; returns them. Handler errors propagate."""
        assert self.recorder is not None, "dispatch() is for sandboxes started with serve=False"
        done: list[Delivery] = []
        while True:
            self.github.wait_idle(timeout)
            new = self.recorder.received[self._dispatched:]
            if not new:
                return done
            self._dispatched += len(new)
            for item in new:
                delivery = make_delivery(item.headers["X-GitHub-Delivery"], item.headers["X-GitHub-Event"],
                                         item.body, datetime.now(UTC))
                self.bot.handler(delivery)
                done.append(delivery)

    def skip(self, timeout: float = 60.0) -> int:
        """(Without a server) drop the webhooks received so far, as if they were lost."""
        assert self.recorder is not None, "skip() is for sandboxes started with serve=False"
        self.github.wait_idle(timeout)
        lost = len(self.recorder.received) - self._dispatched
        self._dispatched = len(self.recorder.received)
        return lost

    def settle(self, timeout: float = 90.0) -> None:
        """Wait until every webhook was delivered and every queued job processed."""
        if self.server is None:
            self.dispatch(timeout)
            return
        deadline = time.monotonic() + timeout
        queue = self.server.queue
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                faulthandler.dump_traceback(all_threads=True)  # where the workers are stuck
                busy = "; ".join(f"{j.event}/{j.action or '-'} {j.key} ({j.state}, attempt {j.attempts})"
                                 for j in queue.jobs(["pending", "running"], limit=10))
                raise TimeoutError(f"not settled after {timeout:g}s: queue {queue.stats()}: {busy}")
            self.github.wait_idle(remaining)
            if queue.stats().depth == 0 and self.github.state.dispatcher.pending() == 0:
                time.sleep(0.02)
                if queue.stats().depth == 0 and self.github.state.dispatcher.pending() == 0:
                    return
            time.sleep(0.02)

    # --- the end ------------------------------------------------------------------------------

    def stop(self) -> None:
        try:
            if self.server is not None:
                self.server.shutdown()
            if self._thread is not None:
                self._thread.join(timeout=60)
            if self.recorder is not None:
                self.recorder.close()
        finally:
            try:
                self.github.stop()
            finally:
                try:
                    self.kube.stop()
                finally:
                    self._onprem.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
