"""The project's pipeline objects as the platform's ProjectPipeline builds them, as plan resources (shared by
the pipeline, workload and GPU cases)."""

from __future__ import annotations

from typing import Any

from mlops_platform.k8s.project_pipeline import (
    ProjectPipelineArgs,
    StepResources,
    TrainingBackend,
    cron_workflow_spec,
    workflow_template_spec,
)
from policy_plans import IMAGE, Add, res, urn

T_WT = "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate"
WT = urn(T_WT, "fraud-pipeline")
#: Index of the training step in `spec.templates` (after the steps template and validate-data).
TRAIN_STEP = 2


def pipeline(namespace: str = "fraud", account: Any = "fraud-pipeline", image: str = IMAGE,
             backend: TrainingBackend = TrainingBackend.JOB, step_account: Any = None, queue: Any = None) -> Add:
    """The project's WorkflowTemplate with GPU training on the reference stack's gpu-l4 pool (through
    Kueue queue `queue` when given)."""
    spec = workflow_template_spec(ProjectPipelineArgs(
        project="fraud", namespace=namespace, package="fraud", image=image, service_account=account,
        schedule="0 3 * * 1", backend=backend, train=StepResources(cpu="1", memory="4Gi", gpus=1),
        gpu_pool="gpu-l4", queue=queue, provider=None))  # type: ignore[arg-type]  # pure builder: no provider
    if step_account is not None:
        spec["templates"][1]["serviceAccountName"] = step_account
    return Add(res(T_WT, "fraud-pipeline", {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate",
                                            "metadata": {"name": "training-pipeline", "namespace": namespace},
                                            "spec": spec}, ["fraud-ns"]))


def cron(namespace: str = "fraud") -> Add:
    return Add(res("kubernetes:argoproj.io/v1alpha1:CronWorkflow", "fraud-schedule", {
        "metadata": {"name": "training-pipeline-schedule", "namespace": namespace},
        "spec": cron_workflow_spec("0 3 * * 1")}, ["fraud-ns"]))


def local_queue(namespace: str = "fraud", name: str = "fraud") -> Add:
    """The LocalQueue the platform's tenancy gives a project namespace where Kueue is on."""
    return Add(res("kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue", f"{namespace}-queue", {
        "metadata": {"name": name, "namespace": namespace}, "spec": {"clusterQueue": namespace}}, ["fraud-ns"]))
