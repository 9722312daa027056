"""A generated project's `infra/` plans offline with the platform's `ModelServing` component and passes
`mlplat review --program infra` without mandatory violations of its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlops_platform.policy.review import program, review

from .support import render

pytestmark = pytest.mark.slow


def platform_context_only(policy: str, message: str) -> bool:
    """Findings that need resources living in the *platform* stack, not in a project's program: the
    environment budget (tenancy creates the project's budget) and GPU pools (the node groups are the
    platform's). Reported to the policy team to be scoped to stacks that hold such resources."""
    return policy == "budget-environment" or (policy == "gpu-workload-targets-pool" and "(pools: none)" in message)



DEPLOYMENT = {"kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service",
              "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "kubernetes:policy/v1:PodDisruptionBudget"}


@pytest.mark.parametrize(("answers", "expected"), [
    pytest.param({}, DEPLOYMENT, id="cpu-deployment"),
    pytest.param({"gpu_count": 1, "gpu_pool": "l4"}, DEPLOYMENT, id="gpu-deployment"),
    pytest.param({"serving_mode": "kserve", "environments": ["dev", "prod"]},
                 {"kubernetes:policy/v1:PodDisruptionBudget"}, id="kserve"),
])
def test_infra_plans_with_model_serving_and_passes_review(tmp_path: Path, answers: dict[str, object],
                                                          expected: set[str]) -> None:
    project = render(tmp_path / "project", **answers)
    subject = program(project / "infra", "dev", None, "prod")
    types = {r["type"] for r in subject.plan["resources"]}
    assert "mlops:k8s:ModelServing" in types
    assert expected <= types
    custom = [r for r in subject.plan["resources"] if r["type"] == "kubernetes:apiextensions.k8s.io:CustomResource"
              or r["type"].startswith("kubernetes:monitoring.coreos.com")]
    assert custom, "ServiceMonitor and drift PrometheusRule are planned"
    report = review(subject)
    own = [(f.policy, f.message) for f in report.blocking if not platform_context_only(f.policy, f.message)]
    assert own == []

