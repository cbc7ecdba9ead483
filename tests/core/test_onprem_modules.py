"""The onprem.Files and onprem.Service modules: golden Specs, IDs, ordering, masking, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core import secrets
from bot.core.config.snapshot import ConfigSnapshot
from bot.core.errors import ConfigError
from bot.core.generate import generate_stack, render_spec
from bot.core.mask import MASK, mask_spec
from bot.core.modules import ModuleRegistry
from bot.core.modules.builtins import BUILTINS
from bot.core.spec import ANSIBLE, Spec
from tests.golden import assert_golden

ROOT = Path(__file__).resolve().parents[2]
ONPREM_REPO = ROOT / "fixtures" / "configs" / "onprem"
GOLDEN = ROOT / "fixtures" / "golden" / "specs" / "onprem"
REGISTRY = ModuleRegistry(BUILTINS)


def files_of(directory: Path) -> dict[str, str]:
    return {p.relative_to(directory).as_posix(): p.read_text() for p in directory.rglob("*") if p.is_file()}


def generated(**changes: str) -> Spec:
    return generate_stack(ConfigSnapshot({**files_of(ONPREM_REPO), **changes}), "web/dev", REGISTRY)


def problems(**changes: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        generated(**changes)
    return str(err.value).splitlines()


def test_the_example_stack_matches_its_golden_spec() -> None:
    assert_golden(GOLDEN / "web-dev.yaml", render_spec(generated()))


def test_one_resource_per_host_and_object_with_kusion_style_ids() -> None:
    by_id = generated().by_id()
    assert all(r.type == ANSIBLE for r in by_id.values())
    env = by_id["ansible:web2:ansible.builtin.copy:/etc/api/api.env"]
    assert env.attributes["host"] == {
        "name": "web2", "address": "192.0.2.12", "port": 2222, "user": "deploy", "baseDir": "/srv/test/web2",
        "auth": {"privateKey": "ref://ssh-deploy/key"}, "become": {"method": "sudo", "user": "root"},
    }
    assert env.attributes["content"] == 'DB_PASSWORD="ref://db/password"\nLOG_LEVEL="info"\n'
    assert env.extensions["resourceType"] == "ansible.builtin.copy"
    # the cache is placed on web1 only, and runs its image with podman
    assert "ansible:web1:ansible.builtin.systemd_service:cache.service" in by_id
    assert "ansible:web2:ansible.builtin.systemd_service:cache.service" not in by_id
    unit = by_id["ansible:web1:ansible.builtin.copy:/etc/systemd/system/cache.service"].attributes["content"]
    assert ("ExecStart=/usr/bin/podman run --rm --name cache --env-file /etc/cache/cache.env -p 6379:6379 "
            "docker.io/library/redis:7.2 redis-server --save ''") in unit
    service = by_id["ansible:web1:ansible.builtin.systemd_service:api.service"]
    assert service.attributes["state"] == "started"
    assert service.extensions["readiness"] == {"active": True, "port": 8080}


def test_users_come_before_directories_before_files_before_the_unit() -> None:
    by_id = generated().by_id()

    def deps(rid: str) -> set[str]:
        return set(by_id[f"ansible:web1:{rid}"].depends_on)

    user = "ansible:web1:ansible.builtin.user:app"
    assert deps("ansible.builtin.file:/etc/app") == {user}
    assert deps("ansible.builtin.file:/etc/app/conf.d") == {user, "ansible:web1:ansible.builtin.file:/etc/app"}
    assert deps("ansible.builtin.copy:/etc/app/conf.d/logging.conf") == {
        user, "ansible:web1:ansible.builtin.file:/etc/app", "ansible:web1:ansible.builtin.file:/etc/app/conf.d",
    }
    unit = deps("ansible.builtin.systemd_service:api.service")
    assert {"ansible:web1:ansible.builtin.user:api", "ansible:web1:ansible.builtin.copy:/etc/api/api.env",
            "ansible:web1:ansible.builtin.get_url:/opt/api/api-1.2.0-linux-amd64",
            "ansible:web1:ansible.builtin.copy:/etc/systemd/system/api.service"} <= unit
    # dependencies stay on their host
    assert all(d.startswith("ansible:web1:") for r in by_id.values() if r.id.startswith("ansible:web1:")
               for d in r.depends_on)


def test_secret_contents_are_resolved_and_masked_while_credentials_stay_references() -> None:
    spec, found = secrets.resolve(generated())
    by_id = spec.by_id()
    env = by_id["ansible:web1:ansible.builtin.copy:/etc/api/api.env"].attributes["content"]
    assert env == 'DB_PASSWORD="hunter2-but-longer"\nLOG_LEVEL="info"\n'
    assert by_id["ansible:web1:ansible.builtin.copy:/etc/app/token"].attributes["content"] == "s3cr3t-token-value"
    assert found == {"hunter2-but-longer", "s3cr3t-token-value"}
    assert all(r.attributes["host"]["auth"] == {"privateKey": "ref://ssh-deploy/key"} for r in spec.resources)
    masked = mask_spec(spec, found).by_id()
    assert masked["ansible:web1:ansible.builtin.copy:/etc/api/api.env"].attributes["content"] == MASK
    assert masked["ansible:web1:ansible.builtin.copy:/etc/app/token"].attributes["content"] == MASK
    assert masked["ansible:web1:ansible.builtin.copy:/etc/api/settings.toml"].attributes["content"] != MASK
    assert all(r.attributes["host"]["auth"] == {"privateKey": "ref://ssh-deploy/key"} for r in masked.values())


def test_same_input_gives_byte_identical_specs() -> None:
    assert render_spec(generated()) == render_spec(generated())


def test_bad_module_input_is_located_in_main_yaml() -> None:
    main = """\
