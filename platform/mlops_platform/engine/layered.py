"""Plan an environment's layer stacks offline: `aws`, then `cluster`, then its tenants stacks, in a process pool.

The layers are a chain — the cluster layer reads the aws layer's outputs, the tenants read both — so they plan
in that order. What is independent is the tenants: each tenant reads only the layers below and the shared
facts, so a sharded environment's shard stacks (docs/scale-out.md), and the projects of one unsharded stack,
plan in parallel processes (`jobs`) once the layers below are planned. An unsharded stack is planned as `jobs`
parts (each the same program and stack with a share of `projects`) and joined: shared resources once, the
`projects` output merged; any other difference between parts is an error, never a silent pick.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_platform.config import PlatformConfig, repo_root
from mlops_platform.core.errors import EngineError, UsageError
from mlops_platform.core.layers import LAYER_DIRS, LAYER_ORDER, Layer, reference_name
from mlops_platform.core.shards import assign, shard_of, shard_stack
from mlops_platform.engine.computed import Ctx
from mlops_platform.engine.plan import Plan
from mlops_platform.engine.runner import project_name, run

ORGANIZATION = "organization"  # what the mock runtime (and a self-managed backend) calls the organization
PROJECTS_KEY = "mlops-platform:projects"


@dataclass(frozen=True)
class Selection:
    """What one `run_platform` plans: `layer` (None: all), one `project`'s tenant, or one tenant `shard`;
    `below`: a project's or shard's plan also holds the layers below it (planned anyway as its StackReference
    inputs), so a review can judge the tenant stack with what it runs on."""

    layer: Layer | None = None
    project: str | None = None
    shard: int | None = None
    below: bool = False


@dataclass(frozen=True)
class Unit:
    """One program run: a layer as one stack, with the stack config it reads."""

    layer: Layer
    stack: str
    config: dict[str, Any]
    projects: int | None = None  # tenants stacks: how many projects this run plans


def layer_program_dir(layer: Layer) -> Path:
    """The directory holding a layer's Pulumi.yaml."""
    return (repo_root() / LAYER_DIRS[layer]).resolve()


def plan_layers(cfg: PlatformConfig, config: dict[str, Any], sel: Selection, preview: bool, jobs: int) -> Plan:
    """Plan the selected layers of `cfg`'s environment; the plan's `timings` has one row per program run."""
    env = cfg.environment.name
    wanted = (Layer.TENANTS,) if sel.project or sel.shard is not None else ((sel.layer,) if sel.layer else LAYER_ORDER)
    ctx = Ctx(cfg.environment.account_id, cfg.environment.region)
    below: dict[str, Mapping[str, Any]] = {}
    plans: list[Plan] = []
    timings: list[dict[str, Any]] = []
    for layer in LAYER_ORDER[: LAYER_ORDER.index(wanted[-1]) + 1]:
        units = tenant_units(cfg, config, sel, jobs) if layer is Layer.TENANTS else [Unit(layer, env, config)]
        parts = _plan_units(units, env, ctx, below, preview, jobs)
        timings += [_timing(unit, run) for unit, run in zip(units, parts, strict=True)]
        plan = join(env, [run.plan for run in parts])
        below[reference_name(ORGANIZATION, layer, env)] = plan.reference_outputs or plan.outputs
        if layer in wanted or sel.below:
            plans.append(plan)
    return Plan(env, [r for p in plans for r in p.resources], dict(plans[-1].outputs), timings=timings)


def _timing(unit: Unit, run: UnitRun) -> dict[str, Any]:
    """A program run's row: wall `seconds`, and the CPU seconds and process id of the process that ran it (so a
    parallel plan shows its runs in separate processes, and what the longest one costs on an idle machine)."""
    return {"layer": unit.layer.value, "stack": unit.stack, "projects": unit.projects,
            "resources": len(run.plan.resources), "seconds": round(run.seconds, 3),
            "cpu_seconds": round(run.cpu_seconds, 3), "pid": run.pid}


