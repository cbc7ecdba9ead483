"""What Ansible must never template: every value that comes from a Spec or a credential.

Ansible renders Jinja2 in every string of a play and of an inventory, and a template can run
commands and read files on the machine that runs `ansible-playbook` (`{{ lookup('pipe', ...) }}`).
A Spec's values come from a pull request (a file's content, an environment value, a path), and
a resolved password may hold `{{`: all of them are written as Ansible's `!unsafe` strings,
which it passes on as they are. Only the runtime's own expressions (a unit's restart choice,
the `when` conditions between tasks) stay templates.

The plays and the inventory are written as YAML because JSON has no way to say `!unsafe`.
PyYAML (Ansible's own YAML library) writes them: the core's YAML module reads config and knows
nothing of Ansible's tags.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

UNSAFE_TAG = "!unsafe"


class Unsafe(str):
    """A string Ansible passes on without templating."""

    __slots__ = ()


def untemplated(value: Any) -> Any:
    """`value` with every string in it (keys aside) an `Unsafe` one."""
    if isinstance(value, str):
        return Unsafe(value)
    if isinstance(value, Mapping):
        return {k: untemplated(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [untemplated(v) for v in value]
    return value


class _Dumper(yaml.SafeDumper):
    pass


def _unsafe(dumper: yaml.SafeDumper, value: Unsafe) -> yaml.ScalarNode:
    return dumper.represent_scalar(UNSAFE_TAG, str(value))


_Dumper.add_representer(Unsafe, _unsafe)


def dump(data: Any) -> str:
    """`data` as YAML for Ansible, its `Unsafe` strings tagged `!unsafe`."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=True, allow_unicode=True, default_flow_style=False, width=10_000)
