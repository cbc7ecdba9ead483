"""Terraform runtime: one working directory per stack and workspace, state carried in the release.

`TerraformSettings.from_env()` reads how to run Terraform (binary, CLI config, sandbox) under
the cache directory `bot.settings` resolved;
`settings.runtime(project, stack, workspace, context)` gives the `Runtime` for one stack.
"""

from bot.adapters.terraform import config, tfstate
from bot.adapters.terraform.runtime import TerraformRuntime, TerraformSettings

__all__ = ["TerraformRuntime", "TerraformSettings", "config", "tfstate"]
