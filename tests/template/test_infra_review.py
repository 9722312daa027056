"""A generated project's `infra/` plans offline with the platform's `ModelServing` component and passes
`mlplat review --program infra` without mandatory violations of its own."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from foundation.test_layer_stacks import layer_variant
from k8s.argo_schema import crd_errors
from mlops_platform.core.errors import UsageError
from mlops_platform.core.layers import Layer
from mlops_platform.engine import run_platform, run_program
from mlops_platform.engine.child import plan_offline
from mlops_platform.engine.isolated import ProgramRun
from mlops_platform.k8s.deploy_rights import deployer_rules
from mlops_platform.policy.config_files import preset
from mlops_platform.policy.sdk import rbac
from mlops_platform.workflows.review import Subject, program, program_subject, review

from .support import Renders, render

pytestmark = pytest.mark.slow


#: A release of every project goes through Flagger (copier.yml delivery_strategy: canary by default)
RELEASE = {"kubernetes:flagger.app/v1beta1:Canary", "kubernetes:flagger.app/v1beta1:MetricTemplate",
           "kubernetes:policy/v1:PodDisruptionBudget"}
HPA, SCALED = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "kubernetes:keda.sh/v1alpha1:ScaledObject"
DEPLOYMENT = {"kubernetes:apps/v1:Deployment", *RELEASE}
#: What `pulumi up` does to each resource it manages: creates, reads (refresh), patches (server-side apply),
#: deletes (replace, destroy).
DEPLOY_VERBS = ("create", "get", "patch", "delete")
LOADTESTER = "http://flagger-loadtester.fraud-detector.svc.cluster.local/"


def planned(infra: Path, stack: str, tier: str | None) -> Subject:
    """What `mlplat review --program infra --stack STACK` reviews (`review.program`), planned in this process
    with the same offline stack references: the guarded child process `program` plans in (engine/isolated.py,
    tested in tests/policy/test_hostile_programs.py) adds only its start-up, about a CPU second per plan, and the
    template's program is ours. test_dev_scale_to_zero_... reviews through `program` itself."""
    plan, references = plan_offline(infra, stack=stack)
    return program_subject(ProgramRun(plan.to_json(), references), infra, tier)


def undeployable(resources: list[dict[str, Any]]) -> set[str]:
    """Planned Kubernetes kinds the project's CI deploy role could not manage: its rights are exactly the deploy
    Role (k8s.deploy_rights; no EKS access policy covers custom resources), so a kind added to the project's
    program without a rule there would be Forbidden at its first real `pulumi up`."""
    missing = set()
    for res in resources:
        parts = res["type"].split(":")
        if parts[0] != "kubernetes":
            continue
        api, kind = (res["inputs"]["apiVersion"], res["inputs"]["kind"]) if parts[2] == "CustomResource" \
            else (parts[1], parts[2])
        group = api.rsplit("/", 1)[0] if "/" in api else ""
        group = "" if group == "core" else group
        if not all(rbac.allows(deployer_rules(), group, rbac.kind_resource(kind), v) for v in DEPLOY_VERBS):
            missing.add(f"{group or 'core'}/{kind}")
    return missing


@pytest.mark.parametrize(("answers", "expected"), [
    pytest.param({}, {*DEPLOYMENT, HPA}, id="cpu-deployment"),
    # with a load test Flagger calls each round: the namespace's loadtester (copier.yml rollout_webhook_url)
    pytest.param({"serving_mode": "kserve", "environments": ["dev", "prod"], "delivery_strategy": "blue-green",
                  "rollout_webhook_url": LOADTESTER}, {*RELEASE, HPA}, id="kserve"),
    # GPU serving, and training as a RayJob (the pod-trained GPU pipeline is reviewed below, per environment)
    pytest.param({"gpu_count": 1, "gpu_pool": "l4", "delivery_strategy": "mirror", "training_backend": "ray"},
                 {*DEPLOYMENT, SCALED}, id="gpu-deployment-ray"),
])
def test_infra_plans_with_model_serving_and_passes_review(renders: Renders, tmp_path: Path, answers: dict[str, object],
                                                          expected: set[str]) -> None:
    project = renders.copy(tmp_path / "project", **answers)  # the default answers: a preset's render
    subject = planned(project / "infra", "dev", "prod")
    types = {r["type"] for r in subject.plan["resources"]}
    assert "mlops:k8s:ModelServing" in types
    assert expected <= types
    assert undeployable(subject.plan["resources"]) == set()
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
    if answers.get("training_backend") == "ray":  # the RayJob, as KubeRay's CRD reads it; its workers on GPUs
        job = json.loads(train["resource"]["manifest"])
        assert crd_errors("RayJob", job, group="ray.io", version="v1") == []
        train = job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]
    assert ("tolerations" in train) == bool(answers.get("gpu_count"))  # GPU training when the project has GPUs
    (canary,) = [r["inputs"] for r in subject.plan["resources"] if r["type"] == "kubernetes:flagger.app/v1beta1:Canary"]
    hooks = [h["url"] for h in canary["spec"]["analysis"].get("webhooks", [])]
    assert hooks == ([LOADTESTER] if answers.get("rollout_webhook_url") else [])
    report = review(subject)
    assert [(f.policy, f.message) for f in report.blocking] == []
    # judged as a project stack on the dev platform: environment-level budget policies do not apply, and
    # GPU workloads were checked against the platform's pools rather than deferred
    assert report.stack_kind == "project"
    # (k8s-inference-auth judges the platform stack, whose tenants hold the SecurityPolicies)
    assert report.not_applicable == ["budget-covers-estimate", "budget-environment", "k8s-inference-auth"]
    assert report.unknowns == []



