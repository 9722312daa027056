"""The offline engine: run real Pulumi programs under the mock runtime and record the plan."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from mlops_platform.config import env_stack_file, load_stack_file, repo_root, shipped_envs
from mlops_platform.config.loader import read_stack_config
from mlops_platform.core.errors import UsageError
from mlops_platform.engine.cache import cached_plan, plan_key
from mlops_platform.engine.computed import Ctx
from mlops_platform.engine.plan import Plan, Resource
from mlops_platform.engine.runner import OutputsResolver, project_name, read_yaml_mapping, run

__all__ = ["Plan", "Resource", "platform_outputs", "run_platform", "run_program"]

PLATFORM_PROJECT = "mlops-platform"


def _stack_path(env: str | None, stack_file: Path | None) -> Path:
    if (env is None) == (stack_file is None):
        raise UsageError("give exactly one of ENV or --stack-file")
    if stack_file is not None:
        return stack_file
    assert env is not None
    return env_stack_file(env)


def run_platform(env: str | None = None, stack_file: Path | None = None, preview: bool = True) -> Plan:
    """Validate a platform stack file, then plan the real platform program offline (or read the plan of
    the same program, config and SDKs from the plan cache, `engine/cache.py`)."""
    path = _stack_path(env, stack_file)
    cfg = load_stack_file(path)  # every config error surfaces here, before any resource exists
    _, doc = read_stack_config(path)
    config = dict(doc["config"])
    program_dir = repo_root() / "platform"
    ctx = Ctx(cfg.environment.account_id, cfg.environment.region)
    key = plan_key(program_dir, project=PLATFORM_PROJECT, stack=cfg.environment.name, config=config,
                   ctx=[ctx.account, ctx.region], preview=preview)
    return cached_plan(key, lambda: run(program_dir, PLATFORM_PROJECT, cfg.environment.name, config, ctx,
                                        preview=preview))


@lru_cache(maxsize=8)
def platform_outputs(env: str) -> dict[str, Any]:
    """Offline stack outputs of a shipped environment (for StackReferences and `mlplat new`)."""
    return run_platform(env=env).outputs


def default_stack_outputs(reference: str) -> Mapping[str, Any]:
    """Resolve `org/project/stack` references to shipped platform environments offline."""
    env = reference.rsplit("/", 1)[-1]
    if env in shipped_envs():
        return platform_outputs(env)
    raise UsageError(f"StackReference '{reference}': no offline outputs — fix: reference one of "
                     f"{', '.join(shipped_envs())} or pass --stack-outputs")


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
               stack_outputs=stack_outputs or default_stack_outputs)
