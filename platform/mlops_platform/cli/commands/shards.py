"""`mlplat shards ENV`: the tenant shard stacks of an environment, as a table or a CI matrix."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from mlops_platform.config import load_env
from mlops_platform.core.shards import assign

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


def register(app: typer.Typer) -> None:
    app.command("shards")(shards)
