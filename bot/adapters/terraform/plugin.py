"""The Terraform runtime as a `shipmate.runtimes` plug-in (registered in pyproject.toml).

Terraform plans and applies a stack's `Terraform` resources together (`batch`), imports
objects named by `kusionstack.io/import-id` (`import`) and rebuilds `terraform.tfstate` from
the State recorded in the release (`recorded-state`). How to run it (binary, CLI config,
sandbox, ...) is `settings.terraform` (`bot.settings.TerraformOptions`), handed over as the
`terraform` runtime option and applied once, when the bot starts: a `bwrap` sandbox fails
there when bubblewrap cannot run.
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
from bot.settings import TerraformOptions


def configure(settings: RuntimeSettings) -> RuntimeBuilder:
    """The builder of one stack's Terraform runtime: a working directory per project, stack and
    workspace under the cache directory."""
    options = settings.options.get("terraform")
    terraform = TerraformSettings.configured(
        options if isinstance(options, TerraformOptions) else TerraformOptions(), settings.env,
        cache_dir=settings.cache_dir,
    )

    def build(target: RuntimeTarget) -> Runtime:
        return terraform.runtime(target.project, target.stack, target.workspace, target.context)

    return build


PLUGIN = RuntimePlugin(
    TERRAFORM, frozenset({Capability.BATCH, Capability.IMPORT, Capability.RECORDED_STATE}), configure
)
