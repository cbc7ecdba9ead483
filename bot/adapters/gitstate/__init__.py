"""State backends: the Git state branch (GitPython) and the local directory, with locks."""
