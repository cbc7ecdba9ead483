"""Adapters to the outside world; each subpackage is independent of the others."""
