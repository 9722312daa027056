"""`mlplat validate`, `mlplat plan`, `mlplat graph`: stack config and the offline engine."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from mlops_platform.config import load_stack_file, shipped_envs, stack_file_for
from mlops_platform.core.errors import ConfigError, UsageError
from mlops_platform.engine import run_platform
from mlops_platform.engine.present import graph, outputs_table, resource_tree, security_table

out = Console()


def _targets(envs: list[str], stack_files: list[Path]) -> list[Path]:
    if not envs and not stack_files:
        envs = shipped_envs()
    unknown = [e for e in envs if not stack_file_for(e).is_file()]
    if unknown:
        raise UsageError(f"unknown environment(s) {', '.join(unknown)} — fix: use one of {', '.join(shipped_envs())} "
                         "or pass --stack-file")
    return [stack_file_for(e) for e in envs] + list(stack_files)


def validate(envs: list[str] = typer.Argument(None, help="Environments (default: all shipped)."),
             stack_file: list[Path] = typer.Option([], "--stack-file", help="Validate this stack file too."),
             as_json: bool = typer.Option(False, "--json", help="Machine-readable result.")) -> None:
    """Validate stack configuration; every problem is reported with file, line, field and fix."""
    results: dict[str, list[str]] = {}
    for path in _targets(envs or [], stack_file):
        try:
            load_stack_file(path)
            results[str(path)] = []
        except ConfigError as exc:
            results[str(path)] = [i.render() for i in exc.issues]
    if as_json:
        out.print_json(json.dumps({"valid": not any(results.values()), "files": results}))
    else:
        for name, issues in results.items():
            mark = "[green]valid[/]" if not issues else f"[red]{len(issues)} error(s)[/]"
            out.print(f"{escape(name)}: {mark}", soft_wrap=True)
            for issue in issues:
                out.print(f"  - {escape(issue)}", soft_wrap=True)
    if any(results.values()):
        raise typer.Exit(ConfigError.exit_code)


def _one(env: str | None, stack_file: Path | None) -> tuple[str | None, Path | None]:
    if (env is None) == (stack_file is None):
        raise UsageError("give an environment or --stack-file (exactly one)")
    return env, stack_file


def plan(env: str = typer.Argument(None, help="Environment to plan."),
         stack_file: Path = typer.Option(None, "--stack-file", help="Plan this stack file instead."),
         as_json: bool = typer.Option(False, "--json", help="Print the recorded plan as JSON.")) -> None:
    """Run the real platform program offline (Pulumi mock runtime) and show what it would create."""
    result = run_platform(*_one(env, stack_file))
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2, sort_keys=True))
        return
    out.print(resource_tree(result))
    out.print(security_table(result))
    out.print(outputs_table(result))


def graph_cmd(env: str = typer.Argument(None, help="Environment to draw."),
              stack_file: Path = typer.Option(None, "--stack-file", help="Draw this stack file instead."),
              fmt: str = typer.Option("mermaid", "--format", help="mermaid | dot")) -> None:
    """Draw the platform's components and their dependencies from the recorded plan."""
    if fmt not in ("mermaid", "dot"):
        raise UsageError(f"--format {fmt!r}: use mermaid or dot")
    typer.echo(graph(run_platform(*_one(env, stack_file)), fmt))


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("plan")(plan)
    app.command("graph")(graph_cmd)

