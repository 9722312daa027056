"""The `mlplat` command line. Each area registers its commands from `mlops_platform.commands.<area>`.

User errors are `MlplatError`s: printed as one clear message (no traceback) with the class's exit code.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console
from rich.markup import escape

from mlops_platform import __version__
from mlops_platform.errors import MlplatError

app = typer.Typer(name="mlplat", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="MLOps platform: validate, plan, graph, review, new, fleet, bootstrap, preflight, cost, up.")
err = Console(stderr=True)

#: Command areas; each module has `register(app)`.
_AREAS = ["stack", "review", "policy", "scaffold", "ops", "shards"]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlplat {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """mlplat — the platform's command line."""


for _area in _AREAS:
    importlib.import_module(f"mlops_platform.commands.{_area}").register(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, map user errors to exit codes."""
    try:
        app(args=argv, prog_name="mlplat", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int | None) else 1
    except MlplatError as exc:
        err.print(f"[bold red]error:[/] {escape(exc.render())}", highlight=False, soft_wrap=True)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
