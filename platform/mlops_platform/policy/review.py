"""What `mlplat review` does, without the CLI: pick the configuration, plan, evaluate, apply waivers.

Three subjects, one path: a platform environment (its stack file), any Pulumi Python program directory,
or a plan JSON written earlier (CI). The policy configuration is the tier's preset, with the settings an
environment declares for itself (GPU cap, budget, p90 cost estimate), unless a file is given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_platform.errors import UsageError
from mlops_platform.policy.config import PolicyPackConfig, load_config, preset
from mlops_platform.policy.evaluate import evaluate
from mlops_platform.policy.registry import all_specs
from mlops_platform.policy.report import Report, build_report
from mlops_platform.policy.waivers import NO_WAIVERS, Waivers, load_waivers

DEFAULT_WAIVERS = Path("stacks") / "waivers.yaml"


@dataclass(frozen=True)
class Subject:
    """What is reviewed: its plan JSON, the file findings point at, and the tier it is judged as."""

    plan: Mapping[str, Any]
    source: Path
    config: PolicyPackConfig


def platform_config(env: str | None, stack_file: Path | None = None) -> PolicyPackConfig:
    """Tier preset + the environment's own caps: GPU ceiling, monthly budget, p90 cost estimate."""
    from mlops_platform.config import load_env, load_stack_file
    from mlops_platform.ops.cost import estimate

    cfg = load_stack_file(stack_file) if stack_file is not None else load_env(str(env))
    return preset(cfg.tier.value).with_settings(
        max_total_gpus=cfg.gpu.max_total_gpus, monthly_budget_usd=cfg.budget.monthly_usd,
        estimated_monthly_p90_usd=round(estimate(cfg).estimated_monthly_p90_usd, 2))


def environment(env: str) -> Subject:
    from mlops_platform.config import stack_file_for
    from mlops_platform.engine import run_platform

    plan = run_platform(env=env).to_json()  # validates the stack file first (ConfigError, exit 3)
    return Subject(plan, stack_file_for(env), platform_config(env))


def program(directory: Path, stack: str | None, config_file: Path | None, tier: str) -> Subject:
    from mlops_platform.engine import run_program

    if not directory.is_dir():
        raise UsageError(f"{directory}: not a directory — fix: pass a Pulumi program directory to --program")
    # resolved: the engine changes into the program directory while it runs
    plan = run_program(directory.resolve(), stack=stack, config_file=config_file).to_json()
    return Subject(plan, directory / "Pulumi.yaml", preset(tier))


def plan_file(path: Path, tier: str) -> Subject:
    if not path.is_file():
        raise UsageError(f"{path}: plan file not found — fix: write one with `mlplat plan ENV --json`")
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UsageError(f"{path}: not JSON ({exc}) — fix: pass a plan JSON") from None
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
    evaluation = evaluate(subject.plan, config, source=str(policy_config or "<preset>"))
    urns = [r["urn"] for r in subject.plan.get("resources", [])]
    return build_report(evaluation, str(subject.source), waivers, urns)
