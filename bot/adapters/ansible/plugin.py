"""The Ansible runtime as a `shipmate.runtimes` plug-in (registered in pyproject.toml).

It declares `batch` only: one ansible-playbook run previews (probe + check mode) or applies
all of a stack's `Ansible` resources, ordered by `dependsOn` inside the play, hosts in
parallel with forks = the bot's concurrency. It does not declare `readiness`: a unit's
readiness (active, port accepting) runs inside the apply play right after the unit's task, so
a unit that never gets ready is that resource's failure. Host credentials are resolved
through `RuntimeTarget.resolve_secret` when a run connects.
"""

from __future__ import annotations

from bot.adapters.ansible.runtime import AnsibleSettings
from bot.core.ports import Runtime
from bot.core.runtimes import (
    Capability,
    RuntimeBuilder,
    RuntimePlugin,
    RuntimeSettings,
    RuntimeTarget,
)
from bot.core.spec import ANSIBLE


def configure(settings: RuntimeSettings) -> RuntimeBuilder:
    """The builder of one stack's Ansible runtime; per-stack files (known_hosts) live under the
    stack's scratch directory, or under the cache directory without one."""
    ansible = AnsibleSettings(env=settings.env, forks=settings.concurrency, state_dir=settings.cache_dir / "ansible")

    def build(target: RuntimeTarget) -> Runtime:
        return ansible.runtime(target)

    return build


PLUGIN = RuntimePlugin(ANSIBLE, frozenset({Capability.BATCH}), configure)
