"""Shipmate: a GitOps bot for Kusion-compatible config repositories."""

__version__ = "0.1.0"
