"""The Terraform runtime: the `Runtime` port for resources of type Terraform.

One working directory per project/stack/workspace (`<cache>/terraform/<project>/<stack>/
<workspace>/`) holds one `main.tf.json` with every resource of a call, one `init` (redone
only when the providers change), one `plan -out` + `show -json` for a dry run, `apply` of
that same plan file, and `destroy` of the selected resources.

State lives in the release, not here: before every command `terraform.tfstate` is rebuilt
from the prior State given to the call (the resources the call concerns, nothing else), and
every recorded resource carries its raw state instance in `extensions["shipmate.io/tfstate"]`.
Deleting the working directory loses nothing; the next call re-creates it.

Calls on one working directory are serialised with a file lock, so threads and processes on
one machine may share it. A plan made by `dry_run` is reused by `apply` in the same runtime
object when the configuration and state it was made from are unchanged (Terraform's own
plan → apply); otherwise `apply` plans again.

The runtime declares `batch`, `import` and `recorded-state` (`plugin.py`). Its contract
beyond the `Runtime` port:

- `terraform.tfstate` is rebuilt before every command from the `prior` entries of the
  resources in the call (the operation's starting State is right: each resource is in one
  call), so the working directory is only a cache and runners may be ephemeral.
- `read` and `dry_run` return attribute dicts, with SENSITIVE_KEY (a pruned
  `sensitive_values`/`after_sensitive` tree: schema-sensitive attributes and `sensitive()`
  values) when something is sensitive, and KNOWN_AFTER_APPLY for unknown planned values.
- State resources returned by `apply` carry Terraform's raw state instance (minus its
  `attributes`, which are the Resource's attributes) in `extensions[TF_STATE_EXT]`, and the
  sensitive tree in `extensions[SENSITIVE_KEY]`. The instance is rebuilt from the
  attributes, so Terraform State attributes must be stored losslessly (`recorded-state`: a
  masked value would become the recorded value on the next run).
- `$kusion_path.<id>.<attr>` references between Terraform resources of one call become
  native interpolations; references to Terraform resources in `prior` are replaced by their
  recorded values; anything else must be resolved by the caller (apply refuses leftovers).
- Errors are RuntimeFailed with Terraform's text (`-no-color`) and `failed_ids` naming the
  resources it reported. A failed apply's `partial` holds every resource it did change: its
  new State entry (a tainted one too, which is also in `failed_ids`) or None when a failed
  replace left it destroyed. A failed delete's `partial` maps destroyed IDs to None.
- Resources with `kusionstack.io/import-id` are never planned: read/dry_run import and
  refresh them, apply records them (importing when there is no State entry yet).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.adapters.terraform import config as tfconfig
from bot.adapters.terraform import sandbox as tfsandbox
from bot.adapters.terraform import tfstate
from bot.adapters.terraform.runner import CommandResult, TerraformRunner
from bot.adapters.terraform.sandbox import Bubblewrap
from bot.adapters.terraform.tfstate import TF_STATE_EXT
from bot.core.childenv import child_env
from bot.core.errors import RuntimeFailed
from bot.core.ports import JSON
from bot.core.spec import EXT_IMPORT_ID, TERRAFORM, Resource, State
from bot.settings import TerraformOptions

MAIN_FILE = "main.tf.json"
STATE_FILE = "terraform.tfstate"
PLANS_DIR = "plans"
INIT_STAMP = ".terraform/shipmate-init.json"
# Spec `context` keys passed to Terraform as environment variables (provider credentials),
# as Kusion does for AWS_*, ALICLOUD_* and VIETTEL_CLOUD_*; a few other providers' prefixes too.
CREDENTIAL_PREFIXES = (
    "AWS_",
    "ALICLOUD_",
    "VIETTEL_CLOUD_",
    "GOOGLE_",
    "ARM_",
    "AZURE_",
    "TF_VAR_",
)
# Environment variables that would change the commands' meaning or output; never set.
_DROPPED_ENV = ("TF_CLI_ARGS", "TF_DATA_DIR", "TF_WORKSPACE", "TF_INPUT", "TF_CLI_CONFIG_FILE")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_PATH_PART = re.compile(r"[^A-Za-z0-9._-]")
DEFAULT_TIMEOUT_SECONDS = 3600.0
# Terraform's answer to `import` of a resource type its provider cannot import.
_NO_IMPORT = re.compile(r"(?:doesn't|does not) support import")

log = logging.getLogger(__name__)

# (provider, resource type) pairs whose import failed with `_NO_IMPORT`, for the process:
# such resources are planned and created like any other instead of imported again.
_unimportable: set[tuple[str, str]] = set()
_unimportable_lock = threading.Lock()


def _kind(resource: Resource) -> tuple[str, str]:
    ext = resource.extensions
    return (str(ext.get("provider", "")), str(ext.get("resourceType", "")))


def _safe_part(value: str) -> str:
    part = _PATH_PART.sub("_", value) or "_"
    return "_" if part in (".", "..") else part


@dataclass(frozen=True, slots=True)
class TerraformSettings:
    """How to run Terraform on this machine; `runtime()` makes one per stack and workspace.

    `binary`: the terraform executable (path or name on the env's PATH).
    `cli_config_file`: Terraform CLI config (provider mirrors); an empty one is used if None.
    `cache_dir`: root of the working directories (`<cache_dir>/terraform/<p>/<s>/<ws>`).
    `env`: the base environment of every command: only what `bot.core.childenv` lets
    through, never the process environment as a whole.
    `plugin_cache_dir`: TF_PLUGIN_CACHE_DIR shared by all working directories, or None.
    `sandbox`: bubblewrap to run every command in (see `sandbox.py`), or None.
    """

    binary: str = "terraform"
    cli_config_file: Path | None = None
    cache_dir: Path = Path(".shipmate-cache")
    env: Mapping[str, str] = field(default_factory=dict)
    plugin_cache_dir: Path | None = None
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    sandbox: Bubblewrap | None = None

    @classmethod
    def configured(
        cls, options: TerraformOptions, parent_env: Mapping[str, str], *, cache_dir: Path
    ) -> TerraformSettings:
        """How to run Terraform, from Shipmate's settings (`bot.settings.TerraformOptions`,
        read once by `Settings.from_env`: SHIPMATE_TERRAFORM_BIN, TF_CLI_CONFIG_FILE,
        TF_PLUGIN_CACHE_DIR, SHIPMATE_TERRAFORM_TIMEOUT, SHIPMATE_TERRAFORM_PASS_ENV,
        SHIPMATE_TERRAFORM_SANDBOX), with working directories under `cache_dir`.

        The binary defaults to `terraform` on the parent's `PATH`; a CLI config that does not
        exist is not used; the plugin cache defaults to `<cache>/terraform/plugin-cache`.
        Terraform's environment is `bot.core.childenv`'s allowlist of `parent_env` (the
        process environment, handed over by the entry point) plus `options.pass_env`, never
        the process environment as a whole; Shipmate's own secrets are never passed.
        `bwrap` as the sandbox raises ConfigError here when bubblewrap cannot run.
        """
        binary = options.binary or shutil.which("terraform", path=parent_env.get("PATH", os.defpath))
        cli = options.cli_config_file
        child = child_env(parent_env, also=options.pass_env)
        return cls(
            binary=binary or "terraform",
            cli_config_file=cli if cli is not None and cli.is_file() else None,
            cache_dir=cache_dir,
            env=child,
            plugin_cache_dir=options.plugin_cache_dir or cache_dir / "terraform" / "plugin-cache",
            timeout_seconds=options.timeout_seconds,
            sandbox=tfsandbox.resolve(options.sandbox, child, cache_dir / "terraform" / ".sandbox"),
        )

    def work_dir(self, project: str, stack: str, workspace: str) -> Path:
        parts = (_safe_part(project), _safe_part(stack), _safe_part(workspace))
        return self.cache_dir.joinpath("terraform", *parts)

    def runtime(
        self,
        project: str,
        stack: str,
        workspace: str,
        context: Mapping[str, Any] | None = None,
    ) -> TerraformRuntime:
        return TerraformRuntime(
            self.work_dir(project, stack, workspace),
            binary=self.binary,
            cli_config_file=self.cli_config_file,
            env=self.env,
            context=context or {},
            plugin_cache_dir=self.plugin_cache_dir,
            timeout_seconds=self.timeout_seconds,
            sandbox=self.sandbox,
        )


@dataclass(frozen=True, slots=True)
class _Plan:
    path: Path
    changes: Mapping[str, tfstate.PlannedChange]


class TerraformRuntime:
    """`Runtime` for Terraform resources of one stack in one workspace.

    `read`, `dry_run`, `apply` and `delete` each run over all the resources they are given
    in one working directory and one Terraform invocation per step. Results are keyed by
    resource ID. See the module docstring for the reserved keys.
    """

    def __init__(
        self,
        work_dir: Path,
        *,
        binary: str = "terraform",
        cli_config_file: Path | None = None,
        env: Mapping[str, str] | None = None,
        context: Mapping[str, Any] | None = None,
        plugin_cache_dir: Path | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        sandbox: Bubblewrap | None = None,
    ) -> None:
        self.work_dir = Path(work_dir).absolute()
        self.binary = binary
        self.cli_config_file = cli_config_file
        self.plugin_cache_dir = plugin_cache_dir
        self.sandbox = sandbox
        self._env = self._build_env(env or {}, context or {})
        self._lineage = tfstate.lineage_for(str(self.work_dir))
        cli = Path(self._env["TF_CLI_CONFIG_FILE"])
        self._runner = TerraformRunner(
            binary,
            self.work_dir,
            self._env,
            timeout_seconds,
            sandbox=sandbox,
            read_only=(cli, *tfsandbox.config_paths(self.cli_config_file)),
            plugin_cache_dir=Path(plugin_cache_dir).absolute() if plugin_cache_dir else None,
        )
        self._plans: dict[str, _Plan] = {}

    # --- environment ---------------------------------------------------------------------

    def _build_env(self, base: Mapping[str, str], context: Mapping[str, Any]) -> dict[str, str]:
        """`base` (already built by `child_env`) with the context's provider credentials and
        Terraform's own settings; `child_env` again drops anything forbidden."""
        extra = {
            k: str(v)
            for k, v in base.items()
            if not any(k == d or k.startswith(d + "_") for d in _DROPPED_ENV)
        }
        for key, value in context.items():
            if (
                isinstance(key, str)
                and _ENV_NAME.match(key)
                and key.startswith(CREDENTIAL_PREFIXES)
                and isinstance(value, str | int | float | bool)
            ):
                extra[key] = str(value)
        extra["CHECKPOINT_DISABLE"] = "1"
        extra["TF_IN_AUTOMATION"] = "1"
        extra["TF_INPUT"] = "0"
        cli = self.cli_config_file or (self.work_dir / "shipmate.terraformrc")
        extra["TF_CLI_CONFIG_FILE"] = str(Path(cli).absolute())
        if self.plugin_cache_dir is not None:
            extra["TF_PLUGIN_CACHE_DIR"] = str(Path(self.plugin_cache_dir).absolute())
        return child_env({}, extra)

    @property
    def history(self) -> tuple[tuple[str, int, float], ...]:
        """Recent terraform commands as (subcommand, return code, seconds), oldest first."""
        return tuple((r.command, r.returncode, r.seconds) for r in self._runner.history)

    @property
    def env(self) -> Mapping[str, str]:
        """The environment every terraform command runs with."""
        return dict(self._env)

    # --- files and locking ---------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        lock_path = self.work_dir.parent / f".{self.work_dir.name}.lock"
        with open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _write(self, name: str, text: str) -> None:
        path = self.work_dir / name
        if path.is_file() and path.read_text() == text:
            return
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)

    def _read_state(self) -> dict[str, tfstate.Instance]:
        path = self.work_dir / STATE_FILE
        if not path.is_file():
            return {}
        try:
            document = json.loads(path.read_text())
        except ValueError as exc:
            raise RuntimeFailed(f"{path} is not valid JSON: {exc}") from exc
        return tfstate.instances(document)

    def clean(self) -> None:
        """Remove the working directory (a cache: the release holds the state)."""
        with self._locked():
            shutil.rmtree(self.work_dir, ignore_errors=True)
            self._plans.clear()

    def _prepare(
        self,
        blocks: Sequence[Resource],
        orphans: Sequence[Resource],
        recorded: Sequence[Resource],
        known: Mapping[str, Resource],
    ) -> tuple[tfconfig.Document, dict[str, tfconfig.Address], str]:
        """Write main.tf.json and terraform.tfstate, init if needed; returns the plan key."""
        document = tfconfig.render(blocks, orphans, known)
        addrs = tfconfig.addresses(orphans)
        addrs.update(tfconfig.addresses(blocks))
        state_doc = tfstate.build_state(recorded, tfconfig.addresses(recorded), self._lineage)
        state_text = tfstate.dump(state_doc)
        if self.cli_config_file is None:
            self._write("shipmate.terraformrc", "disable_checkpoint = true\n")
        self._write(MAIN_FILE, document.text)
        self._write(STATE_FILE, state_text)
        (self.work_dir / f"{STATE_FILE}.backup").unlink(missing_ok=True)
        self._ensure_init(document.text, [*blocks, *orphans])
        digest = hashlib.sha256()
        for part in (document.text, state_text, self.binary, json.dumps(self._env, sort_keys=True)):
            digest.update(part.encode())
            digest.update(b"\0")
        return document, addrs, digest.hexdigest()

    def _ensure_init(self, main_text: str, resources: Sequence[Resource]) -> None:
        required = json.loads(main_text)["terraform"]["required_providers"]
        stamp = json.dumps(
            {"providers": required, "binary": self.binary, "cli": self._env["TF_CLI_CONFIG_FILE"]},
            sort_keys=True,
        )
        stamp_path = self.work_dir / INIT_STAMP
        lock_file = self.work_dir / ".terraform.lock.hcl"
        if stamp_path.is_file() and lock_file.is_file() and stamp_path.read_text() == stamp:
            return
        if self.plugin_cache_dir is not None:
            Path(self.plugin_cache_dir).mkdir(parents=True, exist_ok=True)
        with self._plugin_cache_lock():
            result = self._runner.init()
            if result.returncode != 0 and lock_file.exists():
                # A provider version changed: the lock file pins the old one. Start over.
                lock_file.unlink()
                shutil.rmtree(self.work_dir / ".terraform", ignore_errors=True)
                result = self._runner.init()
        if result.returncode != 0:
            raise RuntimeFailed(
                f"terraform init failed in {self.work_dir}:\n{result.error_text()}",
                failed_ids=[r.id for r in resources],
            )
        stamp_path.parent.mkdir(parents=True, exist_ok=True)
        stamp_path.write_text(stamp)

    @contextlib.contextmanager
    def _plugin_cache_lock(self) -> Iterator[None]:
        """The plugin cache is not safe for concurrent inits (Kusion serialises them too)."""
        if self.plugin_cache_dir is None:
            yield
            return
        lock_path = Path(self.plugin_cache_dir).parent / ".plugin-cache.lock"
        with open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # --- helpers -------------------------------------------------------------------------

    @staticmethod
    def _recorded(prior: State) -> dict[str, Resource]:
        return {r.id: r for r in prior.resources if r.type == TERRAFORM}

    @staticmethod
    def _import_id(resource: Resource) -> str | None:
        value = resource.extensions.get(EXT_IMPORT_ID)
        return str(value) if value not in (None, "") else None

    def _adopted(self, resource: Resource, recorded: Mapping[str, Resource]) -> bool:
        """Whether `resource` is read, not planned: it has an import ID and is recorded, or
        its type can be imported (as far as a failed import has not shown otherwise)."""
        if not self._import_id(resource):
            return False
        if resource.id in recorded:
            return True
        with _unimportable_lock:
            return _kind(resource) not in _unimportable

    def _fail(
        self,
        what: str,
        result: CommandResult,
        addrs: Mapping[str, tfconfig.Address],
        *,
        partial: Mapping[str, Resource | None] | None = None,
        extra: str = "",
    ) -> RuntimeFailed:
        text = result.error_text()
        named = _named_ids(text, addrs)
        failed = named or sorted(set(addrs) - set(partial or {}))
        message = f"terraform {what} failed"
        if failed:
            message += " for " + ", ".join(failed)
        if extra:
            message += f"; {extra}"
        message += f":\n{text}"
        return RuntimeFailed(message, partial=partial, failed_ids=failed)

    def _plan(
        self, key: str, addrs: Mapping[str, tfconfig.Address], *, refresh_only: bool = False
    ) -> tuple[Path, dict[str, Any]]:
        plans = self.work_dir / PLANS_DIR
        plans.mkdir(exist_ok=True)
        keep = {p.path.name for p in self._plans.values()}
        for old in plans.iterdir():
            if old.name not in keep:
                old.unlink(missing_ok=True)
        path = plans / (("refresh-" if refresh_only else "") + key[:32] + ".tfplan")
        rel = str(path.relative_to(self.work_dir))
        result = self._runner.plan(rel, refresh_only=refresh_only)
        if result.returncode not in (0, 2):
            raise self._fail("refresh" if refresh_only else "plan", result, addrs)
        shown = self._runner.show_json(rel)
        if shown.returncode != 0:
            raise self._fail("show", shown, addrs)
        try:
            document = json.loads(shown.stdout)
        except ValueError as exc:
            raise RuntimeFailed(f"terraform show -json printed invalid JSON: {exc}") from exc
        return path, document

    def _refresh(
        self, resources: Sequence[Resource], prior: Mapping[str, Resource]
    ) -> dict[str, JSON | None]:
        """Live values of resources that have a recorded state (or an import ID): one refresh."""
        out: dict[str, JSON | None] = {}
        recorded = [prior[r.id] for r in resources if r.id in prior]
        imports = [r for r in resources if r.id not in prior and self._adopted(r, prior)]
        for r in resources:
            out[r.id] = None
        if not recorded and not imports:
            return out
        with self._locked():
            _, addrs, key = self._prepare(imports, recorded, recorded, prior)
            self._import(imports, addrs)
            path, document = self._plan(key, addrs, refresh_only=True)
            path.unlink(missing_ok=True)
        live = tfstate.refreshed_values(document)
        for r in [*recorded, *imports]:
            out[r.id] = live.get(addrs[r.id].address)
        return out

    def _import(
        self, imports: Sequence[Resource], addrs: Mapping[str, tfconfig.Address]
    ) -> list[Resource]:
        """Import each resource; returns those whose type cannot be imported (nothing was
        imported for them: they are created like any other). Other failures raise."""
        skipped = []
        for r in imports:
            result = self._runner.import_(addrs[r.id].address, str(self._import_id(r)))
            if result.returncode == 0:
                continue
            if _NO_IMPORT.search(result.error_text()):
                with _unimportable_lock:
                    _unimportable.add(_kind(r))
                log.warning(
                    "%s: %s cannot be imported (%s); it is created instead",
                    r.id, _kind(r)[1], result.error_text().strip().splitlines()[-1],
                )
                skipped.append(r)
                continue
            raise self._fail(f"import of {self._import_id(r)!r}", result, {r.id: addrs[r.id]})
        return skipped

    # --- the Runtime port ----------------------------------------------------------------

    def read(self, resources: Sequence[Resource], prior: State) -> Mapping[str, JSON | None]:
        """Refreshed values of recorded resources (None when gone or never recorded).

        A resource with `kusionstack.io/import-id` and no recorded state is imported into
        the throwaway working state first, so its live object is the imported one.
        """
        return self._refresh(resources, self._recorded(prior))

    def dry_run(self, planned: Sequence[Resource], prior: State) -> Mapping[str, JSON]:
        """One `plan -out` + `show -json` for all `planned`; planned values by ID.

        Unknown values are KNOWN_AFTER_APPLY; the sensitive tree is under SENSITIVE_KEY.
        Imported resources are read instead (Kusion: never planned), unless their type
        cannot be imported: those are planned like any other.
        """
        recorded = self._recorded(prior)
        imported = [r for r in planned if self._adopted(r, recorded)]
        out: dict[str, JSON] = {}
        if imported:
            refreshed = self._refresh(imported, recorded)
            imported = [r for r in imported if self._adopted(r, recorded)]
            out.update((r.id, refreshed[r.id] or {}) for r in imported)
        read = {r.id for r in imported}
        normal = [r for r in planned if r.id not in read]
        if normal:
            with self._locked():
                _, addrs, key, plan = self._planned(normal, recorded)
            for r in normal:
                change = plan.changes.get(addrs[r.id].address)
                if change is None:
                    raise RuntimeFailed(
                        f"{r.id}: terraform plan has no entry for {addrs[r.id].address}",
                        failed_ids=[r.id],
                    )
                out[r.id] = change.view()
        return out

    def _planned(
        self, normal: Sequence[Resource], recorded: Mapping[str, Resource]
    ) -> tuple[tfconfig.Document, dict[str, tfconfig.Address], str, _Plan]:
        states = [recorded[r.id] for r in normal if r.id in recorded]
        # The recorded entries also contribute their provider configurations: a state entry
        # names the (aliased) provider it was made with, which must exist in the config.
        document, addrs, key = self._prepare(normal, states, states, recorded)
        cached = self._plans.get(key)
        if cached is not None and cached.path.is_file():
            return document, addrs, key, cached
        path, shown = self._plan(key, addrs)
        plan = _Plan(path=path, changes=tfstate.planned_changes(shown))
        self._plans[key] = plan
        return document, addrs, key, plan

    def apply(self, planned: Sequence[Resource], prior: State) -> Mapping[str, Resource]:
        """Apply all `planned` with one plan and one `apply`; the State entries by ID.

        On a Terraform error raises RuntimeFailed whose `partial` holds every resource the
        apply did change (created or updated → its new State entry, including a tainted one;
        destroyed by a failed replace → None) and whose `failed_ids` names the resources
        Terraform reported (or all not applied when it named none).
        """
        recorded = self._recorded(prior)
        imported = [r for r in planned if self._adopted(r, recorded)]
        out: dict[str, Resource] = {}
        if imported:
            out.update(self._adopt(imported, recorded))
        # What could not be imported after all is created like the rest.
        normal = [r for r in planned if r.id not in out]
        if not normal:
            return out
        with self._locked():
            document, addrs, key, plan = self._planned(normal, recorded)
            if document.unresolved:
                lines = [
                    f"  {rid}: {', '.join(refs)}"
                    for rid, refs in sorted(document.unresolved.items())
                ]
                raise RuntimeFailed(
                    "unresolved $kusion_path references (the referenced resource is neither in "
                    "this apply nor in the recorded state):\n" + "\n".join(lines),
                    failed_ids=sorted(document.unresolved),
                )
            before = self._read_state()
            result = self._runner.apply_plan(str(plan.path.relative_to(self.work_dir)))
            self._plans.pop(key, None)
            plan.path.unlink(missing_ok=True)
            after = self._read_state()
        changes = plan.changes
        if result.returncode != 0:
            partial: dict[str, Resource | None] = {}
            for r in normal:
                address = addrs[r.id].address
                old, new = before.get(address), after.get(address)
                if new is None and old is not None:
                    partial[r.id] = None
                elif new is not None and (old is None or dict(new.raw) != dict(old.raw)):
                    sens = changes[address].sensitive if address in changes else None
                    partial[r.id] = tfstate.state_resource(r, new, sens)
            tainted = [rid for rid, res in partial.items() if res and _is_tainted(res)]
            applied = sorted(rid for rid in partial if rid not in tainted)
            extra = "applied before the error: " + (", ".join(applied) if applied else "none")
            error = self._fail("apply", result, addrs, partial=partial, extra=extra)
            raise RuntimeFailed(
                str(error), partial=partial, failed_ids=sorted(set(error.failed_ids) | set(tainted))
            )
        for r in normal:
            address = addrs[r.id].address
            instance = after.get(address)
            if instance is None:
                raise RuntimeFailed(
                    f"{r.id}: terraform apply succeeded but {address} is not in the state",
                    failed_ids=[r.id],
                )
            sens = changes[address].sensitive if address in changes else None
            out[r.id] = tfstate.state_resource(r, instance, sens)
        return out

    def _adopt(
        self, imported: Sequence[Resource], recorded: Mapping[str, Resource]
    ) -> dict[str, Resource]:
        """Imported resources are never planned: keep their record, or import them."""
        out: dict[str, Resource] = {}
        fresh = []
        for r in imported:
            if r.id in recorded:
                old = recorded[r.id]
                out[r.id] = Resource(
                    id=r.id,
                    type=TERRAFORM,
                    attributes=old.attributes,
                    depends_on=r.depends_on,
                    extensions={
                        **r.extensions,
                        **{k: v for k, v in old.extensions.items() if k.startswith("shipmate.io/")},
                    },
                )
            else:
                fresh.append(r)
        if not fresh:
            return out
        with self._locked():
            _, addrs, _ = self._prepare(fresh, [], [], recorded)
            skipped = self._import(fresh, addrs)
            fresh = [r for r in fresh if r not in skipped]
            if not fresh:
                return out
            shown = self._runner.show_json()
            if shown.returncode != 0:
                raise self._fail("show", shown, addrs)
            after = self._read_state()
        sensitive = _state_sensitive(json.loads(shown.stdout))
        for r in fresh:
            address = addrs[r.id].address
            instance = after.get(address)
            if instance is None:
                raise RuntimeFailed(f"{r.id}: terraform import left no state for {address}")
            out[r.id] = tfstate.state_resource(r, instance, sensitive.get(address))
        return out

    def delete(self, resources: Sequence[Resource], prior: State) -> None:
        """`destroy` exactly the given resources (their recorded state); absent ones are fine.

        On a Terraform error raises RuntimeFailed with `partial[id] = None` for every
        resource that was destroyed before the error.
        """
        recorded = self._recorded(prior)
        targets = []
        for r in resources:
            entry = recorded.get(r.id) or (r if TF_STATE_EXT in r.extensions else None)
            if entry is not None:
                targets.append(entry)
        if not targets:
            return
        with self._locked():
            _, addrs, _ = self._prepare([], targets, targets, recorded)
            before = self._read_state()
            result = self._runner.destroy()
            after = self._read_state()
        gone = {
            r.id: None
            for r in targets
            if addrs[r.id].address in before and addrs[r.id].address not in after
        }
        if result.returncode != 0:
            raise self._fail("destroy", result, addrs, partial=gone)
        left = sorted(r.id for r in targets if addrs[r.id].address in after)
        if left:
            raise RuntimeFailed(
                f"terraform destroy succeeded but left {', '.join(left)} in the state",
                partial=gone,
                failed_ids=left,
            )

    def wait_ready(self, resource: Resource, timeout_seconds: float) -> None:
        """Terraform resources are ready when `apply` returns: the provider waited already."""
        tfconfig.address_of(resource)


def _is_tainted(resource: Resource) -> bool:
    raw = resource.extensions.get(TF_STATE_EXT)
    return isinstance(raw, Mapping) and raw.get("status") == "tainted"


def _state_sensitive(document: Mapping[str, Any]) -> dict[str, Any]:
    tfstate.check_format(document, "state")
    root = (document.get("values") or {}).get("root_module") or {}
    return {
        str(r["address"]): tfstate.prune(r.get("sensitive_values"))
        for r in root.get("resources") or ()
        if r.get("mode") == "managed"
    }


def _named_ids(text: str, addrs: Mapping[str, tfconfig.Address]) -> list[str]:
    """Resource IDs whose Terraform address appears in an error text."""
    found = []
    for rid, addr in addrs.items():
        pattern = r"(?:(?<![\w.-])|(?<=resource\.))" + re.escape(addr.address) + r"(?![\w-])"
        if re.search(pattern, text):
            found.append(rid)
    return sorted(found)
