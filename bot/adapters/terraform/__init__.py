"""Terraform runtime: one working directory per stack and workspace, state carried in the release.

`TerraformSettings.configured()` turns Shipmate's settings (`bot.settings.TerraformOptions`:
binary, CLI config, sandbox, ...) into how to run Terraform under the cache directory;
`settings.runtime(project, stack, workspace, context)` gives the `Runtime` for one stack.
"""

from bot.adapters.terraform import config, tfstate
from bot.adapters.terraform.runtime import TerraformRuntime, TerraformSettings

__all__ = ["TerraformRuntime", "TerraformSettings", "config", "tfstate"]
