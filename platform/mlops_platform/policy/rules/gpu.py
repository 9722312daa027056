"""GPU governance over the whole graph: tainted GPU pools, matching AMIs, a GPU cap, and GPU workloads that
set limits, tolerate the taint and select a pool that exists and is big enough for them.

GPU counts come from the shared instance catalog (`mlops_platform.core.instances`); a GPU-looking instance type
the catalog does not know is reported rather than guessed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mlops_platform.core import contract, instances
from mlops_platform.policy.config import PolicySettings, Severity, StackKind
from mlops_platform.policy.registry import Area, OnUnknown, resource_policy, stack_kind, stack_policy
from mlops_platform.policy.rules.k8s import container_check, label
from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.graph import Res, StackView
from mlops_platform.policy.sdk.k8s import WORKLOAD_TYPES, PodTemplate, containers, gpu_count, pod_templates
from mlops_platform.policy.sdk.nodepools import (
    gpus_of_type,
    is_gpu_instance_type,
    is_gpu_nodepool,
    nodepool_gpu_limit,
    nodepool_gpus_per_node,
)
from mlops_platform.policy.sdk.values import UNKNOWN, Defer, Violation, as_int, as_list, dig, fmt, is_unknown

_EKS_AMI_DOCS = "https://docs.aws.amazon.com/eks/latest/userguide/ml-eks-optimized-ami.html"
_SCHED_DOCS = "https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/"
_POOL_NOTE = "Deferred when instanceTypes, taints, amiType or scaling sizes are unknown."


@dataclass(frozen=True)
class Pool:
    """A node group as GPU governance sees it."""

    res: Res
    instance_types: list[str]
    gpus_per_node: int | None  # None: a GPU family the catalog does not know
    is_gpu: bool

    @property
    def labels(self) -> dict[str, Any]:
        labels = self.res.get("labels")
        return labels if isinstance(labels, dict) else {}


def node_pools(stack: StackView) -> Iterator[Pool | Defer]:
    for group in stack.of_type(t.NODE_GROUP):
        types = group.get("instanceTypes")
        if is_unknown(types) or any(is_unknown(x) for x in as_list(types)):
            yield Defer("instanceTypes", group.urn)
            continue
        names = [str(x) for x in as_list(types)] or ["t3.medium (EKS default)"]
        counts = [gpus_of_type(n) for n in names]
        is_gpu = any(is_gpu_instance_type(n) for n in names)
        per_node = None if any(c is None for c in counts) else max(c or 0 for c in counts)
        yield Pool(group, names, per_node, is_gpu)


def gpu_pools(stack: StackView) -> Iterator[Pool | Defer]:
    yield from (p for p in node_pools(stack) if isinstance(p, Defer) or p.is_gpu)


def _tainted(taints: Any) -> bool:
    return any(isinstance(x, dict) and x.get("key") == contract.GPU_TAINT_KEY
               and x.get("value") == contract.GPU_TAINT_VALUE and x.get("effect") == "NO_SCHEDULE"
               for x in as_list(taints))


@stack_policy(
    name="gpu-nodegroup-tainted", area=Area.GPU, resource_types=(t.NODE_GROUP,), severity=Severity.HIGH,
    description="GPU node groups carry the nvidia.com/gpu=true:NoSchedule taint, so only GPU pods land there.",
    remediation="Add taints=[{key: \"nvidia.com/gpu\", value: \"true\", effect: \"NO_SCHEDULE\"}] to the node "
                "group (the platform's GPU pools do); GPU workloads tolerate it.",
    url=_SCHED_DOCS, on_unknown=OnUnknown.DEFER, unknown_note=_POOL_NOTE,
)
def gpu_nodegroup_tainted(stack: StackView, _: PolicySettings) -> Iterator[Violation | Defer]:
    for pool in gpu_pools(stack):
        if isinstance(pool, Defer):
            yield pool
            continue
        taints = pool.res.get("taints")
        if is_unknown(taints):
            yield Defer("taints", pool.res.urn)
        elif not _tainted(taints):
            yield Violation(f"GPU node group {pool.res.name!r} ({', '.join(pool.instance_types)}) lacks the "
                            f"{contract.GPU_TAINT_KEY}={contract.GPU_TAINT_VALUE}:NoSchedule taint: CPU pods will "
                            "fill the expensive nodes", pool.res.urn)


def _ami_problem(pool: Pool, ami: Any) -> str | None:
    arches = {e.arch for e in (instances.lookup(n) for n in pool.instance_types) if e is not None}
    if ami == "CUSTOM":
        return None  # the launch template's image is reviewed where it is built
    if pool.is_gpu:
        if ami not in instances.GPU_AMI_ARCH:
            return f"GPU instances {pool.instance_types} with amiType {fmt(ami)}: no NVIDIA driver on the nodes"
        if arches and instances.GPU_AMI_ARCH[ami] not in arches:
            return f"amiType {ami} is {instances.GPU_AMI_ARCH[ami]} but the instances are {sorted(arches)}"
        return None
    if ami in instances.GPU_AMI_ARCH:
        return f"CPU instances {pool.instance_types} with the GPU AMI {ami}"
    arch = instances.CPU_AMI_ARCH.get(str(ami)) if ami else instances.Arch.X86_64
    if arch and arches and arch not in arches:
        return f"amiType {fmt(ami)} is {arch} but the instances are {sorted(arches)}"
    return None


@stack_policy(
    name="gpu-ami-matches-instance", area=Area.GPU, resource_types=(t.NODE_GROUP,), severity=Severity.HIGH,
    description="Node group AMI types match their instances: NVIDIA AMIs on GPU families, the right CPU "
                "architecture everywhere.",
    remediation="Use AL2023_x86_64_NVIDIA (or BOTTLEROCKET_*_NVIDIA, ARM_64 for Graviton GPUs) on GPU instance "
                "families and a STANDARD AMI of the instances' architecture on CPU pools.",
    url=_EKS_AMI_DOCS, on_unknown=OnUnknown.DEFER, unknown_note=_POOL_NOTE,
)
def gpu_ami_matches_instance(stack: StackView, _: PolicySettings) -> Iterator[Violation | Defer]:
    for pool in node_pools(stack):
        if isinstance(pool, Defer):
            yield pool
            continue
        ami = pool.res.get("amiType")
        problem = None if is_unknown(ami) else _ami_problem(pool, ami)
        if is_unknown(ami):
            yield Defer("amiType", pool.res.urn)
        elif problem:
            yield Violation(f"node group {pool.res.name!r}: {problem}", pool.res.urn)


@stack_policy(
    name="gpu-total-cap", area=Area.GPU, resource_types=(t.NODE_GROUP, t.KARPENTER_NODEPOOL), severity=Severity.HIGH,
    description="The environment's GPU ceiling — sum over GPU node groups of max size × GPUs per node, plus the "
                "nvidia.com/gpu limits of Karpenter NodePools — stays within the configured cap.",
    remediation="Lower max_size of GPU pools or raise `gpu.max_total_gpus` in the stack after checking the "
                "account's G/P vCPU quotas and the budget.",
    url="https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html", settings=("max_total_gpus",),
    on_unknown=OnUnknown.DEFER, unknown_note=_POOL_NOTE,
)
def gpu_total_cap(stack: StackView, settings: PolicySettings) -> Iterator[Violation | Defer]:
    if settings.max_total_gpus is None:
        return
    total, parts = 0, []
    for item in [*_group_gpus(stack), *_nodepool_gpus(stack)]:
        if isinstance(item, Defer | Violation):
            yield item
        else:
            total += item[1]
            parts.append(item[0])
    if total > settings.max_total_gpus:
        yield Violation(f"GPU pools can scale to {total} GPUs ({', '.join(parts)}), over the cap of "
                        f"{settings.max_total_gpus}")


def _group_gpus(stack: StackView) -> Iterator[tuple[str, int] | Violation | Defer]:
    for pool in gpu_pools(stack):
        if isinstance(pool, Defer):
            yield pool
            continue
        size = pool.res.get("scalingConfig.maxSize")
        if is_unknown(size):
            yield Defer("scalingConfig.maxSize", pool.res.urn)
        elif pool.gpus_per_node is None:
            yield Violation(f"node group {pool.res.name!r}: instance types {pool.instance_types} are not in the "
                            "catalog, so its GPUs cannot be counted", pool.res.urn)
        else:
            yield f"{pool.res.name}={as_int(size) or 0}x{pool.gpus_per_node}", (as_int(size) or 0) * pool.gpus_per_node


def _nodepool_gpus(stack: StackView) -> Iterator[tuple[str, int] | Defer]:
    """Karpenter NodePools count their GPU limit (an unlimited one is karpenter-gpu-nodepool-limited's finding)."""
    for pool in stack.of_type(t.KARPENTER_NODEPOOL):
        limit = nodepool_gpu_limit(pool)
        if is_unknown(limit):
            yield Defer("spec.limits", pool.urn)
        elif limit is not None:
            yield f"{pool.name}<={limit}", limit


def _gpu_containers(tpl: PodTemplate) -> list[dict[str, Any]]:
    found = [] if tpl.spec is UNKNOWN else containers(tpl)
    return [c for _, c in found if any(v is not None and not is_unknown(v)
                                       for v in (gpu_count(c, "limits"), gpu_count(c, "requests")))]


def _shared_gpu_containers(tpl: PodTemplate) -> list[dict[str, Any]]:
    """Containers asking for a slice of a shared GPU (nvidia.com/gpu.shared, nvidia.com/mig-<profile>): they
    land on the same tainted pools (core/gpu_sharing.py)."""
    found = [] if tpl.spec is UNKNOWN else containers(tpl)
    return [c for _, c in found
            if any(isinstance(block := dig(c, f"resources.{section}"), dict)
                   and any(str(k).startswith(("nvidia.com/gpu.", "nvidia.com/mig-")) for k in block)
                   for section in ("limits", "requests"))]


def _limits(tpl: PodTemplate, path: str, c: dict[str, Any], _: PolicySettings) -> Iterator[str | Defer]:
    limit, request = gpu_count(c, "limits"), gpu_count(c, "requests")
    if is_unknown(limit) or is_unknown(request):
        yield Defer(f"{path}.resources")
    elif request is not None and limit is None:
        yield f"{label(path, c)} requests {contract.GPU_RESOURCE} without a limit"
    elif request is not None and str(request) != str(limit) and as_int(request) != as_int(limit):
        yield f"{label(path, c)} requests {fmt(request)} but limits {fmt(limit)} {contract.GPU_RESOURCE}"


resource_policy(
    name="gpu-workload-limits", area=Area.GPU, resource_types=WORKLOAD_TYPES, severity=Severity.HIGH,
    description="Containers asking for nvidia.com/gpu set it as a limit (requests equal to limits).",
    remediation="Set resources.limits[\"nvidia.com/gpu\"] (extended resources cannot be overcommitted; a request "
                "without a limit is rejected or mis-scheduled).",
    url="https://kubernetes.io/docs/tasks/manage-gpus/scheduling-gpus/", on_unknown=OnUnknown.DEFER,
    unknown_note="Deferred when a GPU container's resources are unknown.",
)(container_check(_limits))


def tolerates_gpu_taint(tolerations: Any) -> bool:
    for tol in as_list(tolerations):
        if not isinstance(tol, dict) or tol.get("effect") not in (None, "", contract.GPU_TAINT_EFFECT):
            continue
        op, key = tol.get("operator", "Equal"), tol.get("key")
        if op == "Exists" and key in (None, "", contract.GPU_TAINT_KEY):
            return True
        if key == contract.GPU_TAINT_KEY and tol.get("value") == contract.GPU_TAINT_VALUE:
            return True
    return False


@resource_policy(
    name="gpu-workload-tolerates-taint", area=Area.GPU, resource_types=WORKLOAD_TYPES, severity=Severity.HIGH,
    description="Pods with GPU containers (whole GPUs or shared slices) tolerate the GPU taint (otherwise they "
                "stay Pending forever).",
    remediation="Add tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}] to the pod spec.",
    url=_SCHED_DOCS, on_unknown=OnUnknown.DEFER, unknown_note="Deferred when tolerations are unknown.",
)
def gpu_workload_tolerates_taint(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    for tpl in pod_templates(res):
        if not (_gpu_containers(tpl) or _shared_gpu_containers(tpl)):
            continue
        tolerations = tpl.spec.get("tolerations")
        if is_unknown(tolerations):
            yield Defer(f"{tpl.path}.tolerations")
        elif not tolerates_gpu_taint(tolerations):
            yield f"{tpl.path} runs GPU containers but does not tolerate {contract.GPU_TAINT_KEY}:NoSchedule"


def _selector(tpl: PodTemplate) -> dict[str, Any] | Any:
    """Pool-selecting labels: nodeSelector plus single-value required nodeAffinity terms."""
    given = tpl.spec.get("nodeSelector")
    if is_unknown(given):
        return UNKNOWN
    selector = dict(given or {})
    terms = dig(tpl.spec, "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms")
    for term in as_list(terms)[:1]:
        for expr in as_list(dig(term, "matchExpressions")):
            if isinstance(expr, dict) and expr.get("operator") == "In" and len(as_list(expr.get("values"))) == 1:
                selector.setdefault(expr.get("key"), as_list(expr.get("values"))[0])
    return {k: v for k, v in selector.items() if k in (contract.POOL_LABEL, contract.GPU_TYPE_LABEL)}


def pod_gpus(tpl: PodTemplate) -> int:
    """GPUs one pod needs on a node: the sum over app containers (init containers run before them)."""
    return sum(as_int(gpu_count(c, "limits")) or as_int(gpu_count(c, "requests")) or 0
               for c in _gpu_containers(tpl))


@dataclass(frozen=True)
class PoolTarget:
    """A pool a GPU pod can land on: a node group of this stack, or one of the platform's (`gpu_pools`)."""

    name: str
    labels: dict[str, Any]
    gpus_per_node: int | None  # None: a GPU family the catalog does not know


def _pool_targets(stack: StackView, settings: PolicySettings) -> Iterator[PoolTarget | Defer]:
    for pool in gpu_pools(stack):
        if isinstance(pool, Defer):
            yield pool
        else:
            yield PoolTarget(str(pool.labels.get(contract.POOL_LABEL, pool.res.name)), pool.labels,
                             pool.gpus_per_node)
    yield from _nodepool_targets(stack)
    for name, ref in sorted((settings.gpu_pools or {}).items()):
        yield PoolTarget(name, {contract.POOL_LABEL: name, contract.GPU_TYPE_LABEL: ref.gpu_type}, ref.gpus_per_node)


def _nodepool_targets(stack: StackView) -> Iterator[PoolTarget | Defer]:
    """Karpenter GPU NodePools: the labels their nodes get, the GPUs of their largest listed type."""
    for pool in stack.of_type(t.KARPENTER_NODEPOOL):
        labels = pool.get("spec.template.metadata.labels")
        if is_unknown(labels) or is_unknown(pool.get("spec.template.spec.requirements")):
            yield Defer("spec.template", pool.urn)
        elif is_gpu_nodepool(pool):
            labels = labels if isinstance(labels, dict) else {}
            yield PoolTarget(str(labels.get(contract.POOL_LABEL, pool.name)), labels, nodepool_gpus_per_node(pool))


_POOLS_UNKNOWN = "gpu_pools (the platform environment's GPU pools: `mlplat policy config --platform-outputs`)"


def _pool_outcome(res: Res, tpl: PodTemplate, pools: list[PoolTarget] | None) -> Iterator[Violation | Defer]:
    """`pools` None: a project stack whose platform pools were not configured (checked once they are)."""
    selector = _selector(tpl)
    if selector is UNKNOWN:
        yield Defer(f"{tpl.path}.nodeSelector", res.urn)
        return
    where = f"{res.name} ({tpl.path})"
    if not selector:
        yield Violation(f"{where} selects no GPU pool: set nodeSelector {contract.POOL_LABEL} or "
                        f"{contract.GPU_TYPE_LABEL}", res.urn)
        return
    if pools is None:
        yield Defer(_POOLS_UNKNOWN, res.urn)
        return
    matching = [p for p in pools if all(p.labels.get(k) == v for k, v in selector.items())]
    need = pod_gpus(tpl)
    if not matching:
        names = sorted(p.name for p in pools)
        yield Violation(f"{where} selects {fmt(selector)} but no GPU node pool has those labels "
                        f"(pools: {', '.join(names) or 'none'})", res.urn)
    elif not any(p.gpus_per_node is None or p.gpus_per_node >= need for p in matching):
        biggest = max(p.gpus_per_node or 0 for p in matching)
        yield Violation(f"{where} needs {need} GPUs per pod but the selected pools offer at most {biggest} "
                        "per node: the pod can never schedule", res.urn)


@stack_policy(
    name="gpu-workload-targets-pool", area=Area.GPU,
    resource_types=(t.NODE_GROUP, t.KARPENTER_NODEPOOL, *WORKLOAD_TYPES),
    severity=Severity.HIGH,
    description="GPU workloads select (mlops.io/pool or mlops.io/gpu-type) a GPU node pool that exists and whose "
                "instances have enough GPUs for one pod: a node group or Karpenter NodePool of the stack, or for a "
                "project stack one "
                "of its platform environment's pools (setting gpu_pools).",
    remediation="Set nodeSelector to an existing pool (`mlops.io/pool: <pool>` from the platform stack's "
                "node_pools.gpu, listed in its `gpu_pools` output) whose instance type has at least the pod's "
                "GPU limit, or add such a pool.",
    url="https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/", on_unknown=OnUnknown.DEFER,
    settings=("stack_kind", "gpu_pools"),
    unknown_note="Deferred when a GPU pod's nodeSelector or a node group's instance types/labels are unknown, "
                 "and for a project stack whose platform pools (gpu_pools) are not configured.",
)
def gpu_workload_targets_pool(stack: StackView, settings: PolicySettings) -> Iterator[Violation | Defer]:
    pools: list[PoolTarget] = []
    for pool in _pool_targets(stack, settings):
        if isinstance(pool, Defer):
            yield pool
        else:
            pools.append(pool)
    unknown = not pools and settings.gpu_pools is None and stack_kind(stack, settings) is StackKind.PROJECT
    for res in stack.of_type(*WORKLOAD_TYPES):
        for tpl in pod_templates(res):
            if tpl.spec is not UNKNOWN and _gpu_containers(tpl):
                yield from _pool_outcome(res, tpl, None if unknown else pools)

