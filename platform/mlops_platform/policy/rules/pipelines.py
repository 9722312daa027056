"""Pipelines: a project's Argo workflows run inside the tenancy fence — in a project namespace, as a named
ServiceAccount (the project's pipeline identity, never `default`), every step as that account; and where
the namespace has a Kueue queue, its batch jobs wait in it.

The pod-level rules (resources for the quota, the project's registry, restricted security context, GPU
toleration and pool selector) already apply to each step, because `sdk.k8s.pod_templates` yields one pod
per Argo step; this file adds what only a workflow has.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mlops_platform.core import contract
from mlops_platform.policy.config import PolicySettings, Severity
from mlops_platform.policy.registry import Area, OnUnknown, resource_policy, stack_policy
from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.graph import Res, StackView
from mlops_platform.policy.sdk.values import Defer, Violation, as_list, dig, fmt, is_unknown

ARGO_TYPES = (t.ARGO_WORKFLOW, t.ARGO_WORKFLOW_TEMPLATE, t.ARGO_CRON_WORKFLOW)
#: Namespaces of the platform itself: a project's pipeline never runs there.
PLATFORM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "argo", "monitoring", "mlflow",
                                 "kuberay", "kserve", "envoy-gateway-system", "gpu-operator"})


def _spec_path(res: Res) -> str:
    return "spec.workflowSpec" if res.type == t.ARGO_CRON_WORKFLOW else "spec"


def _step_accounts(res: Res, base: str, workflow_sa: object) -> Iterator[str | Defer]:
    for i, step in enumerate(as_list(res.get(f"{base}.templates"))):
        own = step.get("serviceAccountName") if isinstance(step, dict) else None
        if is_unknown(own):
            yield Defer(f"{base}.templates[{i}].serviceAccountName")
        elif own is not None and own != workflow_sa:
            yield (f"step {fmt(step.get('name'))} runs as {fmt(own)}, not the workflow's account "
                   f"{fmt(workflow_sa)}: every step of a pipeline has the pipeline's identity")


@resource_policy(
    name="pipeline-runs-as-project", area=Area.K8S, resource_types=ARGO_TYPES, severity=Severity.HIGH,
    description="Argo pipelines run in a project namespace as a named ServiceAccount, the same for every step.",
    remediation="Deploy the WorkflowTemplate with the platform's ProjectPipeline component: it sets the project "
                "namespace and the pipeline ServiceAccount (ProjectOutput.pipeline_service_account).",
    url="https://argo-workflows.readthedocs.io/en/latest/service-accounts/",
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the namespace or a ServiceAccount name is unknown.",
)
def pipeline_runs_as_project(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    namespace, base = res.get("metadata.namespace"), _spec_path(res)
    if is_unknown(namespace):
        yield Defer("metadata.namespace")
    elif not namespace or namespace in PLATFORM_NAMESPACES:
        yield f"runs in namespace {fmt(namespace or 'default')}, not the project's own namespace"
    if res.get(f"{base}.workflowTemplateRef") is not None and res.get(f"{base}.templates") is None:
        return  # starts a reviewed WorkflowTemplate, which carries the account
    account = res.get(f"{base}.serviceAccountName")
    if is_unknown(account):
        yield Defer(f"{base}.serviceAccountName")
        return
    if not account or account == "default":
        yield (f"{base}.serviceAccountName is {fmt(account or 'unset')}: steps would run as the namespace's "
               "`default` account instead of the project's pipeline identity")
    yield from _step_accounts(res, base, account)




def _gpu_step(step: dict[str, Any]) -> bool:
    limits = dig(step, "container.resources.limits") or {}
    return isinstance(limits, dict) and any(k.startswith("nvidia.com/") for k in limits)


def _argo_batch(res: Res) -> Iterator[tuple[str, Any]]:
    """(where, labels) of an Argo workflow's batch work: GPU steps (pods) and the RayJobs resource steps create."""
    base = _spec_path(res)
    for i, step in enumerate(as_list(res.get(f"{base}.templates"))):
        if not isinstance(step, dict):
            continue
        where = f"{base}.templates[{i}]"
        if _gpu_step(step):
            yield where, dig(step, "metadata.labels") or {}
        manifest = dig(step, "resource.manifest")
        if is_unknown(manifest):
            yield f"{where}.resource.manifest", manifest
        elif isinstance(manifest, str) and '"RayJob"' in manifest:
            try:
                job = json.loads(manifest)
            except ValueError:
                continue
            yield f"{where}.resource.manifest", dig(job, "metadata.labels") or {}


def _batch_workloads(stack: StackView) -> Iterator[tuple[Res, str, Any]]:
    for res in stack.of_type(t.K8S_JOB, t.RAY_JOB):
        yield res, "metadata.labels", res.get("metadata.labels") or {}
    for res in stack.of_type(*ARGO_TYPES):
        for where, labels in _argo_batch(res):
            yield res, where, labels


def _queue_finding(res: Res, where: str, labels: Any, namespace: Any, queues: dict[Any, Any]) -> str | Defer | None:
    if is_unknown(labels) or is_unknown(namespace):
        return Defer(f"{where} / metadata.namespace", res.urn)
    queue = labels.get(contract.QUEUE_LABEL) if isinstance(labels, dict) else None
    if is_unknown(queue):
        return Defer(f"{where} {contract.QUEUE_LABEL}", res.urn)
    own = queues.get(namespace, namespace)  # the platform names each LocalQueue after its namespace
    if queue and queue != own:
        return (f"{res.name}: {where} names queue {fmt(queue)}, not its namespace's {fmt(own)}: it would wait "
                "forever (a LocalQueue is looked up in the job's own namespace)")
    if not queue and namespace in queues:
        return (f"{res.name}: {where} carries no {contract.QUEUE_LABEL} though namespace {fmt(namespace)} has queue "
                f"{fmt(own)}: it would run outside the project's fair share and gang scheduling")
    return None


@stack_policy(
    name="batch-jobs-use-project-queue", area=Area.K8S, severity=Severity.MEDIUM,
    resource_types=(t.K8S_JOB, t.RAY_JOB, *ARGO_TYPES, t.KUEUE_LOCAL_QUEUE),
    description="Batch work (Jobs, RayJobs, GPU steps of Argo pipelines) in a namespace with a Kueue LocalQueue "
                "names that queue in kueue.x-k8s.io/queue-name; no workload names another namespace's queue.",
    remediation="Build the pipeline with ProjectPipeline and pass queue= the project's queue (platform output "
                "projects.<name>.queue); set the label on hand-written Jobs and RayJobs.",
    url="https://kueue.sigs.k8s.io/docs/tasks/run/rayjobs/",
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when a label, manifest or namespace is unknown.",
)
def batch_jobs_use_project_queue(stack: StackView, _: PolicySettings) -> Iterator[Violation | Defer]:
    queues = {q.get("metadata.namespace"): q.get("metadata.name") for q in stack.of_type(t.KUEUE_LOCAL_QUEUE)}
    for res, where, labels in _batch_workloads(stack):
        finding = _queue_finding(res, where, labels, res.get("metadata.namespace"), queues)
        if isinstance(finding, str):
            yield Violation(finding, res.urn)
        elif finding is not None:
            yield finding
