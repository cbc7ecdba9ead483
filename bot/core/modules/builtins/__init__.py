"""Shipmate's built-in modules, accepting the fields of Kusion's catalog schemas of the same name.

| `_type`                     | gives                                           |
|-----------------------------|-------------------------------------------------|
| `service.Service`           | Deployment (+ ConfigMaps for container files)   |
| `job.Job`                   | Job, or CronJob with `schedule`                 |
| `network.Network`           | Services for ports, Ingress                     |
| `k8s_manifest.K8sManifest`  | raw manifests from files                        |
| `terraform.Terraform`       | raw Terraform resources with their provider     |

Not registered yet: `onprem.Files` and `onprem.Service` (users, directories, files and systemd
units on hosts, as `type: Ansible` resources) are in `ONPREM`, and join `BUILTINS` in the same
change that registers the Ansible runtime, so that no user can generate a Spec no runtime applies.
"""

from __future__ import annotations

from bot.core.modules.base import Module
from bot.core.modules.builtins.k8s_manifest import K8sManifestModule
from bot.core.modules.builtins.network import NetworkModule
from bot.core.modules.builtins.onprem import OnPremModule
from bot.core.modules.builtins.terraform import TerraformModule
from bot.core.modules.builtins.workload import JobModule, ServiceModule

BUILTINS: tuple[Module, ...] = (
    ServiceModule(),
    JobModule(),
    NetworkModule(),
    K8sManifestModule(),
    TerraformModule(),
)

ONPREM: tuple[Module, ...] = (OnPremModule(),)
