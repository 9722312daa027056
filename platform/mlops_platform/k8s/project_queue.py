"""A project's Kueue queues: a ClusterQueue whose nominal quota is the project's quota (CPU, memory, whole
GPUs and each shared-GPU resource) admitting only the project's namespace, and the LocalQueue its jobs
name (`kueue.x-k8s.io/queue-name: <project>`). With cohort borrowing a project may use quota others leave
idle up to its borrowing limit, and gets its own back by preemption (`reclaimWithinCohort: Any`); the
namespace's ResourceQuota then allows the same ceiling (`quota_ceiling`), or borrowed pods would be refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.config.rules_gpu import borrowing_limit
from mlops_platform.config.sections import ProjectConfig
from mlops_platform.core.gpu_sharing import WHOLE_GPU
from mlops_platform.k8s.kueue import DEFAULT_FLAVOR, KUEUE_API
from mlops_platform.k8s.manifests import Manifest, meta
from mlops_platform.k8s.provider import k8s_opts


@dataclass(frozen=True, kw_only=True)
class QueueSettings:
    """The environment's quota-fair scheduling, as every tenant reads it."""

    cohort: str | None = None
    """Cohort of the project ClusterQueues; None: no borrowing. Default: none."""
    borrowing_limit_pct: int = 100
    """Most a project may borrow, % of its own quota per resource (with a cohort). Default: 100."""


def project_quantities(project: ProjectConfig, shared: tuple[str, ...]) -> dict[str, int]:
    """The project's quota per resource: CPU cores, memory GiB, whole GPUs, slices of each shared resource."""
    return {"cpu": project.cpu_quota, "memory": project.memory_quota_gib, WHOLE_GPU: project.gpu_quota,
            **dict.fromkeys(shared, project.gpu_slices)}


def quota_ceiling(project: ProjectConfig, shared: tuple[str, ...], settings: QueueSettings | None) -> dict[str, int]:
    """Most of each resource the project's pods may request at once: its quota, plus what it may borrow."""
    own = project_quantities(project, shared)
    if settings is None or settings.cohort is None:
        return own
    return {res: n + borrowing_limit(n, settings.borrowing_limit_pct) for res, n in own.items()}


def _quantity(resource: str, n: int) -> str:
    return f"{n}Gi" if resource == "memory" else str(n)


def cluster_queue_spec(namespace: str, project: ProjectConfig, shared: tuple[str, ...],
                       settings: QueueSettings) -> Manifest:
    """ClusterQueue (kueue.x-k8s.io/v1beta2): one resource group, the default flavor, nominal = quota."""
    borrow = settings.cohort is not None
    resources = []
    for res, n in project_quantities(project, shared).items():
        entry: Manifest = {"name": res, "nominalQuota": _quantity(res, n)}
        if borrow:
            entry["borrowingLimit"] = _quantity(res, borrowing_limit(n, settings.borrowing_limit_pct))
        resources.append(entry)
    spec: Manifest = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        "queueingStrategy": "BestEffortFIFO",
        "resourceGroups": [{"coveredResources": [r["name"] for r in resources],
                            "flavors": [{"name": DEFAULT_FLAVOR, "resources": resources}]}],
        "preemption": {"withinClusterQueue": "LowerPriority",
                       "reclaimWithinCohort": "Any" if borrow else "Never",
                       "borrowWithinCohort": {"policy": "Never"}},
    }
    if settings.cohort is not None:
        spec["cohortName"] = settings.cohort
        # the queue's weight in the cohort's fair sharing (kueue.x-k8s.io/v1beta2 ClusterQueue fairSharing.weight,
        # a quantity; Kueue divides its dominant resource share by it)
        spec["fairSharing"] = {"weight": weight_quantity(project.fair_share_weight)}
    return spec


def weight_quantity(weight: float) -> str:
    """A fair-sharing weight as a Kubernetes quantity ("1", "0.5", "2.25"): Kueue reads it to the milli."""
    return f"{round(weight, 3):g}"


@dataclass(frozen=True, kw_only=True)
class ProjectQueueArgs:
    """Arguments of `ProjectQueue`."""

    project: ProjectConfig
    """The project (its quotas). Required."""
    namespace: str
    """The project's namespace; names both queues. Required."""
    shared_resources: tuple[str, ...]
    """Shared-GPU resources of the environment's pools (may be empty). Required."""
    settings: QueueSettings
    """The environment's queueing. Required."""
    labels: dict[str, str]
    """Labels of both queues. Required."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster. Required."""
    depends_on: tuple[pulumi.Resource, ...] = ()
    """What the LocalQueue waits for (the namespace). Default: nothing."""


class ProjectQueue(pulumi.ComponentResource):
    """The project's ClusterQueue and LocalQueue; `name` is what its jobs put in the queue-name label."""

    def __init__(self, name: str, args: ProjectQueueArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:ProjectQueue", name, None, opts)
        cluster_queue = k8s.apiextensions.CustomResource(
            f"{name}-cluster-queue", api_version=KUEUE_API, kind="ClusterQueue",
            metadata=meta(args.namespace, labels=args.labels),
            spec=cluster_queue_spec(args.namespace, args.project, args.shared_resources, args.settings),
            opts=k8s_opts(self, args.provider))
        k8s.apiextensions.CustomResource(
            f"{name}-local-queue", api_version=KUEUE_API, kind="LocalQueue",
            metadata=meta(args.namespace, args.namespace, args.labels), spec={"clusterQueue": args.namespace},
            opts=k8s_opts(self, args.provider, [cluster_queue, *args.depends_on]))
        self.name = args.namespace
        self.register_outputs({"queue": self.name})
