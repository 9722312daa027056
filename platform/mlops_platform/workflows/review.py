"""What `mlplat review` does, without the CLI: pick the configuration, plan, evaluate, apply waivers.

Three subjects, one path: a platform environment (its stack file), any Pulumi Python program directory,
or a plan JSON written earlier (CI). The policy configuration is the tier's preset, with the settings an
environment declares for itself (GPU cap, budget, p90 cost estimate), unless a file is given. A program
that reads a platform environment through a StackReference is judged as a project stack on that
environment: by its tier, against its GPU pools, without the environment-level budget policies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlops_platform.config import env_stack_file, load_env, load_stack_file, repo_root
from mlops_platform.core.contract import PlatformOutputs
from mlops_platform.core.errors import ConfigError, ConfigIssue, UsageError
from mlops_platform.core.files import load_json, read_text
from mlops_platform.core.gpu_sharing import WHOLE_GPU
from mlops_platform.core.layers import LAYER_PROJECTS, Layer
from mlops_platform.engine import Plan, run_platform
from mlops_platform.engine.isolated import DEFAULT_TIMEOUT, ProgramRun, run_program_isolated
from mlops_platform.ops.cost import estimate
from mlops_platform.policy.config import PRESETS, GpuPoolSetting, PolicyPackConfig, StackKind
from mlops_platform.policy.config_files import load_config, preset
from mlops_platform.policy.evaluate import Evaluation, evaluate
from mlops_platform.policy.pack import all_specs
from mlops_platform.policy.registry import applies, kind_of, markers_of
from mlops_platform.policy.report import Report, build_report
from mlops_platform.policy.waivers import NO_WAIVERS, Waivers, load_waivers

DEFAULT_WAIVERS = Path("stacks") / "waivers.yaml"
TENANTS = LAYER_PROJECTS[Layer.TENANTS]  # the Pulumi project of the tenants layer (a shard's resources)


@dataclass(frozen=True)
class Subject:
    """What is reviewed: its plan JSON, the file findings point at, and the tier it is judged as."""

    plan: Mapping[str, Any]
    source: Path
    config: PolicyPackConfig
    isolation: str = ""  # a program's: the isolation it was planned under (`engine/isolated.py`), else ""
    timings: tuple[dict[str, Any], ...] = ()  # an environment's: its program runs (`Plan.timings`)
    cached: bool = False  # an environment's: its plan was read from the plan cache
    scope: frozenset[str] | None = None
    """A tenant shard's: the URNs it plans, the only ones whose findings count (the rest of the plan is the
    layers below, there so cross-layer policies see what the shard runs on); None: every resource's count."""


def platform_config(env: str | None, stack_file: Path | None = None) -> PolicyPackConfig:
    """Tier preset + the environment's own caps (GPU ceiling, monthly budget, p90 cost estimate) and its
    webhook opt-out (`serving.delivery.allow_external_webhooks`)."""
    cfg = load_stack_file(stack_file) if stack_file is not None else load_env(str(env))
    return preset(cfg.tier.value).with_settings(
        max_total_gpus=cfg.gpu.max_total_gpus, monthly_budget_usd=cfg.budget.monthly_usd,
        allow_external_webhooks=cfg.serving.delivery.allow_external_webhooks,
        estimated_monthly_p90_usd=round(estimate(cfg).estimated_monthly_p90_usd, 2))


def deploy_config(env: str) -> PolicyPackConfig:
    """The config the real pack runs a deploy with (`mlplat up`, `mlplat policy config ENV`): platform_config plus
    the repository's live waivers, so the pack does not refuse what the offline review waives (an expired or
    malformed waiver fails here, as in the review)."""
    waivers = resolve_waivers(None, repo_root())
    return platform_config(env).model_copy(update={"waivers": list(waivers.entries)})


def environment(env: str, layer: Layer | None = None, jobs: int = 1, shard: int | None = None) -> Subject:
    """An environment's plan (all layers, one layer stack, or one tenant `shard`'s stack) with its tier's
    settings; `jobs` processes plan its tenants stacks.

    A shard is judged on what a `--shard` run changes: its own resources' findings count, and environment-wide
    (stack-level) ones; the layers below are in the plan (planned, or read from the plan cache, as its
    StackReference inputs anyway) so that policies spanning layers — the environment's budget, the GPU pools a
    quota draws on — judge the shard against what it runs on, not against nothing. Other shards are not planned.
    """
    # validates the stack file first (ConfigError, exit 3); a shard the count lacks is a UsageError
    plan = run_platform(env=env, layer=layer, shard=shard, jobs=jobs, below=shard is not None)
    return Subject(plan.to_json(), env_stack_file(env), platform_config(env), timings=tuple(plan.timings),
                   cached=plan.cached, scope=None if shard is None else tenants_scope(plan))


def tenants_scope(plan: Plan) -> frozenset[str]:
    """URNs of a plan's tenants-layer resources: a shard's own, in a shard's plan with the layers below."""
    return frozenset(r.urn for r in plan.resources if r.urn.split("::")[1] == TENANTS)


def is_platform_outputs(outputs: Mapping[str, Any]) -> bool:
    """Stack outputs of a platform environment (the outputs contract), not of some other stack."""
    return {"tier", "cluster_name", "oidc_provider_arn"} <= set(outputs)


