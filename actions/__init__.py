"""The GitHub Action entry point: `python -m actions` inside a workflow step (see action.yml)."""