def test_gpu_serving_by_model_passes_review_in_every_environment(tmp_path: Path) -> None:
    """Pool names differ per environment (prod has no `a10g` pool, only `a10g-train`): selecting the GPU
    model places the pods on each environment's own pools of it."""
    project = render(tmp_path / "project", gpu_count=1, gpu_pool="a10g", gpu_type="a10g",
                     environments=["dev", "prod"])
    for stack in ("dev", "prod"):
        report = review(planned(project / "infra", stack, None))
        assert [(f.policy, f.message) for f in report.blocking] == [] and report.unknowns == [], stack
    # selecting the pool name instead would leave the prod pods without a node group: the serving pods
    # and the pipeline's GPU training step alike
    pinned = render(tmp_path / "pinned", gpu_count=1, gpu_pool="a10g", environments=["dev", "prod"])
    prod = review(planned(pinned / "infra", "prod", None))
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
    assert undeployable(subject.plan["resources"]) == set()
    assert [f.policy for f in review(subject).blocking] == []
    as_prod = dataclasses.replace(subject, config=preset("prod"))
    assert {"k8s-serving-progressive-delivery", "k8s-serving-scale-to-zero"} <= {f.policy for f in
                                                                               review(as_prod).blocking}


def test_a_planned_kind_outside_the_deploy_role_is_named() -> None:
    """The drift check above fails on what a real `pulumi up` would be Forbidden on: a Secret (never granted),
    or a custom resource nobody added to the Role (e.g. a Gateway, which is the tenants layer's, or a gateway
    policy)."""
    planned = [{"type": "kubernetes:apps/v1:Deployment", "inputs": {}},
               {"type": "kubernetes:flagger.app/v1beta1:Canary", "inputs": {}},
               {"type": "kubernetes:core/v1:Secret", "inputs": {}},
               {"type": "kubernetes:gateway.networking.k8s.io/v1:Gateway", "inputs": {}},
               {"type": "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "inputs": {}},
               {"type": "kubernetes:apiextensions.k8s.io:CustomResource",
                "inputs": {"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "SecurityPolicy"}},
               {"type": "pulumi:providers:kubernetes", "inputs": {}}]
    assert undeployable(planned) == {"core/Secret", "gateway.networking.k8s.io/Gateway",
                                     "gateway.envoyproxy.io/SecurityPolicy"}


def test_a_project_in_a_sharded_environment_reads_the_tenants_stack_of_its_shard(tmp_path: Path) -> None:
    """With `tenants.shards: 6`, dev has no tenants stack named dev: churn-model's tenancy is planned in
    dev-tenants-5 (core.shards.shard_of, pinned in tests/foundation/test_tenant_stacks.py). The project's stack
    finds that stack from the aws layer's `tenant_shards` output — both stacks planned from the sharded stack
    file — and reads its own entry there; referencing any other stack would fail the plan."""
    sharded = layer_variant(tmp_path, lambda config: config.update({"mlops-platform:tenants": {"shards": 6}}))
    stacks = {"organization/mlops-platform-aws/dev": run_platform(stack_file=sharded, layer=Layer.AWS).outputs,
              "organization/mlops-platform/dev-tenants-5": run_platform(stack_file=sharded, layer=Layer.TENANTS,
                                                                        shard=5).outputs}
    assert stacks["organization/mlops-platform-aws/dev"]["tenant_shards"] == 6
    read: list[str] = []

    def resolve(reference: str) -> Any:
        read.append(reference)
        if reference not in stacks:
            raise UsageError(f"{reference}: not a stack of the sharded dev")
        return stacks[reference]
    project = render(tmp_path / "project", project_slug="churn-model")
    plan = run_program(project / "infra", "dev", stack_outputs=resolve)
    assert read == list(stacks)
    [workflow] = [r for r in plan.resources if r.type == "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate"]
    entry = stacks["organization/mlops-platform/dev-tenants-5"]["projects"]["churn-model"]
    assert entry["mlflow_artifact_uri"] and entry["mlflow_artifact_uri"] in json.dumps(workflow.inputs)
