"""`mlplat upgrade ENV --to X.Y`: print the ordered, skew-checked plan of a one-minor Kubernetes upgrade."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlops_platform.config import load_env, stack_file_for
from mlops_platform.ops.upgrade import UpgradePlan, plan_upgrade

out = Console()


def _view(plan: UpgradePlan) -> Table:
    table = Table(title=f"{plan.env}: Kubernetes {plan.from_version} → {plan.to_version} "
                        f"(upgrade policy {plan.upgrade_policy})")
    for column in ("#", "stage", "name", "from", "to", "by"):
        table.add_column(column)
    for i, step in enumerate(plan.steps, start=1):
        table.add_row(str(i), step.stage.value, escape(step.name), escape(step.from_version), escape(step.to_version),
                      "command below" if step.command else "up")
    return table


def _next_step(plan: UpgradePlan) -> str:
    first = ("first run the commands below, in order (Bottlerocket node groups: the minor and the pinned release "
             "in one update, docs/operations.md section 5); then " if plan.manual else "")
    return (f"next: set cluster.version: \"{plan.to_version}\" in {stack_file_for(plan.env)}, review with "
            f"`mlplat preview {plan.env}`, {first}apply with `mlplat up {plan.env}` (one `up` runs the other steps "
            "in this order); check each add-on version on first deploy (docs/operations.md)")


def upgrade(env: str = typer.Argument(..., help="Environment (a stacks/Pulumi.<env>.yaml)."),
            to: str = typer.Option(..., "--to", help="Target Kubernetes minor, e.g. 1.35 (one minor up)."),
            as_json: bool = typer.Option(False, "--json", help="Machine-readable result.")) -> None:
    """Ordered upgrade plan: control plane → add-ons → node groups → charts, with version-skew checks.
    Refuses downgrades and skipped minors (exit 1 with the reason)."""
    plan = plan_upgrade(load_env(env), to)  # failures: the CLI prints them (as `{"error": ...}` with --json)
    if as_json:
        typer.echo(json.dumps(plan.to_json()))
        return
    if not plan.steps:
        out.print(f"{escape(env)} already runs Kubernetes {escape(plan.to_version)}: nothing to upgrade")
        return
    out.print(_view(plan))
    for check in plan.checks:
        out.print(f"  checked: {escape(check)}", soft_wrap=True)
    out.print(escape(_next_step(plan)), soft_wrap=True)
    for i, step in enumerate(plan.manual, start=1):
        out.print(f"  {i}. {escape(step.command)}", soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("upgrade")(upgrade)
