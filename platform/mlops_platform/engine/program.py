"""Planning any Pulumi Python program offline (a project's `infra/`): what `mlplat review --program` runs in its
guarded child (`child.py`), so it imports neither the stack config nor the platform's layers until the program
reads a StackReference."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops_platform.engine.computed import Ctx
from mlops_platform.engine.plan import Plan
from mlops_platform.engine.runner import OutputsResolver, project_name, read_yaml_mapping, run


def platform_stack_outputs(reference: str) -> Mapping[str, Any]:
    """`stacks.default_stack_outputs` (the shipped environments' offline outputs), imported when a program reads
    its first StackReference."""
    from mlops_platform.engine.stacks import default_stack_outputs as resolve

    return resolve(reference)


def run_program(program_dir: Path, stack: str | None = None, config_file: Path | None = None,
                stack_outputs: OutputsResolver | None = None, account: str = "123456789012",
                region: str | None = None) -> Plan:
    """Plan any Pulumi Python program directory offline (e.g. a project's `infra/`)."""
    program_dir = program_dir.resolve()  # the runner changes into the program directory
    project, entry_dir = project_name(program_dir)
    stack = stack or "dev"
    path = config_file or program_dir / f"Pulumi.{stack}.yaml"
    config: dict[str, Any] = {}
    if config_file is not None or path.is_file():  # a given file must be readable; it says what it is if not
        config = dict(read_yaml_mapping(path).get("config") or {})
    region = region or str(config.get("aws:region", "us-east-1"))
    return run(entry_dir, project, stack, config, Ctx(account, region),
               stack_outputs=stack_outputs or platform_stack_outputs)
