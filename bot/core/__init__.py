"""The pure core: models, config parsing, modules, generate, diff, DAG planning, rendering.

Nothing in this package touches the network, subprocesses, the environment or the clock.
Adapters supply those through the Protocols in `bot.core.ports`.
"""
