"""Planning the platform's own stacks offline (`run_platform`), their outputs for StackReferences and `mlplat new`
(`platform_outputs`, `default_stack_outputs`): these read the stack config (pydantic models), which a program's
review (`program.py`, its guarded child) does not need unless the program reads a StackReference."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from mlops_platform.config import env_stack_file, repo_root, shipped_envs
from mlops_platform.config.loader import load_stack_document
from mlops_platform.core.errors import UsageError
from mlops_platform.core.layers import LAYER_DIRS, LAYER_PROJECTS, Layer
from mlops_platform.core.shards import split_stack
from mlops_platform.engine.cache import cached_plan, plan_key
from mlops_platform.engine.layered import Selection, plan_layers, with_projects
from mlops_platform.engine.plan import Plan

PLATFORM_PROJECT = LAYER_PROJECTS[Layer.TENANTS]


def _stack_path(env: str | None, stack_file: Path | None) -> Path:
    if (env is None) == (stack_file is None):
        raise UsageError("give exactly one of ENV or --stack-file")
    if stack_file is not None:
        return stack_file
    assert env is not None
    return env_stack_file(env)


def run_platform(env: str | None = None, stack_file: Path | None = None, preview: bool = True,
                 layer: Layer | None = None, project: str | None = None, shard: int | None = None,
                 jobs: int = 1, below: bool = False) -> Plan:
    """Validate a platform stack file, then plan its layers offline: `layer`, or all of them in order.

    Each layer runs the real program as its own Pulumi project; its StackReferences resolve to the
    planned outputs of the layers below. All layers plan as the union of their resources, with the top
    layer's outputs (the environment's outputs contract). `project` plans that one tenant only, `shard`
    one tenant shard's stack (`tenants.shards`); with `below`, that project's or shard's plan also holds the
    layers below it (a review's context). `jobs` processes plan the tenants stacks in parallel
    (`engine/layered.py`: the same plan as `jobs=1`).
    """
    path = _stack_path(env, stack_file)
    cfg, doc = load_stack_document(path)  # every config error surfaces here, before any resource exists
    config = dict(doc["config"])
    if project is not None:
        _check_project([p.name for p in cfg.projects], project, path)
        config = with_projects(config, [project])
    if shard is not None:
        _check_shard(shard, cfg.tenants.shards, path)
    root = repo_root()
    key = plan_key(root / "platform", layers={str(k): (root / d / "Pulumi.yaml").read_text(encoding="utf-8")
                                               for k, d in LAYER_DIRS.items()},
                   stack=cfg.environment.name, config=config, layer=layer, project=project, shard=shard,
                   below=below, ctx=[cfg.environment.account_id, cfg.environment.region], preview=preview)
    selection = Selection(layer, project, shard, below=below)
    return cached_plan(key, lambda: plan_layers(cfg, config, selection, preview, jobs))


def _check_project(names: list[str], project: str, path: Path) -> None:
    if project not in names:
        raise UsageError(f"{path}: --project {project!r}: no such project — fix: use one of "
                         f"{', '.join(names) or '(none configured)'}")


def _check_shard(shard: int, shards: int, path: Path) -> None:
    if not 0 <= shard < shards:
        raise UsageError(f"{path}: --shard {shard}: tenants.shards is {shards}, so shards are 0..{shards - 1} — "
                         f"fix: pass one of them (`mlplat shards ENV` lists them), or raise tenants.shards")


@lru_cache(maxsize=8)
def platform_outputs(env: str, layer: Layer = Layer.TENANTS, shard: int | None = None) -> dict[str, Any]:
    """Offline stack outputs of a shipped environment (for StackReferences and `mlplat new`): its tenants stack
    (one `shard`'s when it is sharded), or a lower `layer`'s stack."""
    if layer is Layer.TENANTS:
        return run_platform(env=env, shard=shard).outputs
    return run_platform(env=env, layer=layer).outputs


def default_stack_outputs(reference: str) -> Mapping[str, Any]:
    """Resolve `org/project/stack` references to shipped platform environments offline: the aws and cluster
    layers' projects to those layers, a tenant shard's stack (`ENV-tenants-K`) to that shard, any other
    project to the environment's outputs contract."""
    project, _, stack = reference.rpartition("/")
    env, shard = split_stack(stack)
    if env in shipped_envs():
        lower = [layer for layer in (Layer.AWS, Layer.CLUSTER) if project.endswith(f"/{LAYER_PROJECTS[layer]}")]
        return platform_outputs(env, lower[0]) if lower else platform_outputs(env, shard=shard)
    raise UsageError(f"StackReference '{reference}': no offline outputs — fix: reference one of "
                     f"{', '.join(shipped_envs())} or pass --stack-outputs")
