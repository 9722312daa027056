"""The shipped environments, planned by the offline engine, reviewed exactly as `mlplat review ENV` does."""

from __future__ import annotations

import pytest
from mlops_platform.config import repo_root, shipped_envs, stack_file_for
from mlops_platform.engine import Plan
from mlops_platform.policy import Enforcement
from mlops_platform.workflows.review import Subject, platform_config, resolve_waivers, review

#: Mandatory findings the platform still has. Empty: every shipped environment passes, with the reviewed
#: waivers of stacks/waivers.yaml. Policies are never weakened to keep this list empty.
KNOWN_GAPS: dict[str, set[tuple[str, str]]] = {}


@pytest.mark.slow
@pytest.mark.parametrize("env", shipped_envs())
def test_shipped_environment_has_no_new_unwaived_mandatory_violation(env: str, plans: dict[str, Plan]) -> None:
    plan = plans[env].to_json()
    waivers = resolve_waivers(None, repo_root())
    report = review(Subject(plan, stack_file_for(env), platform_config(env)), waivers=waivers)
    blocking = {(f.policy, f.resource) for f in report.blocking}
    assert blocking <= KNOWN_GAPS.get(env, set()), sorted(blocking - KNOWN_GAPS.get(env, set()))
    assert report.resources == len(plan["resources"]) > 100
    assert report.unknowns == []  # the offline engine resolves every value the platform reads


@pytest.mark.slow
def test_environment_levels_follow_the_tier() -> None:
    for env in shipped_envs():
        cfg = platform_config(env)
        tier = {"dev": Enforcement.ADVISORY}.get(env, Enforcement.MANDATORY)
        assert cfg.default is tier
        assert cfg.settings.max_total_gpus is not None and cfg.settings.monthly_budget_usd is not None
        assert cfg.settings.estimated_monthly_p90_usd is not None
