"""Terraform runtime: one working directory per stack and workspace, state carried in the release."""
