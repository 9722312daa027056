"""Fixtures of the policies in `mlops_platform.policy.rules.pipelines`."""

from __future__ import annotations

from mlops_platform.k8s.project_pipeline import TrainingBackend
from policy_plans import U

from policy_cases._base import DEFERRED, Case, fail, ok, u
from policy_cases._pipeline import WT, cron, local_queue, pipeline

CASES: dict[str, Case] = {
    "pipeline-runs-as-project": Case(
        passing=(ok(), ok(pipeline(), cron()), ok(pipeline(backend=TrainingBackend.RAY))),
        failing=(fail(WT, pipeline(namespace="default")), fail(WT, pipeline(account="default")),
                 fail(WT, pipeline(namespace="kube-system")), fail(WT, pipeline(step_account="fraud-workload"))),
        unknown=u(DEFERRED, pipeline(account=U))),
    "batch-jobs-use-project-queue": Case(
        passing=(ok(), ok(pipeline()), ok(pipeline(queue="fraud"), local_queue()),
                 ok(pipeline(backend=TrainingBackend.RAY, queue="fraud"), local_queue())),
        failing=(fail(WT, pipeline(), local_queue()), fail(WT, pipeline(queue="recsys")),
                 fail(WT, pipeline(backend=TrainingBackend.RAY), local_queue()),
                 fail(WT, pipeline(backend=TrainingBackend.RAY, queue="other"), local_queue())),
        unknown=u(DEFERRED, pipeline(queue=U), local_queue())),
}
