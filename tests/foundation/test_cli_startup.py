"""`mlplat` imports only the command area it runs (cli/mlplat.py): its start-up is paid by every user command
and by every `mlplat` process the suite starts."""

from __future__ import annotations

import functools
import json
import subprocess
import sys

import pytest
import typer
from mlops_platform.cli import mlplat

#: What a `mlplat validate` process loads: the stack config, not the engine, the policy pack, boto3 or copier.
VALIDATE_IN_CHILD = """
import json, sys
from mlops_platform.cli import main
code = main(["validate", "dev", "--json"])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""
NOT_FOR_VALIDATE = ("mlops_platform.engine", "mlops_platform.policy", "mlops_platform.ops", "mlops_platform.scaffold",
                    "mlops_platform.workflows", "pulumi", "boto3", "copier")

#: What the guarded child of `mlplat review --program` (engine/child.py, one process per review) loads before the
#: program runs: the runner, not the stack config (pydantic models, ~0.15 CPU s) that `engine.stacks` reads.
CHILD_MODULES = "import json, sys; import mlops_platform.engine.child; print(json.dumps(sorted(sys.modules)))"
NOT_FOR_CHILD = ("mlops_platform.config", "mlops_platform.engine.stacks", "mlops_platform.engine.layered", "pydantic")


@pytest.mark.parametrize("area", sorted(mlplat.AREAS))
def test_each_area_registers_the_commands_the_cli_routes_to_it(area: str) -> None:
    module = __import__(f"mlops_platform.cli.commands.{area}", fromlist=["register"])
    app = typer.Typer()
    module.register(app)
    names = [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]
    assert sorted(names) == sorted(mlplat.AREAS[area])


@pytest.mark.parametrize(("args", "area"), [
    (["validate", "dev"], "stack"), (["--version"], None), (["review", "--help"], "review"),
    (["policy", "list"], "policy"), (["fleet", "check", "."], "scaffold"), (["platform-stack", "x"], "shards"),
    (["reveiw"], None), ([], None), (["--", "validate"], None)])
def test_a_command_is_routed_to_its_area_by_its_first_word(args: list[str], area: str | None) -> None:
    assert mlplat.area_of(args) == area


def test_the_full_app_lists_every_area_in_order() -> None:
    command = typer.main.get_command(mlplat.full_app())
    assert isinstance(command, typer.core.TyperGroup)
    listed = list(command.commands)
    assert listed == [c for commands in mlplat.AREAS.values() for c in commands if c not in ("policy", "fleet")] \
        + ["policy", "fleet"]  # typer lists commands, then groups


def test_validate_starts_without_the_other_areas() -> None:
    done = subprocess.run([sys.executable, "-c", VALIDATE_IN_CHILD], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["code"] == 0, done.stdout
    loaded = [m for m in result["modules"] if m.startswith(NOT_FOR_VALIDATE)]
    assert not loaded, loaded


def test_the_click_command_is_built_once_per_shape_of_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs reuse the click command typer built (~4 ms each, thousands in the suite), and build it again
    when the app changed: another app, an area registered, or a command's function replaced (as a test may)."""
    app = mlplat.full_app()
    built = mlplat.click_command(app)
    assert mlplat.click_command(app) is built
    other = typer.Typer()
    other.command()(lambda: None)
    assert mlplat.click_command(other) is not built
    validate = next(c for c in app.registered_commands if c.name == "validate")
    assert validate.callback is not None
    calls: list[str] = []

    @functools.wraps(validate.callback)  # typer reads the wrapped function's signature
    def recording(*args: object, **kwargs: object) -> None:
        calls.append("validate")

    monkeypatch.setattr(validate, "callback", recording)
    assert mlplat.main(["validate", "dev"]) == 0 and calls == ["validate"]
    monkeypatch.undo()
    assert mlplat.click_command(app) is not built and mlplat.main(["validate", "dev"]) == 0 and calls == ["validate"]


def test_the_review_child_starts_without_the_stack_config() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD_MODULES], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    loaded = [m for m in json.loads(done.stdout) if m.startswith(NOT_FOR_CHILD)]
    assert "mlops_platform.engine.runner" in json.loads(done.stdout) and not loaded, loaded
