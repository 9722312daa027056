"""Batch work in a project namespace must go through the project's Kueue queue.

Kueue manages only jobs that carry `kueue.x-k8s.io/queue-name` (`manageJobsWithoutQueueName: false`), and with
cohort borrowing the namespace's ResourceQuota allows the project's quota plus what it may borrow
(k8s/project_queue.py `quota_ceiling`). An unlabelled Job or RayJob would therefore start at once and could use
the borrowing headroom outside Kueue: no fair share, no reclaim by the lender, no gang scheduling. This
ValidatingAdmissionPolicy refuses, in project namespaces, batch Jobs, RayJobs, RayClusters and the GPU pods of
Argo workflows (or bare GPU pods) whose queue label does not name the project's LocalQueue (named like the
namespace, k8s/project_queue.py).

Why not `manageJobsWithoutQueueName: true` with `managedJobsNamespaceSelector` (both exist in Kueue 0.19.2's
Configuration): in the selected namespaces Kueue would then manage *every* pod through the pod integration,
serving Deployments included, gating them on batch quota; and an unlabelled Job would be suspended forever
(no queue to admit it) instead of refused with a message. Admission refuses it where the user sees it.
Pods owned by ReplicaSets, StatefulSets, Jobs or RayClusters are not matched: serving is not queued, and a
Job's or RayCluster's pods are admitted through their owner.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.core.contract import QUEUE_LABEL
from mlops_platform.k8s.admission import OWN_NAMESPACE_CEL, Check, Rule, policy_spec, project_admission

POLICY_NAME = "mlops-kueue-queue-label"
#: Owners whose GPU pods are batch work of their own (Argo runs each step as a pod owned by the Workflow);
#: a pod without any owner is a bare pod, batch work too.
BATCH_POD_OWNERS = ("Workflow",)
_LABELS = "object.metadata.labels"


def _asks_gpu(block: str) -> str:
    """CEL: the container's `resources.<block>` names a GPU resource (whole, time slice or MIG instance)."""
    keys = f"c.resources.{block}"
    return (f"(has({keys}) && {keys}.exists(k, k == 'nvidia.com/gpu' || k == 'nvidia.com/gpu.shared' || "
            "k.startsWith('nvidia.com/mig-')))")


def batch_pod_condition() -> str:
    """CEL match condition: a request for anything but a pod, or a bare or workflow-owned pod asking for a GPU."""
    owners = " || ".join(f"o.kind == '{kind}'" for kind in BATCH_POD_OWNERS)
    gpu = (f"object.spec.containers.exists(c, has(c.resources) && ({_asks_gpu('limits')} || "
           f"{_asks_gpu('requests')}))")
    batch = f"(!has(object.metadata.ownerReferences) || object.metadata.ownerReferences.exists(o, {owners}))"
    return f"request.resource.resource != 'pods' || ({batch} && {gpu})"


def queue_expression() -> str:
    """CEL: the object's queue label names its namespace's LocalQueue."""
    return f"has({_LABELS}) && '{QUEUE_LABEL}' in {_LABELS} && {_LABELS}['{QUEUE_LABEL}'] == {OWN_NAMESPACE_CEL}"


#: What Kueue queues here (its integrations batch/job, ray.io/rayjob and raycluster, pod): judged on CREATE and UPDATE,
#: so the label can neither be left out nor removed later.
RULES = (Rule(group="batch", resources=("jobs",)), Rule(group="ray.io", resources=("rayjobs", "rayclusters")),
         Rule(group="", resources=("pods",)))


def queue_policy() -> dict[str, Any]:
    """Spec of the ValidatingAdmissionPolicy requiring the project's queue on its batch work."""
    message = (f"'batch work in a project namespace carries the label {QUEUE_LABEL}: ' + {OWN_NAMESPACE_CEL} + "
               "' (the project LocalQueue); without it the job would bypass Kueue and run on borrowed quota'")
    spec = policy_spec(RULES, [Check(expression=queue_expression(), message=message)])
    # only pods that are batch work of their own are judged (see batch_pod_condition)
    return {**spec, "matchConditions": [{"name": "batch-work", "expression": batch_pod_condition()}]}


def queue_label_policy(name: str, parent: pulumi.Resource, provider: k8s.Provider) -> None:
    """The policy and its project binding, children of `parent` named `<name>-queue-label[-binding]`."""
    project_admission(f"{name}-queue-label", POLICY_NAME, queue_policy(), parent, provider)