def tenant_units(cfg: PlatformConfig, config: dict[str, Any], sel: Selection, jobs: int) -> list[Unit]:
    """The tenants program runs of a selection: one project's, one shard's, every shard's, or `jobs` parts."""
    env, count = cfg.environment.name, cfg.tenants.shards
    names = [p.name for p in cfg.projects]
    if sel.project is not None:
        stack = shard_stack(env, shard_of(sel.project, count), count)
        return [Unit(Layer.TENANTS, stack, with_projects(config, [sel.project]), 1)]
    if count > 1:
        shards = assign(env, names, count)
        chosen = [s for s in shards if sel.shard is None or s.index == sel.shard]
        return [Unit(Layer.TENANTS, s.stack, config, len(s.projects)) for s in chosen]
    parts = max(1, min(jobs, len(names)))
    if parts == 1:
        return [Unit(Layer.TENANTS, env, config, len(names))]
    return [Unit(Layer.TENANTS, env, with_projects(config, names[i::parts]), len(names[i::parts]))
            for i in range(parts)]


def with_projects(config: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The stack config with only `names` in `projects` (their entries unchanged, in file order)."""
    return {**config, PROJECTS_KEY: [p for p in config.get(PROJECTS_KEY) or [] if p.get("name") in names]}


@dataclass(frozen=True)
class UnitRun:
    """One finished program run: its plan, wall and CPU seconds, and the process that ran it."""

    plan: Plan
    seconds: float
    cpu_seconds: float
    pid: int


def _plan_units(units: list[Unit], env: str, ctx: Ctx, below: Mapping[str, Mapping[str, Any]], preview: bool,
                jobs: int) -> list[UnitRun]:
    if jobs <= 1 or len(units) == 1:
        return [plan_unit(unit, env, ctx, below, preview) for unit in units]
    # fork: a worker starts with the SDK modules the layers below already imported (spawn would import them
    # again, seconds per worker); run() configures the Pulumi runtime afresh for every program run.
    with ProcessPoolExecutor(max_workers=min(jobs, len(units)), mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(plan_unit, unit, env, ctx, below, preview) for unit in units]
        return [future.result() for future in futures]


def plan_unit(unit: Unit, env: str, ctx: Ctx, below: Mapping[str, Mapping[str, Any]], preview: bool) -> UnitRun:
    """Run one layer program as `unit.stack`; its StackReferences resolve to the planned layers `below`."""
    start, cpu = time.perf_counter(), time.process_time()
    project, entry_dir = project_name(layer_program_dir(unit.layer))

    def resolve(reference: str) -> Mapping[str, Any]:
        if reference not in below:
            raise UsageError(f"StackReference '{reference}': not a lower layer of {env} "
                             f"(known: {', '.join(below) or 'none'})")
        return below[reference]
    # the lower layers' outputs are already planned: resolving them plans nothing, so settle early
    plan = run(entry_dir, project, unit.stack, unit.config, ctx, stack_outputs=resolve, preview=preview, settle=True)
    return UnitRun(plan, time.perf_counter() - start, time.process_time() - cpu, os.getpid())


def join(env: str, parts: Sequence[Plan]) -> Plan:
    """One plan of several runs of a layer: each resource once (a shared one must be planned alike by all),
    outputs merged (`projects` maps are united; any other output must agree)."""
    if len(parts) == 1:
        return parts[0]
    resources: dict[str, Any] = {}
    for part in parts:
        for resource in part.resources:
            if resources.setdefault(resource.urn, resource) != resource:
                raise EngineError(f"{resource.urn}: planned differently by two tenants runs of {env} — fix: report "
                                  f"this as a bug (a tenant must not change what the stack's other tenants share)")
    return Plan(env, [resources[urn] for urn in sorted(resources)], _join_outputs([p.outputs for p in parts]),
                _join_outputs([p.reference_outputs for p in parts]))


def _join_outputs(outputs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    joined: dict[str, Any] = {}
    for each in outputs:
        for key, value in each.items():
            if key not in joined:
                joined[key] = value
            elif isinstance(value, dict) and isinstance(joined[key], dict) and key == "projects":
                joined[key] = {**joined[key], **value}
            elif joined[key] != value:
                raise EngineError(f"output {key!r}: two tenants runs planned different values — fix: report this "
                                  f"as a bug (only `projects` may differ between them)")
    return joined
