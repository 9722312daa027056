"""`mlplat policy list | config | docs`: the policy catalogue and the per-environment configuration."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from mlops_platform.core.errors import UsageError
from mlops_platform.core.files import write_text_atomic
from mlops_platform.policy.catalogue import CATALOGUE, catalogue_json, render_catalogue
from mlops_platform.policy.config import PRESETS, SCHEMA_FILE, schema_text
from mlops_platform.policy.config_files import load_config, preset, to_pulumi_config
from mlops_platform.policy.pack import all_specs
from mlops_platform.scaffold.outputs import load_outputs_file
from mlops_platform.workflows.review import deploy_config, project_config

policy_app = typer.Typer(no_args_is_help=True, help="The CrossGuard policy pack: list, config, docs.")
out = Console()


@policy_app.command("list")
def list_policies(as_json: bool = typer.Option(False, "--json", help="Machine-readable catalogue.")) -> None:
    """Every policy with its severity, area, kind and compliance mapping."""
    if as_json:
        typer.echo(json.dumps(catalogue_json(), indent=2))
        return
    table = Table(title=f"{len(all_specs())} policies", show_lines=False)
    table.add_column("policy", no_wrap=True)
    for col in ("area", "kind", "severity", "compliance", "description"):
        table.add_column(col, overflow="fold")
    for s in all_specs():
        table.add_row(s.name, s.area.value, s.kind.value, s.severity.value,
                      ", ".join(c.reference for c in s.compliance), s.description)
    out.print(table)


@policy_app.command("config")
def pulumi_config(
    env: str = typer.Argument(None, help="Environment: its tier preset plus its GPU cap, budget and estimate."),
    tier: str = typer.Option(None, "--tier", help="A bare preset: dev | staging | prod; with --platform-outputs, "
                             "the preset instead of the environment's own tier."),
    policy_config: Path = typer.Option(None, "--policy-config", help="A configuration file instead."),
    platform_outputs: Path = typer.Option(
        None, "--platform-outputs", help="For a project stack: the platform environment's "
        "`pulumi stack output --json` (its tier and GPU pools; environment-level policies do not apply)."),
) -> None:
    """Print the `--policy-pack-config` JSON for `pulumi preview/up --policy-pack platform/policypack`."""
    chosen = [x for x in (env, policy_config, platform_outputs) if x is not None]
    if len(chosen) > 1 or (not chosen and tier is None) or (tier is not None and (env or policy_config)):
        raise UsageError("give exactly one of ENV, --tier, --policy-config or --platform-outputs [--tier]")
    if tier is not None and tier not in PRESETS:
        raise UsageError(f"--tier {tier!r}: use one of {', '.join(PRESETS)}")
    if env is not None:
        cfg = deploy_config(env)
    elif policy_config is not None:
        cfg = load_config(policy_config)
    elif platform_outputs is not None:
        cfg = project_config(load_outputs_file(platform_outputs), tier, str(platform_outputs))
    else:
        cfg = preset(tier)
    typer.echo(json.dumps(to_pulumi_config(cfg), indent=2, sort_keys=True))


@policy_app.command("docs")
def docs(output: Path = typer.Option(CATALOGUE, "--output", help="Where to write the catalogue."),
         check: bool = typer.Option(False, "--check", help="Fail when the file is out of date.")) -> None:
    """Write (or --check) the generated policy catalogue, docs/policies.md, and the configuration schema."""
    generated = [(output, render_catalogue(), f"{len(all_specs())} policies"),
                 (SCHEMA_FILE, schema_text(), "policy configuration schema")]
    for path, text, what in generated:
        if check:
            current = path.read_text(encoding="utf-8") if path.is_file() else ""
            if current != text:
                raise UsageError(f"{path} is out of date — fix: run `mlplat policy docs`")
            typer.echo(f"{path} is up to date")
        else:
            write_text_atomic(path, text)
            typer.echo(f"wrote {path} ({what})")


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy")