def project_config(outputs: PlatformOutputs, tier: str | None = None,
                   source: str = "<platform outputs>") -> PolicyPackConfig:
    """Configuration of a project stack deployed onto the platform environment with these stack outputs:
    the environment's tier preset (or `tier`), stack kind project, the environment's GPU pools, its Prometheus
    (what MetricTemplates may query) and whether its Canary webhooks may call external URLs."""
    chosen = tier or outputs.tier
    if chosen not in PRESETS:
        raise ConfigError([ConfigIssue("tier", "is not a platform tier", outputs.tier,
                                       f"pass --tier {'|'.join(PRESETS)}", source)], source)
    # a platform older than the `resources` output advertised whole GPUs only
    pools = {name: GpuPoolSetting(gpu_type=p.gpu_type, gpus_per_node=p.gpus_per_node,
                                  resources=p.resources or {WHOLE_GPU: p.gpus_per_node})
             for name, p in outputs.gpu_pools.items()}
    server = {"metrics_server_url": outputs.prometheus_url} if outputs.prometheus_url else {}
    return preset(chosen).with_settings(stack_kind=StackKind.PROJECT, gpu_pools=pools,
                                        allow_external_webhooks=outputs.allow_external_webhooks, **server)


def referenced_platform(references: Mapping[str, Mapping[str, Any]]) -> PlatformOutputs | None:
    """The platform environment a program's StackReferences read, if any (one at most: its tier and pools
    judge the program)."""
    # Imported here, not at the top: `mlops_platform.scaffold` loads copier and its prompt toolkit (~0.5 s),
    # which only a program review that references a platform needs — not every platform plan review.
    from mlops_platform.scaffold.outputs import validate_outputs

    platforms = {name: validate_outputs(outputs, f"StackReference {name}")
                 for name, outputs in references.items() if is_platform_outputs(outputs)}
    if len({p.environment for p in platforms.values()}) > 1:
        raise UsageError(f"the program references several platform environments ({', '.join(sorted(platforms))})"
                         " — fix: review it with --policy-config naming the tier and gpu_pools to judge it by")
    return next(iter(platforms.values()), None)


def program(directory: Path, stack: str | None, config_file: Path | None, tier: str | None,
            timeout: float | None = None) -> Subject:
    """A Pulumi program, planned in a guarded child process (`engine/isolated.py`); referencing a platform
    environment makes it a project stack on that environment. `tier` None: the referenced environment's
    tier, else prod. `timeout` None: the engine's default."""
    if not directory.is_dir():
        raise UsageError(f"{directory}: not a directory — fix: pass a Pulumi program directory to --program")
    run = run_program_isolated(directory, stack, config_file, DEFAULT_TIMEOUT if timeout is None else timeout)
    return program_subject(run, directory, tier)


def program_subject(run: ProgramRun, directory: Path, tier: str | None) -> Subject:
    """The review subject of the program in `directory`, planned as `run`: see `program`."""
    platform = referenced_platform(run.references)
    config = project_config(platform, tier) if platform is not None else preset(tier or "prod")
    return Subject(run.plan, directory / "Pulumi.yaml", config, run.isolation)


#: A plan JSON lists every resource with its inputs: the shipped prod plan is a few hundred KB.
PLAN_MAX_BYTES = 64 << 20


def plan_file(path: Path, tier: str) -> Subject:
    fix = "write one with `mlplat plan ENV --json`"
    plan = load_json(read_text(path, "plan file", fix, max_bytes=PLAN_MAX_BYTES), path, "plan file", fix)
    if not isinstance(plan, dict) or not isinstance(plan.get("resources"), list) or "stack" not in plan:
        raise UsageError(f"{path}: not a plan JSON — fix: expected {{\"stack\", \"resources\": [...], \"outputs\"}}")
    return Subject(plan, path, preset(tier))


def resolve_waivers(path: Path | None, root: Path) -> Waivers:
    """The given waivers file, else stacks/waivers.yaml when the repository has one, else none."""
    names = [s.name for s in all_specs()]
    if path is not None:
        return load_waivers(path, names)
    default = root / DEFAULT_WAIVERS
    return load_waivers(default, names) if default.is_file() else NO_WAIVERS


def review(subject: Subject, waivers: Waivers = NO_WAIVERS, policy_config: Path | None = None) -> Report:
    """Evaluate the subject's plan through the analyzer and apply the waivers."""
    config = subject.config
    if policy_config is not None:
        config = load_config(policy_config)
    evaluation = in_scope(evaluate(subject.plan, config, source=str(policy_config or "<preset>")), subject.scope)
    urns = [r["urn"] for r in subject.plan.get("resources", []) if subject.scope is None or r["urn"] in subject.scope]
    kind, markers = plan_kind(subject.plan, config), markers_of(plan_types(subject.plan))
    return build_report(evaluation, str(subject.source), waivers, urns, kind.value,
                        [s.name for s in all_specs() if not applies(s, kind, markers)])


def in_scope(evaluation: Evaluation, scope: frozenset[str] | None) -> Evaluation:
    """The evaluation's findings on resources in `scope`, and its stack-level ones (no resource: they judge the
    environment as a whole, which a scoped run is part of); `resources` counts the scope."""
    if scope is None:
        return evaluation
    return replace(evaluation, diagnostics=[d for d in evaluation.diagnostics if not d.urn or d.urn in scope],
                   resources=len(scope))


def plan_kind(plan: Mapping[str, Any], config: PolicyPackConfig) -> StackKind:
    """What the plan is judged as: the pack's own rule over the plan's resource types."""
    return kind_of(config.settings.stack_kind, plan_types(plan))


def plan_types(plan: Mapping[str, Any]) -> list[str]:
    return [str(r.get("type")) for r in plan.get("resources", [])]
