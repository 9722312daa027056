"""`mlplat mirror ENV`: the commands that fill an air-gapped environment's mirror (docs/air-gapped.md)."""

from __future__ import annotations

import json

import typer

from mlops_platform.config import load_env
from mlops_platform.ops.mirror import mirror_plan


def mirror(env: str = typer.Argument(..., help="Environment (a stacks/Pulumi.<env>.yaml)."),
           as_json: bool = typer.Option(False, "--json", help="Machine-readable result.")) -> None:
    """Print, as a shell script, the image copies (crane) into the platform repositories and the chart pulls
    (helm) for the runner image of an environment that mirrors its images. Pipe it to `sh` to perform it."""
    plan = mirror_plan(load_env(env))  # failures: the CLI prints them (as `{"error": ...}` with --json)
    typer.echo(json.dumps(plan.to_json()) if as_json else "\n".join(plan.commands()))


def register(app: typer.Typer) -> None:
    app.command("mirror")(mirror)
