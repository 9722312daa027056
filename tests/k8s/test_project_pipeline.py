"""The project's pipeline objects (WorkflowTemplate, CronWorkflow) as the platform's ProjectPipeline builds
them, strictly against the published Argo Workflows CRD schemas, and their placement/identity rules."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mlops_platform.core import contract, naming
from mlops_platform.k8s.project_pipeline import (
    DISPATCH_SECRET,
    ProjectPipelineArgs,
    StepResources,
    TrainingBackend,
    cron_workflow_spec,
    validate_args,
    workflow_template_spec,
)
from mlops_platform.k8s.workload_identity import identity_expression

from .argo_schema import crd_errors
from .k8s_cel import evaluate

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/projects/fraud@sha256:" + "a" * 64


def args(**changes: Any) -> ProjectPipelineArgs:
    base: dict[str, Any] = {"project": "fraud", "namespace": "fraud", "package": "fraud", "image": IMAGE,
                            "service_account": "fraud-pipeline", "schedule": "0 3 * * 1",
                            "provider": None}
    return ProjectPipelineArgs(**{**base, **changes})


def template(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate",
            "metadata": {"name": contract.PIPELINE_TEMPLATE, "namespace": "fraud"}, "spec": spec}


def steps(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in spec["templates"]}


@pytest.mark.parametrize("variant", [
    {}, {"train": StepResources(gpus=1), "gpu_pool": "gpu-l4"},
    {"train": StepResources(gpus=1), "gpu_pool": "gpu-l4", "queue": "fraud"},
    {"backend": TrainingBackend.RAY, "train": StepResources(gpus=1), "gpu_type": "l4", "queue": "fraud"},
])
def test_workflow_template_matches_the_published_schema(variant: dict[str, Any]) -> None:
    assert crd_errors("WorkflowTemplate", template(workflow_template_spec(args(**variant)))) == []


def test_cron_workflow_matches_the_published_schema() -> None:
    cron = {"apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow",
            "metadata": {"name": "training-pipeline-schedule", "namespace": "fraud"},
            "spec": cron_workflow_spec("0 3 * * 1")}
    assert crd_errors("CronWorkflow", cron) == []
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["workflowSpec"]["workflowTemplateRef"] == {"name": contract.PIPELINE_TEMPLATE}


def test_steps_run_in_order_as_the_pipeline_account_with_the_projects_image() -> None:
    spec = workflow_template_spec(args())
    assert spec["serviceAccountName"] == "fraud-pipeline"
    assert spec["synchronization"] == {"mutexes": [{"name": contract.PIPELINE_TEMPLATE}]}
    order = [group[0]["name"] for group in steps(spec)["pipeline"]["steps"]]
    assert order == ["validate-data", "train", "evaluate", "handoff"]
    assert "promoted" in steps(spec)["pipeline"]["steps"][3][0]["when"]
    for name in order:
        container = steps(spec)[name]["container"]
        assert container["image"] == IMAGE
        assert container["command"][:3] == ["python", "-m", "fraud"]
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert {"secretRef": {"name": "mlflow-credentials", "optional": True}} in container["envFrom"]


def test_gpu_training_tolerates_the_taint_and_selects_the_pool() -> None:
    spec = workflow_template_spec(args(train=StepResources(gpus=2), gpu_pool="gpu-l4"))
    train = steps(spec)["train"]
    assert train["nodeSelector"] == {contract.POOL_LABEL: "gpu-l4"}
    assert train["tolerations"][0]["key"] == contract.GPU_TAINT_KEY
    assert train["container"]["resources"]["limits"][contract.GPU_RESOURCE] == "2"
    assert "nodeSelector" not in steps(spec)["validate-data"]  # only training needs the GPU


def test_ray_training_is_a_rayjob_on_the_gpu_pool_through_the_queue_when_given() -> None:
    spec = workflow_template_spec(args(backend=TrainingBackend.RAY, train=StepResources(gpus=1), gpu_type="l4",
                                       queue="fraud", ray_workers=3))
    resource = steps(spec)["train"]["resource"]
    job = json.loads(resource["manifest"])
    assert job["kind"] == "RayJob" and resource["setOwnerReference"] is True
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "fraud"
    worker = job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]
    assert worker["replicas"] == 3
    assert worker["template"]["spec"]["tolerations"][0]["key"] == contract.GPU_TAINT_KEY
    assert worker["template"]["spec"]["nodeSelector"] == {contract.GPU_TYPE_LABEL: "l4"}
    assert worker["template"]["spec"]["serviceAccountName"] == "fraud-pipeline"
    # the driver runs the project's Ray Train entrypoint: one Ray Train worker per worker pod, with its GPUs
    gpus = int(worker["template"]["spec"]["containers"][0]["resources"]["limits"][contract.GPU_RESOURCE])
    assert job["spec"]["entrypoint"] == (f"python -m fraud train-ray --workers {worker['replicas']} "
                                         f"--gpus-per-worker {gpus} --outputs /tmp/outputs")
    no_queue = json.loads(steps(workflow_template_spec(args(backend=TrainingBackend.RAY)))["train"]["resource"][
        "manifest"])
    assert "kueue.x-k8s.io/queue-name" not in no_queue["metadata"]["labels"]


def test_pod_training_waits_in_the_queue_and_only_training_does() -> None:
    """Kueue's pod integration gates a labelled pod until its queue admits it (the Argo step's pod carries
    the template's metadata); the cheap steps never wait for GPU quota."""
    spec = workflow_template_spec(args(train=StepResources(gpus=1), gpu_pool="gpu-l4", queue="fraud"))
    assert steps(spec)["train"]["metadata"] == {"labels": {"kueue.x-k8s.io/queue-name": "fraud"}}
    assert all("metadata" not in steps(spec)[name] for name in ("validate-data", "evaluate", "handoff"))
    assert "metadata" not in steps(workflow_template_spec(args(queue="")))["train"]  # '' = no Kueue


