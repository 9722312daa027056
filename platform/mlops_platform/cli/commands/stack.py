"""`mlplat validate`, `mlplat plan`, `mlplat graph`: stack config and the offline engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape

from mlops_platform.cli.commands import JOBS_OPTION, default_jobs, echo_json
from mlops_platform.config import env_stack_file, load_stack_file, shipped_envs
from mlops_platform.config.loader import stack_warnings
from mlops_platform.core.errors import ConfigError, ConfigIssue, UsageError
from mlops_platform.core.layers import Layer

out = Console()

if TYPE_CHECKING:
    from mlops_platform.engine import Plan, run_platform
else:
    def run_platform(*args: Any, **options: Any) -> Plan:
        """`engine.run_platform` (its signature, for mypy, above), imported when a command plans:
        `mlplat validate` starts without the engine and the Pulumi SDK (about 0.15 CPU s)."""
        from mlops_platform.engine import run_platform as plan_offline

        return plan_offline(*args, **options)


def _targets(envs: list[str], stack_files: list[Path]) -> list[Path]:
    if not envs and not stack_files:
        envs = shipped_envs()
    return [env_stack_file(e) for e in envs] + list(stack_files)


def validate(envs: list[str] = typer.Argument(None, help="Environments (default: all shipped)."),
             stack_file: list[Path] = typer.Option([], "--stack-file", help="Validate this stack file too."),
             as_json: bool = typer.Option(False, "--json", help="Machine-readable result.")) -> None:
    """Validate stack configuration; every problem is reported with file, line, field and fix."""
    results: dict[str, list[str]] = {}
    warnings: dict[str, list[str]] = {}
    issues: list[ConfigIssue] = []
    for path in _targets(envs or [], stack_file):
        try:
            warnings[str(path)] = [w.render() for w in stack_warnings(path, load_stack_file(path))]
            results[str(path)] = []
        except ConfigError as exc:
            results[str(path)] = [i.render() for i in exc.issues]
            issues.extend(exc.issues)
    failure = ConfigError(issues, f"{sum(bool(v) for v in results.values())} file(s)") if issues else None
    if as_json:
        echo_json({"valid": not issues, "files": results, "warnings": warnings}, failure)
    else:
        _print_results(results, warnings)
    if failure is not None:
        raise typer.Exit(ConfigError.exit_code)


def _print_results(results: dict[str, list[str]], warnings: dict[str, list[str]]) -> None:
    for name, problems in results.items():
        mark = "[green]valid[/]" if not problems else f"[red]{len(problems)} error(s)[/]"
        out.print(f"{escape(name)}: {mark}", soft_wrap=True)
        for problem in problems:
            out.print(f"  - {escape(problem)}", soft_wrap=True)
        for warning in warnings.get(name, []):
            out.print(f"  [yellow]warning:[/] {escape(warning)}", soft_wrap=True)


def _one(env: str | None, stack_file: Path | None) -> tuple[str | None, Path | None]:
    if (env is None) == (stack_file is None):
        raise UsageError("give an environment or --stack-file (exactly one)")
    return env, stack_file


LAYER = typer.Option(None, "--layer", help="Plan one layer stack: aws | cluster | tenants (default: all, in order).")
SHARD = typer.Option(None, "--shard", min=0, help="Plan one tenant shard's stack (<env>-tenants-K; `mlplat shards "
                     "ENV` lists them): its projects only, on the layers below.")


def plan(env: str = typer.Argument(None, help="Environment to plan."),
         stack_file: Path = typer.Option(None, "--stack-file", help="Plan this stack file instead."),
         as_json: bool = typer.Option(False, "--json", help="Print the recorded plan as JSON."),
         layer: Layer = LAYER,
         project: str = typer.Option(None, "--project",
                                     help="Plan this project's tenant only (tenants layer)."),
         shard: int = SHARD, jobs: int = JOBS_OPTION) -> None:
    """Run the real platform program offline (Pulumi mock runtime) and show what it would create."""
    for option, value in (("--project", project), ("--shard", shard)):
        if value is not None and layer not in (None, Layer.TENANTS):
            raise UsageError(f"{option} {value} lives in the tenants layer — fix: drop --layer {layer.value} "
                             "or use --layer tenants")
    if project is not None and shard is not None:
        raise UsageError(f"--project {project} and --shard {shard}: give one — a project's shard is chosen by its name")
    from mlops_platform.engine.present import outputs_table, resource_tree, security_table, timings_table

    result = run_platform(*_one(env, stack_file), layer=layer, project=project, shard=shard,
                          jobs=jobs or default_jobs())
    if as_json:
        typer.echo(json.dumps({**result.to_json(), "timings": result.timings}, indent=2, sort_keys=True))
        return
    out.print(resource_tree(result))
    out.print(security_table(result))
    out.print(outputs_table(result))
    out.print(timings_table(result))


def graph_cmd(env: str = typer.Argument(None, help="Environment to draw."),
              stack_file: Path = typer.Option(None, "--stack-file", help="Draw this stack file instead."),
              fmt: str = typer.Option("mermaid", "--format", help="mermaid | dot")) -> None:
    """Draw the platform's components and their dependencies from the recorded plan."""
    from mlops_platform.engine.present import graph

    if fmt not in ("mermaid", "dot"):
        raise UsageError(f"--format {fmt!r}: use mermaid or dot")
    typer.echo(graph(run_platform(*_one(env, stack_file)), fmt))


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("plan")(plan)
    app.command("graph")(graph_cmd)

