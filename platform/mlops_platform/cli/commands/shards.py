"""`mlplat shards ENV`: the tenant shard stacks of an environment, as a table or a CI matrix."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from mlops_platform.config import load_env
from mlops_platform.core.shards import MAX_SHARDS, assign
from mlops_platform.workflows.platform_stack import platform_stack

out = Console()


def shards(env: str = typer.Argument(..., help="Platform environment (stacks/Pulumi.ENV.yaml)."),
           as_json: bool = typer.Option(False, "--json", help="A GitHub Actions matrix: "
                                        '{"include": [{"shard", "stack", "projects"}, ...]}.'),
           ) -> None:
    """Which stack of ENV's tenants layer holds which project (`tenants.shards` in the stack file)."""
    cfg = load_env(env)  # a bad stack file is a configuration error (exit 3), as everywhere
    assigned = assign(env, [p.name for p in cfg.projects], cfg.tenants.shards)
    if as_json:
        typer.echo(json.dumps({"include": [s.to_json() for s in assigned]}))
        return
    table = Table(title=f"{env}: {len(cfg.projects)} project(s) in {cfg.tenants.shards} tenant shard(s)")
    for column in ("shard", "stack", "projects"):
        table.add_column(column)
    for shard in assigned:
        table.add_row(str(shard.index), shard.stack, ", ".join(shard.projects) or "-")
    out.print(table)


def platform_stack_cmd(environment_stack: str = typer.Argument(..., help="The project's `platformStack` config: "
                                                                "ORG/mlops-platform/ENV."),
                       project: str = typer.Option(..., "--project", help="The project's name (its slug)."),
                       count: int = typer.Option(None, "--shards", min=1, max=MAX_SHARDS,
                                                 help="The environment's tenants.shards (default: read live from "
                                                      "its aws-layer stack's `tenant_shards` with the Pulumi CLI)."),
                       ) -> None:
    """Print the tenants stack holding PROJECT (ORG/mlops-platform/ENV, or its shard's ENV-tenants-K): what
    a project's CI reads platform outputs from, as its program does."""
    typer.echo(platform_stack(environment_stack, project, count))


def register(app: typer.Typer) -> None:
    app.command("shards")(shards)
    app.command("platform-stack")(platform_stack_cmd)