def test_bad_arguments_are_reported_at_once() -> None:
    problems = validate_args(args(schedule="daily", train=StepResources(gpus=1), backend=TrainingBackend.RAY,
                                  ray_workers=0))
    assert len(problems) == 3
    assert "5-field cron" in problems[0] and "gpu_type or gpu_pool" in problems[1] and "ray_workers 0" in problems[2]


def test_the_hand_off_dispatches_to_the_projects_cd_with_its_token_secret() -> None:
    """The hand-off step reaches build/deploy through the project's CD (GitHub workflow_dispatch): it names the
    repository and environment, and the token comes from the namespace's own Secret (optional: the step then
    fails with the command that creates it, rather than the pod never starting)."""
    spec = workflow_template_spec(args(deploy_repository="acme/fraud", deploy_environment="prod"))
    container = steps(spec)["handoff"]["container"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["HANDOFF_REPOSITORY"] == "acme/fraud" and env["DEPLOY_ENVIRONMENT"] == "prod"
    assert env["IMAGE_REF"] == container["image"]  # the image that ran is the one CD redeploys
    assert {"secretRef": {"name": DISPATCH_SECRET, "optional": True}} in container["envFrom"]
    assert "GITHUB_TOKEN" not in env  # never a plain env value
    others = [s for s in spec["templates"] if s.get("container") and s["name"] != "handoff"]
    assert others and all(DISPATCH_SECRET not in json.dumps(s) for s in others)  # only the hand-off holds it


@pytest.mark.parametrize("variant", [
    {}, {"train": StepResources(gpus=1), "gpu_pool": "gpu-l4", "queue": "fraud"},
    {"backend": TrainingBackend.RAY, "train": StepResources(gpus=1), "gpu_type": "l4", "queue": "fraud"},
])
def test_ci_may_deploy_the_pipeline_under_the_workload_identity_policy(variant: dict[str, Any]) -> None:
    """The CI groups' requests pass the mlops-workload-identity admission policy (workload_identity.py)."""
    a = args(**variant)
    request = {"userInfo": {"groups": [naming.project_deployers("fraud"), naming.project_pipeline_submitters("fraud")]}}
    objects = [{"kind": "WorkflowTemplate", "spec": workflow_template_spec(a)},
               {"kind": "CronWorkflow", "spec": cron_workflow_spec(a.schedule)}]
    for obj in objects:
        assert evaluate(identity_expression(), obj, "fraud", request), obj["kind"]
