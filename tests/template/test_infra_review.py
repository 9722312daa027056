"""A generated project's `infra/` plans offline with the platform's `ModelServing` component and passes
`mlplat review --program infra` without mandatory violations of its own."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from k8s.argo_schema import crd_errors
from mlops_platform.policy.config_files import preset
from mlops_platform.workflows.review import program, review

from .support import render

pytestmark = pytest.mark.slow


#: A release of every project goes through Flagger (copier.yml delivery_strategy: canary by default)
RELEASE = {"kubernetes:flagger.app/v1beta1:Canary", "kubernetes:flagger.app/v1beta1:MetricTemplate",
           "kubernetes:policy/v1:PodDisruptionBudget"}
HPA, SCALED = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "kubernetes:keda.sh/v1alpha1:ScaledObject"
DEPLOYMENT = {"kubernetes:apps/v1:Deployment", *RELEASE}


@pytest.mark.parametrize(("answers", "expected"), [
    pytest.param({}, {*DEPLOYMENT, HPA}, id="cpu-deployment"),
    pytest.param({"gpu_count": 1, "gpu_pool": "l4", "delivery_strategy": "mirror"}, {*DEPLOYMENT, SCALED},
                 id="gpu-deployment"),
    pytest.param({"serving_mode": "kserve", "environments": ["dev", "prod"], "delivery_strategy": "blue-green"},
                 {*RELEASE, HPA}, id="kserve"),
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
    # the project's pipeline: its WorkflowTemplate and CronWorkflow, as planned, against the Argo schemas
    argo = {r["inputs"]["kind"]: r["inputs"] for r in subject.plan["resources"]
            if r["type"].startswith("kubernetes:argoproj.io/")}
    assert set(argo) == {"WorkflowTemplate", "CronWorkflow"}
    for kind, obj in argo.items():
        assert crd_errors(kind, obj) == [], kind
    train = next(t for t in argo["WorkflowTemplate"]["spec"]["templates"] if t["name"] == "train")
    assert ("tolerations" in train) == bool(answers.get("gpu_count"))  # GPU training when the project has GPUs
    report = review(subject)
    assert [(f.policy, f.message) for f in report.blocking] == []
    # judged as a project stack on the dev platform: environment-level budget policies do not apply, and
    # GPU workloads were checked against the platform's pools rather than deferred
    assert report.stack_kind == "project"
    assert report.not_applicable == ["budget-covers-estimate", "budget-environment"]
    assert report.unknowns == []



def test_gpu_serving_by_model_passes_review_in_every_environment(tmp_path: Path) -> None:
    """Pool names differ per environment (prod has no `a10g` pool, only `a10g-train`): selecting the GPU
    model places the pods on each environment's own pools of it."""
    project = render(tmp_path / "project", gpu_count=1, gpu_pool="a10g", gpu_type="a10g",
                     environments=["dev", "prod"])
    for stack in ("dev", "prod"):
        report = review(program(project / "infra", stack, None, None))
        assert [(f.policy, f.message) for f in report.blocking] == [] and report.unknowns == [], stack
    # selecting the pool name instead would leave the prod pods without a node group: the serving pods
    # and the pipeline's GPU training step alike
    pinned = render(tmp_path / "pinned", gpu_count=1, gpu_pool="a10g", environments=["dev", "prod"])
    prod = review(program(pinned / "infra", "prod", None, None))
    assert {f.policy for f in prod.blocking} == {"gpu-workload-targets-pool"}
    assert {f.urn.split("::")[2].rsplit(":", 1)[-1] for f in prod.blocking} == {"Deployment", "WorkflowTemplate"}


def test_dev_scale_to_zero_rolls_out_instantly_which_only_the_dev_tier_allows(tmp_path: Path) -> None:
    """scale_to_zero_in_dev: the dev stack scales on in-flight requests down to zero outside working hours and
    ships without a Canary; the dev preset allows that, the prod tier blocks the same plan."""
    project = render(tmp_path / "project", scale_to_zero_in_dev=True)
    subject = program(project / "infra", "dev", None, "dev")
    planned = {r["type"]: r for r in subject.plan["resources"]}
    assert SCALED in planned and "kubernetes:flagger.app/v1beta1:Canary" not in planned
    assert planned[SCALED]["inputs"]["spec"]["minReplicaCount"] == 0
    assert [f.policy for f in review(subject).blocking] == []
    as_prod = dataclasses.replace(subject, config=preset("prod"))
    assert {"k8s-serving-progressive-delivery", "k8s-serving-scale-to-zero"} <= {f.policy for f in
                                                                               review(as_prod).blocking}
