"""The `mlplat` command line (`mlplat.py`) and its command areas (`commands/`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_platform.cli.mlplat import full_app, main

if TYPE_CHECKING:
    import typer

__all__ = ["app", "full_app", "main"]


def __getattr__(name: str) -> typer.Typer:
    """`app`: the app with every command area (importing this package imports none of them)."""
    if name == "app":
        return full_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
