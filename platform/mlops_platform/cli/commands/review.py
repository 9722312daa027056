"""`mlplat review`: the policy pack over a platform environment, any Pulumi program, or a plan JSON.

Exit codes: 0 no unwaived mandatory violation; 1 some remain (or a waiver is expired/malformed);
2 usage errors; 3 configuration errors; 4 the program could not be planned.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from mlops_platform.cli.commands import JOBS_OPTION, default_jobs, fail_after_output, timings_line
from mlops_platform.config import repo_root
from mlops_platform.core.errors import PolicyViolationError, UsageError
from mlops_platform.core.files import write_text_atomic
from mlops_platform.core.layers import Layer
from mlops_platform.policy.config import PRESETS
from mlops_platform.policy.report import Report
from mlops_platform.policy.report_formats import Format, render
from mlops_platform.workflows.review import Subject, environment, plan_file, program, resolve_waivers, review


def _subject(env: str | None, program_dir: Path | None, plan: Path | None, stack: str | None,
             config_file: Path | None, tier: str | None, layer: Layer | None = None,
             timeout: float | None = None, jobs: int = 1, shard: int | None = None) -> Subject:
    given = [name for name, v in (("ENV", env), ("--program", program_dir), ("--plan", plan)) if v is not None]
    if len(given) != 1:
        raise UsageError("review exactly one of ENV, --program DIR or --plan FILE"
                         + (f" (got {', '.join(given)})" if given else ""))
    if tier is not None and tier not in PRESETS:
        raise UsageError(f"--tier {tier!r}: use one of {', '.join(PRESETS)}")
    if (stack or config_file or timeout is not None) and program_dir is None:
        raise UsageError("--stack, --config-file and --timeout apply to --program only — fix: drop them, or "
                         "review a program with --program DIR")
    for option, value in (("--layer", layer), ("--shard", shard)):
        if value is not None and env is None:
            raise UsageError(f"{option} applies to an environment (ENV) only — fix: drop {option}, or review an "
                             f"environment: mlplat review ENV {option} {value}")
    if shard is not None and layer not in (None, Layer.TENANTS):
        raise UsageError(f"--shard {shard} is a stack of the tenants layer — fix: drop --layer {layer.value} "
                         "or use --layer tenants")
    if env is not None:
        if tier is not None:
            raise UsageError("--tier applies to --program/--plan; an environment is judged by its own tier")
        return environment(env, layer, jobs, shard)
    if program_dir is not None:
        return program(program_dir, stack, config_file, tier, timeout)
    assert plan is not None
    return plan_file(plan, tier or "prod")


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _emit(report: Report, fmt: Format, output: Path | None, root: Path) -> None:
    text = render(report, fmt, sarif_uri=_relative(Path(report.source), root),
                  color=output is None and fmt is Format.TABLE and sys.stdout.isatty())
    if output is None:
        typer.echo(text, nl=False)
    else:
        write_text_atomic(output, text)
        typer.echo(f"wrote {fmt.value} report to {output}", err=True)


def review_command(
    env: str = typer.Argument(None, help="Platform environment (stacks/Pulumi.ENV.yaml)."),
    program_dir: Path = typer.Option(None, "--program", help="Any Pulumi Python program directory (Pulumi.yaml)."),
    stack: str = typer.Option(None, "--stack", help="Stack of --program (default dev)."),
    config_file: Path = typer.Option(None, "--config-file", help="Stack config file of --program."),
    plan: Path = typer.Option(None, "--plan", help="A plan JSON (`mlplat plan ENV --json`), e.g. in CI."),
    fmt: Format = typer.Option(Format.TABLE, "--format", help="table | json | markdown | sarif."),
    waivers: Path = typer.Option(None, "--waivers", help="Waivers file (default: stacks/waivers.yaml if present)."),
    output: Path = typer.Option(None, "--output", help="Write the report here instead of stdout."),
    policy_config: Path = typer.Option(None, "--policy-config", help="Policy configuration file (levels, "
                                       "settings) instead of the tier preset."),
    tier: str = typer.Option(None, "--tier", help="Preset for --program/--plan: dev | staging | prod (default: "
                             "the tier of the platform environment a program references, else prod)."),
    timeout: float = typer.Option(None, "--timeout", help="Seconds --program may run before it is stopped "
                                  "(default 300). The program runs in a child process without network access, "
                                  "with your file permissions."),
    layer: Layer = typer.Option(None, "--layer", help="Review one layer stack of ENV: aws | cluster | tenants "
                                "(default: all)."),
    jobs: int = JOBS_OPTION,
    shard: int = typer.Option(None, "--shard", min=0, help="Review one tenant shard's stack (<env>-tenants-K; "
                              "`mlplat shards ENV` lists them): what `mlplat up ENV --shard K` changes."),
) -> None:
    """Review infrastructure against the policy pack, as `pulumi preview --policy-pack` would."""
    root = Path(os.environ.get("MLPLAT_ROOT") or repo_root())
    subject = _subject(env, program_dir, plan, stack, config_file, tier, layer, timeout, jobs or default_jobs(),
                       shard)
    if subject.timings:  # stderr: stdout stays one document in every format
        typer.echo(timings_line(list(subject.timings), subject.cached), err=True)
    if subject.isolation:  # stderr: stdout stays one document in every format
        typer.echo(f"program planned in a child process; isolation: {subject.isolation}", err=True)
    report = review(subject, resolve_waivers(waivers, root), policy_config)
    _emit(report, fmt, output, root)
    if not report.passed:
        # The report is the result (its JSON says what blocks): the failure goes to stderr, stdout stays
        # one document.
        fail_after_output(PolicyViolationError(f"{len(report.blocking)} unwaived mandatory violation(s) in "
                                               f"{report.stack!r}: fix them or add reviewed waivers"))


def register(app: typer.Typer) -> None:
    app.command("review")(review_command)
