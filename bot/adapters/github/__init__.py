"""GitHub adapter: PyGithub-backed ports, webhook verification and payload parsing."""
