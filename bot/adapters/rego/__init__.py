"""Rego policies evaluated with regopy (rego-cpp's Python binding), offline and in process."""

from bot.adapters.rego.engine import RegoEngine

__all__ = ["RegoEngine"]
