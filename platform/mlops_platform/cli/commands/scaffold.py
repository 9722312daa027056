"""`mlplat new` and `mlplat fleet check|update`: project repositories from the copier template."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from mlops_platform.cli.commands import echo_json, fail_after_output
from mlops_platform.core.errors import TemplateError
from mlops_platform.scaffold import fleet
from mlops_platform.scaffold.answers import parse_data_args
from mlops_platform.scaffold.new import OFFLINE_BANNER, entry_yaml, new_project
from mlops_platform.scaffold.templating import template_source

out = Console()
fleet_app = typer.Typer(no_args_is_help=True, help="Template version, drift and updates of project repositories.")


def new(name: str = typer.Argument(..., help="Project slug (DNS label, at most 40 characters)."),
        env: str = typer.Option(..., "--env", help="Platform environment to wire the project to."),
        dest: Path = typer.Option(..., "--dest", help="New directory for the project repository."),
        outputs: Path = typer.Option(None, "--outputs", help="JSON of `pulumi stack output --json`."),
        data: list[str] = typer.Option([], "--data", "-d", help="Answer KEY=VALUE (repeatable)."),
        offline: bool = typer.Option(False, "--offline", help="Use the offline plan even if Pulumi is installed."),
        vcs_ref: str = typer.Option(None, "--vcs-ref", help="Template version (default: latest release tag)."),
        template: str = typer.Option(None, "--template",
                                     help="Template Git URL (gh:ORG/mlops-platform) or checkout; default: this one."),
        no_input: bool = typer.Option(False, "--no-input",
                                      help="Never ask (the default without a terminal): missing answers are errors."),
        ) -> None:
    """Generate a project repository wired to a platform environment, and print its tenancy entry.

    On a terminal, the template's questions that --data and the platform wiring leave open are asked
    (defaults from the platform's outputs); without one, or with --no-input, nothing is asked."""
    interactive = not no_input and sys.stdin.isatty() and sys.stdout.isatty()
    project = new_project(name, env, dest, parse_data_args(data), outputs, offline, vcs_ref, template,
                          interactive=interactive)
    source = project.outputs
    out.print(f"[green]created[/] {escape(str(dest))} from template {escape(project.template_version)}")
    out.print(f"platform wiring: {escape(source.origin)} ({source.source.value})")
    if source.is_placeholder:
        out.print(f"[bold yellow]{OFFLINE_BANNER}[/]: account, ARNs and URLs come from the offline plan; "
                  "regenerate or `copier update --data ...` once the environment is deployed.")
    if not project.names.onboarded:
        out.print(f"[bold]{escape(name)} is not onboarded in {escape(env)} yet[/] — ask the platform team "
                  "to add this entry (tenancy) to the stack config:")
    out.print(escape(entry_yaml(project.entry, env)), highlight=False, soft_wrap=True)
    out.print(f"next: cd {escape(str(dest))} && make test")


@fleet_app.command("check")
def fleet_check(dirs: list[Path] = typer.Argument(..., help="Project repositories."),
                as_json: bool = typer.Option(False, "--json", help="Machine-readable result."),
                strict: bool = typer.Option(False, "--strict", help="Exit 7 if a project is behind the template "
                                            "(or holds an uncommitted update)."),
                fail_on_drift: bool = typer.Option(False, "--fail-on-drift", help="Exit 1 if a project changed or "
                                                   "deleted generated files (teams edit some on purpose)."),
                templates: list[str] = typer.Option([], "--template", help="A template source projects may name "
                                                    "(repeatable; default: this mlops-platform checkout). Projects "
                                                    "naming another are foreign and never cloned."),
                ) -> None:
    """Template version vs the latest release, state and drift from a fresh render, for each project.

    Exit status: 6 a project could not be read, is from another template or holds a conflict;
    7 (--strict) a project is behind; 1 (--fail-on-drift) generated files were changed."""
    statuses = fleet.check(dirs, templates or _default_sources())
    failure = fleet.check_failure(statuses, strict, fail_on_drift)
    if as_json:
        echo_json({"projects": [s.to_json() for s in statuses]}, failure)
    else:
        out.print(_status_table(statuses))
    if failure is not None:
        fail_after_output(failure)


def _default_sources() -> list[str]:
    """This checkout's template; none outside a checkout (every project is then foreign until `--template`)."""
    try:
        return [str(template_source())]
    except TemplateError:
        return []


def _status_table(statuses: list[fleet.ProjectStatus]) -> Table:
    table = Table("project", "version", "latest", "status", "drifted files")
    for s in statuses:
        state = f"[{_STYLES.get(s.state, 'yellow')}]{escape(s.state.value)}[/]"
        if s.error:
            table.add_row(escape(s.path), escape(s.version), "", state, escape(s.error))
            continue
        files = [f"C {f}" for f in s.conflicts] + [f"M {f}" for f in s.drift.modified] \
            + [f"D {f}" for f in s.drift.deleted]
        version = f"{s.version} (work tree: {s.pending})" if s.pending else s.version
        table.add_row(escape(s.path), escape(version), escape(s.latest or "-"), state,
                      escape("\n".join(files)) or "none")
    return table


_STYLES = {fleet.State.CURRENT: "green", fleet.State.ERROR: "red", fleet.State.CONFLICT: "red",
           fleet.State.FOREIGN: "red"}


@fleet_app.command("update")
def fleet_update(dirs: list[Path] = typer.Argument(..., help="Project repositories (clean git work trees)."),
                 vcs_ref: str = typer.Option(None, "--vcs-ref", help="Target version (default: latest tag)."),
                 trust: bool = typer.Option(False, "--trust", help="Allow the template's _migrations to run."),
                 commit: bool = typer.Option(True, "--commit/--no-commit", help="Commit clean updates."),
                 templates: list[str] = typer.Option([], "--template", help="A template source projects may name "
                                                     "(repeatable; default: this mlops-platform checkout). "
                                                     "Projects naming another are not updated."),
                 ) -> None:
    """`copier update` every project; conflicts fail the command and are never committed."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=out, transient=True) as progress:
        task = progress.add_task("updating", total=len(dirs))
        results = fleet.update(dirs, vcs_ref, trust, commit, on_done=lambda _: progress.advance(task),
                               sources=templates or _default_sources())
    for r in results:
        style = "green" if r.ok else "red"
        out.print(f"[{style}]{r.outcome.value}[/] {escape(r.path)} {escape(r.before)} → {escape(r.after)} "
                  f"{escape(r.message)}", soft_wrap=True)
        for name in r.conflicts:
            out.print(f"  conflict: {escape(name)}")
    failed = [r for r in results if not r.ok]
    if failed:
        raise TemplateError(f"{len(failed)} of {len(results)} project(s) not updated: "
                            f"{', '.join(r.path for r in failed)} — fix: see the messages above")


def register(app: typer.Typer) -> None:
    app.command("new")(new)
    app.add_typer(fleet_app, name="fleet")
