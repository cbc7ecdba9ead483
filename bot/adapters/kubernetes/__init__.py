"""Kubernetes runtime: the official client, server-side apply, dry-run, readiness."""
