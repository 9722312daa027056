"""The `mlplat` command line (`mlplat.py`) and its command areas (`commands/`)."""

from mlops_platform.cli.mlplat import app, main

__all__ = ["app", "main"]
