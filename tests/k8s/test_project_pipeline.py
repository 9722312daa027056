"""The project's pipeline objects (WorkflowTemplate, CronWorkflow) as the platform's ProjectPipeline builds
them, strictly against the published Argo Workflows CRD schemas, and their placement/identity rules."""

from __future__ import annotations

import json
import re
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
from mlops_platform.k8s.training import OPERATOR_USERNAME
from mlops_platform.k8s.workload_identity import identity_expression

from .argo_schema import crd_errors
from .k8s_cel import evaluate
from .upstream import crd_schema

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
    # the head offers no CPUs, so each of the 3 Ray Train workers runs on a worker pod, none on the head
    assert job["spec"]["rayClusterSpec"]["headGroupSpec"]["rayStartParams"] == {"num-cpus": "0"}
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


REFERENCE = re.compile(r"\{\{(steps\.([\w-]+)\.outputs|inputs)\.parameters\.([\w-]+)\}\}")


def _references(node: Any) -> list[tuple[str | None, str]]:
    """Every `{{steps.S.outputs.parameters.P}}` (as (S, P)) and `{{inputs.parameters.P}}` (as (None, P))."""
    text = node if isinstance(node, str) else json.dumps(node)
    return [(match[1] or None, match[2]) for match in REFERENCE.findall(text)]


@pytest.mark.parametrize("backend", list(TrainingBackend))
def test_every_parameter_a_step_reads_is_one_its_producer_declares(backend: TrainingBackend) -> None:
    """Argo fails a run (not the apply) on a parameter no step declares: each reference must resolve."""
    spec = workflow_template_spec(args(backend=backend))
    by_name = steps(spec)
    for group in by_name["pipeline"]["steps"]:
        step = group[0]
        declared = {p["name"] for p in by_name[step["template"]].get("inputs", {}).get("parameters", [])}
        passed = {p["name"] for p in step.get("arguments", {}).get("parameters", [])}
        assert passed == declared, step["name"]
        for producer, name in _references(step):
            outputs = by_name[producer]["outputs"]["parameters"]
            assert name in {o["name"] for o in outputs}, f"{step['name']} reads {producer}.{name}"
    for name in ("evaluate", "handoff"):
        template_inputs = {p["name"] for p in by_name[name]["inputs"]["parameters"]}
        assert {p for _, p in _references(by_name[name]["container"])} <= template_inputs


@pytest.mark.parametrize("backend", list(TrainingBackend))
def test_the_gate_and_the_hand_off_get_this_runs_model_never_the_latest(backend: TrainingBackend) -> None:
    spec = workflow_template_spec(args(backend=backend))
    assert "latest" not in json.dumps(spec)
    pipeline = {group[0]["name"]: group[0] for group in steps(spec)["pipeline"]["steps"]}
    given = "ray-cluster" if backend is TrainingBackend.RAY else "version"
    assert pipeline["evaluate"]["arguments"]["parameters"] == [
        {"name": given, "value": f"{{{{steps.train.outputs.parameters.{given}}}}}"}]
    command = steps(spec)["evaluate"]["container"]["command"]
    assert command[3:6] == ["evaluate", f"--{given}", f"{{{{inputs.parameters.{given}}}}}"]
    # the hand-off ships the version the gate judged (evaluate's own output)
    assert pipeline["handoff"]["arguments"]["parameters"] == [
        {"name": "version", "value": "{{steps.evaluate.outputs.parameters.version}}"}]


@pytest.mark.parametrize("variant", [{}, {"train": StepResources(gpus=1), "gpu_type": "l4", "queue": "fraud"}])
def test_the_rayjob_matches_the_published_kuberay_schema(variant: dict[str, Any]) -> None:
    """KubeRay v1.4.2's RayJob CRD (what the pinned kuberay-operator chart installs), strictly: the API server
    would prune a misplaced field, and a RayJob the operator cannot read fails only at run time."""
    resource = steps(workflow_template_spec(args(backend=TrainingBackend.RAY, **variant)))["train"]["resource"]
    assert crd_errors("RayJob", json.loads(resource["manifest"]), group="ray.io", version="v1") == []


def test_the_rayjob_names_its_cluster_to_the_driver_and_to_the_gate() -> None:
    """The driver's outputs stay in the Ray head pod, so the RayJob's cluster name links the two: KubeRay labels
    every Ray pod `ray.io/cluster=<RayCluster>` (kuberay v1.4 ray-operator/controllers/ray/utils/constant.go,
    RayClusterLabelKey) and records the same name in the RayJob's `status.rayClusterName` (ray-operator/apis/
    ray/v1/rayjob_types.go). The driver tags its MLflow run with it; Argo reads it from the finished RayJob."""
    train = steps(workflow_template_spec(args(backend=TrainingBackend.RAY)))["train"]
    assert train["outputs"]["parameters"] == [
        {"name": "ray-cluster", "valueFrom": {"jsonPath": "{.status.rayClusterName}"}}]
    status = crd_schema("ray.io", "RayJob", "v1")["properties"]["status"]["properties"]
    assert status["rayClusterName"] == {"type": "string"}  # the field the jsonPath reads is published
    job = json.loads(train["resource"]["manifest"])
    head = job["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert {"name": "TRAINING_RAY_CLUSTER",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['ray.io/cluster']"}}} in head["env"]


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
    {"backend": TrainingBackend.RAY},
])
def test_ci_may_deploy_the_pipeline_under_the_workload_identity_policy(variant: dict[str, Any]) -> None:
    """The CI groups' requests pass the mlops-workload-identity admission policy (workload_identity.py)."""
    a = args(**variant)
    request = {"userInfo": {"groups": [naming.project_deployers("fraud"), naming.project_pipeline_submitters("fraud")]}}
    objects = [{"kind": "WorkflowTemplate", "spec": workflow_template_spec(a)},
               {"kind": "CronWorkflow", "spec": cron_workflow_spec(a.schedule)}]
    for obj in objects:
        assert evaluate(identity_expression(), obj, "fraud", request), obj["kind"]
    train = steps(workflow_template_spec(a))["train"]
    if "resource" in train:
        # the RayJob the train step creates (as the pipeline ServiceAccount), and the RayCluster KubeRay builds
        # from its rayClusterSpec (as the operator), are judged for every requester
        job = json.loads(train["resource"]["manifest"])
        cluster = {"kind": "RayCluster", "spec": job["spec"]["rayClusterSpec"]}
        for obj, user in ((job, f"system:serviceaccount:fraud:{a.service_account}"), (cluster, OPERATOR_USERNAME)):
            made = {"userInfo": {"username": user, "groups": ["system:serviceaccounts", "system:authenticated"]}}
            assert evaluate(identity_expression(), obj, "fraud", made), obj["kind"]
