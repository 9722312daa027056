"""`make demo`: the main job end to end, offline — validate, plan, review, cost every shipped
environment, then generate a demo ML project from the platform's outputs, run its own `make test` and
review its `infra/` program as a project stack on the dev platform."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from mlops_platform.apps.demo_project import DEMO_ENV, DEMO_PROJECT, run_demo
from mlops_platform.cli import main as mlplat
from mlops_platform.config import shipped_envs

console = Console()


def _step(title: str, argv: list[str], ok_codes: tuple[int, ...] = (0,)) -> bool:
    console.print(Rule(f"[bold]{title}[/]  [dim]mlplat {' '.join(argv)}[/]"))
    code = mlplat(argv)
    if code not in ok_codes:
        console.print(f"[red]step failed with exit code {code}[/]")
        return False
    return True


def _steps(envs: list[str], workdir: Path) -> list[Callable[[], bool]]:
    steps: list[Callable[[], bool]] = [partial(_step, "Validate every stack", ["validate"])]
    steps += [partial(_step, f"Plan {env} offline", ["plan", env]) for env in envs]
    steps.append(partial(_step, "Platform graph (prod)", ["graph", "prod"]))
    for env in envs:
        steps.append(partial(_step, f"Policy review {env}", ["review", env]))
        steps.append(partial(_step, f"Cost estimate {env}", ["cost", env]))
    steps.append(partial(_project, workdir))
    infra = workdir / DEMO_PROJECT / "infra"
    steps.append(partial(_step, f"Policy review of the project's infra/ (a project stack on {DEMO_ENV})",
                         ["review", "--program", str(infra), "--stack", DEMO_ENV]))
    return steps


def _project(workdir: Path) -> bool:
    console.print(Rule(f"[bold]Generate a demo ML project from the {DEMO_ENV} platform and run its make test[/]"))
    return run_demo(workdir / DEMO_PROJECT) == 0


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mlplat-demo-") as tmp:
        for step in _steps(shipped_envs(), Path(tmp)):
            if not step():
                return 1
    console.print(Rule("[bold green]demo complete[/]"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
