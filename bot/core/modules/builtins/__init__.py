"""Shipmate's built-in modules, accepting the fields of Kusion's catalog schemas of the same name.

| `_type`                     | gives                                           |
|-----------------------------|-------------------------------------------------|
| `service.Service`           | Deployment (+ ConfigMaps for container files)   |
| `job.Job`                   | Job, or CronJob with `schedule`                 |
| `network.Network`           | Services for ports, Ingress                     |
| `k8s_manifest.K8sManifest`  | raw manifests from files                        |
| `terraform.Terraform`       | raw Terraform resources with their provider     |
| `onprem.Files`              | packages, users, directories, files on hosts    |
| `onprem.Service`            | a systemd unit with its user, artifact, files   |

The `onprem` modules give `type: Ansible` resources (`bot.adapters.ansible` applies them).
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
    OnPremModule(),
)
