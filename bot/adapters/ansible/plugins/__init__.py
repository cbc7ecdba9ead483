"""Code that runs inside Ansible, not inside Shipmate: the stdout callback that streams task
results as JSON lines (`callback/shipmate_events.py`) and the module that probes a host's
managed objects in one call (`modules/shipmate_probe.py`). Ansible loads them from these
directories (`callback_plugins`, `library` in the run's ansible.cfg); Shipmate never imports
them."""
