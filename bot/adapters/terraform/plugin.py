"""The Terraform runtime as a `shipmate.runtimes` plug-in (registered in pyproject.toml).

Terraform plans and applies a stack's `Terraform` resources together (`batch`), imports
objects named by `kusionstack.io/import-id` (`import`) and rebuilds `terraform.tfstate` from
the State recorded in the release (`recorded-state`). How to run it (binary, CLI config,
sandbox) is read once, when the bot starts: `terraform_sandbox=bwrap` fails there when
bubblewrap cannot run.
"""

from __future__ import annotations

from bot.adapters.terraform.runtime import TerraformSettings
from bot.core.ports import Runtime
from bot.core.runtimes import (
    Capability,
    RuntimeBuilder,
    RuntimePlugin,
    RuntimeSettings,
    RuntimeTarget,
)
from bot.core.spec import TERRAFORM


def configure(settings: RuntimeSettings) -> RuntimeBuilder:
    """The builder of one stack's Terraform runtime: a working directory per project, stack and
    workspace under the cache directory."""
    terraform = TerraformSettings.from_env(
        settings.env, cache_dir=settings.cache_dir, sandbox=settings.options.get("terraform_sandbox")
    )

    def build(target: RuntimeTarget) -> Runtime:
        return terraform.runtime(target.project, target.stack, target.workspace, target.context)

    return build


PLUGIN = RuntimePlugin(
    TERRAFORM, frozenset({Capability.BATCH, Capability.IMPORT, Capability.RECORDED_STATE}), configure
)
