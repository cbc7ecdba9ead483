"""Use cases over ports: preview, apply, destroy, drift and comment commands; the event router."""
