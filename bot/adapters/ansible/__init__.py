"""The Ansible runtime: on-prem machines over SSH, driven by ansible-playbook.

`plugin.PLUGIN` is the `shipmate.runtimes` entry point (`Ansible`); `runtime.AnsibleRuntime`
serves one stack. What runs on the hosts: `playbook` (the plays), `objects` (each Ansible
module's tasks, probes and live objects), `plugins/` (our callback and probe module, loaded by
Ansible); how: `connection` (inventory, keys, ansible.cfg), `runner` (the process).
"""
