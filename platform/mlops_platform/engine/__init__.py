"""The offline engine: run real Pulumi programs under the mock runtime and record the plan."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from mlops_platform.config import env_stack_file, load_stack_file, repo_root, shipped_envs
from mlops_platform.config.loader import read_stack_config
from mlops_platform.core.errors import UsageError
from mlops_platform.core.layers import LAYER_DIRS, LAYER_ORDER, LAYER_PROJECTS, Layer, reference_name
from mlops_platform.engine.cache import cached_plan, plan_key
from mlops_platform.engine.computed import Ctx
from mlops_platform.engine.plan import Plan, Resource
from mlops_platform.engine.runner import OutputsResolver, project_name, read_yaml_mapping, run

__all__ = ["Plan", "Resource", "platform_outputs", "run_platform", "run_program"]

PLATFORM_PROJECT = LAYER_PROJECTS[Layer.TENANTS]
ORGANIZATION = "organization"  # what the mock runtime (and a self-managed backend) calls the organization


def _stack_path(env: str | None, stack_file: Path | None) -> Path:
    if (env is None) == (stack_file is None):
        raise UsageError("give exactly one of ENV or --stack-file")
    if stack_file is not None:
        return stack_file
    assert env is not None
    return env_stack_file(env)


def run_platform(env: str | None = None, stack_file: Path | None = None, preview: bool = True,
                 layer: Layer | None = None, project: str | None = None) -> Plan:
    """Validate a platform stack file, then plan its layers offline: `layer`, or all of them in order.

    Each layer runs the real program as its own Pulumi project; its StackReferences resolve to the
    planned outputs of the layers below. All layers plan as the union of their resources, with the top
    layer's outputs (the environment's outputs contract). `project` plans that one tenant only.
    """
    path = _stack_path(env, stack_file)
    cfg = load_stack_file(path)  # every config error surfaces here, before any resource exists
    _, doc = read_stack_config(path)
    config = dict(doc["config"])
    if project is not None:
        config = _one_project(config, [p.name for p in cfg.projects], project, path)
    root = repo_root()
    key = plan_key(root / "platform", layers={str(k): (root / d / "Pulumi.yaml").read_text(encoding="utf-8")
                                               for k, d in LAYER_DIRS.items()},
                   stack=cfg.environment.name, config=config, layer=layer, project=project,
                   ctx=[cfg.environment.account_id, cfg.environment.region], preview=preview)
    return cached_plan(key, lambda: _plan_layers(cfg.environment.name, config, cfg.environment.account_id,
                                                 cfg.environment.region, layer, project, preview))


def _plan_layers(env: str, config: dict[str, Any], account: str, region: str, layer: Layer | None,
                 project: str | None, preview: bool) -> Plan:
    wanted = (layer,) if layer else LAYER_ORDER
    if project is not None and wanted != (Layer.TENANTS,):
        wanted = (Layer.TENANTS,)  # a tenant lives in the tenants layer only
    ctx = Ctx(account, region)
    outputs: dict[str, Mapping[str, Any]] = {}
    plans = []
    for each in LAYER_ORDER[: LAYER_ORDER.index(wanted[-1]) + 1]:
        plan = _run_layer(each, env, config, ctx, outputs, preview)
        outputs[reference_name(ORGANIZATION, each, env)] = plan.reference_outputs or plan.outputs
        if each in wanted:
            plans.append(plan)
    return Plan(env, [r for p in plans for r in p.resources], dict(plans[-1].outputs))


def layer_program_dir(layer: Layer) -> Path:
    """The directory holding a layer's Pulumi.yaml."""
    return (repo_root() / LAYER_DIRS[layer]).resolve()


def _run_layer(layer: Layer, stack: str, config: dict[str, Any], ctx: Ctx,
               below: Mapping[str, Mapping[str, Any]], preview: bool) -> Plan:
    project, entry_dir = project_name(layer_program_dir(layer))

    def resolve(reference: str) -> Mapping[str, Any]:
        if reference not in below:
            raise UsageError(f"StackReference '{reference}': not a lower layer of {stack} "
                             f"(known: {', '.join(below) or 'none'})")
        return below[reference]
    # the lower layers' outputs are already planned: resolving them plans nothing, so settle early
    return run(entry_dir, project, stack, config, ctx, stack_outputs=resolve, preview=preview, settle=True)


def _one_project(config: dict[str, Any], names: list[str], project: str, path: Path) -> dict[str, Any]:
    if project not in names:
        raise UsageError(f"{path}: --project {project!r}: no such project — fix: use one of "
                         f"{', '.join(names) or '(none configured)'}")
    key = "mlops-platform:projects"
    return {**config, key: [p for p in config[key] if p.get("name") == project]}


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
