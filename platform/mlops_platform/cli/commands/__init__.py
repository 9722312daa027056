"""CLI command areas; each module exposes `register(app)`.

`--json` contract: a command prints exactly one JSON object on stdout. When it fails, that object holds
`"error": {"code", "exit_code", "message", "issues"}` — beside the result when there is one (validate,
preflight, cost, fleet check), alone otherwise (printed by `cli.main`).
"""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from mlops_platform.core.errors import MlplatError
from mlops_platform.core.files import finite_json

_err = Console(stderr=True)


def echo_json(data: dict[str, Any], failure: MlplatError | None = None) -> None:
    """Print a command's JSON result; a failed result carries the `error` object of the --json contract."""
    typer.echo(finite_json({**data, **failure.to_json()} if failure is not None else data))


def fail_after_output(failure: MlplatError) -> NoReturn:
    """Exit with the failure's code when the result is already printed (no second object on stdout)."""
    _err.print(f"[bold red]error:[/] {escape(failure.render())}", highlight=False, soft_wrap=True)
    raise typer.Exit(failure.exit_code)
