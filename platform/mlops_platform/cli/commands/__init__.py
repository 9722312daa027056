"""CLI command areas; each module exposes `register(app)`.

`--json` contract: a command prints exactly one JSON object on stdout. When it fails, that object holds
`"error": {"code", "exit_code", "message", "issues"}` — beside the result when there is one (validate,
preflight, cost, fleet check), alone otherwise (printed by `cli.main`).
"""

from __future__ import annotations

import os
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from mlops_platform.core.errors import MlplatError
from mlops_platform.core.files import finite_json

_err = Console(stderr=True)
JOBS_OPTION = typer.Option(None, "-j", "--jobs", min=1, help="Processes that plan the tenants stacks in parallel "
                           "(default: the CPU cores this process may use). The plan is the same for every N.")


def default_jobs() -> int:
    """The CPU cores this process may run on (a container or `taskset` may allow fewer than the machine has)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def timings_line(timings: list[dict[str, Any]], cached: bool) -> str:
    """`aws 3.1 s, cluster 2.0 s, tenants dev 4.2 s (10 projects)`: the program runs of a plan, one line."""
    runs = ", ".join(f"{t['layer']} {t['stack']} {t['seconds']:.1f} s" + (f" ({t['projects']} projects)"
                                                                         if t["projects"] is not None else "")
                     for t in timings)
    return f"planned: {runs}" + (" (from the plan cache)" if cached else "")


def echo_json(data: dict[str, Any], failure: MlplatError | None = None) -> None:
    """Print a command's JSON result; a failed result carries the `error` object of the --json contract."""
    typer.echo(finite_json({**data, **failure.to_json()} if failure is not None else data))


def fail_after_output(failure: MlplatError) -> NoReturn:
    """Exit with the failure's code when the result is already printed (no second object on stdout)."""
    _err.print(f"[bold red]error:[/] {escape(failure.render())}", highlight=False, soft_wrap=True)
    raise typer.Exit(failure.exit_code)
