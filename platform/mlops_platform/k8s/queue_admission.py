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
Pods created by the controller of their ReplicaSet, StatefulSet, Job or RayCluster are not matched (serving is
not queued; a Job's or RayCluster's pods are admitted through their owner), nor the submitter Job the KubeRay
operator creates for a RayJob (see `batch_pod_condition`).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.core.contract import QUEUE_LABEL
from mlops_platform.core.gpu_sharing import TIME_SLICED_GPU, WHOLE_GPU, mig_resource
from mlops_platform.k8s.admission import OWN_NAMESPACE_CEL, Check, Rule, policy_spec, project_admission
from mlops_platform.k8s.training import OPERATOR_USERNAME

POLICY_NAME = "mlops-kueue-queue-label"
_LABELS = "object.metadata.labels"
_OWNERS = "object.metadata.ownerReferences"
#: kube-controller-manager's identity: with `--use-service-account-credentials` (kubeadm's setting, CIS
#: Kubernetes Benchmark 1.3.3) each controller runs as its own kube-system ServiceAccount, named as in the
#: bootstrap RBAC (kubernetes plugin/pkg/auth/authorizer/rbac/bootstrappolicy/controller_policy.go:
#: `replicaset-controller`, `statefulset-controller`, `job-controller`); otherwise as this user. EKS does not
#: publish the flag of its managed control plane, so both are accepted: only the control plane holds either.
_CONTROLLER_MANAGER = "system:kube-controller-manager"


def _controller(name: str) -> tuple[str, ...]:
    return (f"system:serviceaccount:kube-system:{name}", _CONTROLLER_MANAGER)


#: Pods admitted through their owner, keyed by the owner's (API group, kind), each with the only requesters
#: that create such pods: serving is not queued, and a Job's or RayCluster's pods are judged through it (the
#: Job, the RayJob whose labels KubeRay copies to its RayCluster). `ownerReferences` alone is no proof (any pod
#: creator may write one), so the requester must be that owner's controller too.
POD_OWNERS: dict[tuple[str, str], tuple[str, ...]] = {
    ("apps", "ReplicaSet"): _controller("replicaset-controller"),
    ("apps", "StatefulSet"): _controller("statefulset-controller"),
    ("batch", "Job"): _controller("job-controller"),
    ("ray.io", "RayCluster"): (OPERATOR_USERNAME,),
}


def _owned(group: str, kind: str, users: tuple[str, ...]) -> str:
    """CEL: the object has a controller owner of `kind` in `group` and the requester is one of `users`."""
    return (f"(request.userInfo.username in [{', '.join(repr(u) for u in users)}] && has({_OWNERS}) && "
            f"{_OWNERS}.exists(o, o.kind == '{kind}' && o.apiVersion.startsWith('{group}/') && "
            "has(o.controller) && o.controller))")


def gpu_resource_cel(name: str) -> str:
    """CEL: the resource name `name` is one a GPU pool advertises (core.gpu_sharing: whole GPU, time slice,
    any MIG instance)."""
    return f"({name} == '{WHOLE_GPU}' || {name} == '{TIME_SLICED_GPU}' || {name}.startsWith('{mig_resource('')}'))"


def _asks_gpu() -> str:
    """CEL: a container or init container (it holds its GPUs while it runs) of the pod asks for a GPU."""
    containers = "(has(object.spec.initContainers) ? object.spec.initContainers : []) + object.spec.containers"
    blocks = " || ".join(f"(has(c.resources.{b}) && c.resources.{b}.exists(k, {gpu_resource_cel('k')}))"
                         for b in ("limits", "requests"))
    return f"({containers}).exists(c, has(c.resources) && ({blocks}))"


def batch_pod_condition() -> str:
    """CEL match condition: what the policy judges. A pod only when it asks for a GPU and is not created by
    its owner's controller (POD_OWNERS); a Job unless it is a RayJob's submitter; anything else always.

    The submitter: in its default `K8sJobMode` KubeRay runs a RayJob's driver from a batch/v1 Job it creates in
    the RayJob's namespace, labelled with KubeRay's labels only, not the RayJob's queue label (kuberay v1.4.2
    ray-operator/controllers/ray/rayjob_controller.go `createNewK8sJob`, controller-owned by the RayJob). The
    RayJob itself was judged and Kueue admits it as a whole, so the Job is exempt, but only when the KubeRay
    operator's ServiceAccount creates it (an owner reference alone can be forged)."""
    pod_exempt = " || ".join(_owned(group, kind, users) for (group, kind), users in POD_OWNERS.items())
    submitter = _owned("ray.io", "RayJob", (OPERATOR_USERNAME,))
    judged = (f"request.resource.resource == 'pods' ? (!({pod_exempt}) && {_asks_gpu()}) : "
              f"request.resource.resource == 'jobs' ? !{submitter} : true")
    return f"!({_garbage_collection()}) && ({judged})"


def _garbage_collection() -> str:
    """CEL: an UPDATE by the garbage collector. It edits only ownerReferences and finalizers (never a label or a
    pod spec), so judging it could only stop an exempt object (a KubeRay submitter Job, a serving pod) from
    being deleted, its finalizer never removed."""
    users = ", ".join(repr(u) for u in _controller("generic-garbage-collector"))
    return f"request.operation == 'UPDATE' && request.userInfo.username in [{users}]"


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
    # only GPU pods that are batch work of their own, and no RayJob submitter, are judged (batch_pod_condition)
    return {**spec, "matchConditions": [{"name": "batch-work", "expression": batch_pod_condition()}]}


def queue_label_policy(name: str, parent: pulumi.Resource, provider: k8s.Provider) -> None:
    """The policy and its project binding, children of `parent` named `<name>-queue-label[-binding]`."""
    project_admission(f"{name}-queue-label", POLICY_NAME, queue_policy(), parent, provider)