api:
  accessories:
    svc:
      _type: onprem.Service
      hosts: db
      artifact: {url: "ftp://x", checksum: "md5:abc"}
      image: nginx
      environment: {1BAD: x}
      port: 0
    files:
      _type: onprem.Files
      hosts: web
      directories: {etc/app: {}}
      files: {/etc/app/x: {content: x, mode: 644}}
      users: {Bad: {}}
"""
    assert problems(**{"web/dev/main.yaml": main}) == [
        "web/dev/main.yaml:15:15: api.accessories.files.users.Bad: expected a user name (lower-case letters, digits, '_', '-'), got 'Bad'",
        "web/dev/main.yaml:13:21: api.accessories.files.directories.etc/app: expected an absolute, normalized directory path, got 'etc/app'",
        "web/dev/main.yaml:14:46: api.accessories.files.files./etc/app/x.mode: expected a string, got an integer (644)",
        "web/dev/main.yaml:6:23: api.accessories.svc.artifact.url: expected an http(s) URL of a file, got 'ftp://x'",
        "web/dev/main.yaml:4:7: api.accessories.svc: expected one of 'artifact' (a file fetched from a URL) or 'image' (run with podman), not both",
        "web/dev/main.yaml:9:13: api.accessories.svc.port: expected an integer from 1 to 65535, got 0",
        "web/dev/main.yaml:8:21: api.accessories.svc.environment.1BAD: expected an environment variable name, got '1BAD'",
        "web/dev/main.yaml:5:14: api.accessories.svc.hosts: unknown host group 'db'; groups: all, web (or a host: web1, web2)",
    ]


def test_a_missing_inventory_or_secret_store_is_located_in_the_workspace() -> None:
    no_inventory = "modules: {onprem: {configs: {default: {}}}}\n"
    # said for each of the example's three onprem blocks
    assert problems(**{"workspaces/dev.yaml": no_inventory}) == 3 * [
        "workspaces/dev.yaml:1:19: modules.onprem: the onprem modules need an inventory: "
        "modules.onprem.configs.default.inventory in the workspace",
    ]
    no_store = ("modules: {onprem: {configs: {default: {inventory: "
                "{hosts: {web1: {address: h, user: u}}, auth: {password: ref://p}}}}}}\n")
    assert problems(**{"workspaces/dev.yaml": no_store}) == 3 * [
        "workspaces/dev.yaml:1:51: modules.onprem.configs.default.inventory: "
        "the inventory's ref:// credentials need the workspace's secretStore",
    ]


def test_a_become_password_stays_a_reference_like_the_login_credential() -> None:
    workspace = (ONPREM_REPO / "workspaces" / "dev.yaml").read_text().replace(
        "become: {method: sudo, user: root}", "become: {method: sudo, user: root, password: ref://ssh-deploy/sudo}"
    )
    resource = generated(**{"workspaces/dev.yaml": workspace}).by_id()["ansible:web1:ansible.builtin.user:app"]
    assert resource.attributes["host"]["become"] == {"method": "sudo", "user": "root", "password": "ref://ssh-deploy/sudo"}
    assert "__sensitive__" not in resource.extensions  # references are not secrets; the runtime resolves them


def test_packages_come_before_users_and_a_package_wanted_absent_orders_nothing() -> None:
    main = (ONPREM_REPO / "web" / "dev" / "main.yaml").read_text().replace(
        "      hosts: web\n      users:", "      hosts: web\n      packages: {curl: {}, telnet: {state: absent}}\n      users:", 1
    )
    by_id = generated(**{"web/dev/main.yaml": main}).by_id()
    curl = by_id["ansible:web1:ansible.builtin.package:curl"]
    assert curl.attributes["name"] == "curl" and curl.attributes["state"] == "present"
    assert by_id["ansible:web2:ansible.builtin.package:telnet"].attributes["state"] == "absent"
    user = by_id["ansible:web1:ansible.builtin.user:app"]
    assert user.depends_on == ("ansible:web1:ansible.builtin.package:curl",)


def test_a_bad_package_is_located() -> None:
    main = (ONPREM_REPO / "web" / "dev" / "main.yaml").read_text().replace(
        "      hosts: web\n      users:", "      hosts: web\n      packages: {curl: {state: latest}}\n      users:", 1
    )
    assert problems(**{"web/dev/main.yaml": main}) == [
        "web/dev/main.yaml:7:32: api.accessories.base.packages.curl.state: expected present or absent, got 'latest'",
    ]


def test_a_pinned_host_key_reaches_the_host_entry() -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    workspace = (ONPREM_REPO / "workspaces" / "dev.yaml").read_text().replace(
        "web1: {address: 192.0.2.11, user: deploy}", f"web1: {{address: 192.0.2.11, user: deploy, hostKey: {key} root@web1}}"
    )
    by_id = generated(**{"workspaces/dev.yaml": workspace}).by_id()
    assert by_id["ansible:web1:ansible.builtin.user:app"].attributes["host"]["hostKey"] == key
    assert "hostKey" not in by_id["ansible:web2:ansible.builtin.user:app"].attributes["host"]


def test_a_service_may_run_a_program_already_on_the_host_but_names_it_by_its_path() -> None:
    def main(command: str) -> str:
        return f"""api:
  accessories:
    svc:
      _type: onprem.Service
      hosts: web
      command: {command}
      port: 8080
"""
    by_id = generated(**{"web/dev/main.yaml": main("[/usr/bin/python3, -m, http.server, '8080']")}).by_id()
    unit = by_id["ansible:web1:ansible.builtin.copy:/etc/systemd/system/svc.service"].attributes["content"]
    assert "ExecStart=/usr/bin/python3 -m http.server 8080\n" in unit
    assert not any(":ansible.builtin.get_url:" in rid for rid in by_id)
    assert problems(**{"web/dev/main.yaml": main("[python3, -m, http.server]")}) == [
        "web/dev/main.yaml:4:7: api.accessories.svc: expected 'artifact' (a file fetched from a URL), 'image' (run "
        "with podman), or a 'command' whose program is already on the host (an absolute path, e.g. from `packages`)",
    ]
