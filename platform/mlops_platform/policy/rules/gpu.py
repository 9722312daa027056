"""GPU governance over the whole graph: tainted GPU pools, matching AMIs, a GPU cap, and GPU workloads that
set limits and tolerate the taint (which pool they fit on: rules/gpu_fit.py).

GPU counts come from the shared instance catalog (`mlops_platform.core.instances`); a GPU-looking instance type
the catalog does not know is reported rather than guessed. The cap counts physical GPUs (instances' GPUs), so a
shared pool advertising 4 time slices per GPU still counts each GPU once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mlops_platform.core import contract, instances
from mlops_platform.policy.config import PolicySettings, Severity
from mlops_platform.policy.registry import Area, OnUnknown, resource_policy, stack_policy
from mlops_platform.policy.rules.k8s import container_check, label
from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.gpu_resources import gpu_asks, is_gpu_resource
from mlops_platform.policy.sdk.graph import Res, StackView
from mlops_platform.policy.sdk.k8s import WORKLOAD_TYPES, PodTemplate, containers, pod_templates
from mlops_platform.policy.sdk.nodepools import (
    gpus_of_type,
    is_gpu_instance_type,
    nodepool_gpu_limit,
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
    """Containers asking for a whole GPU or a slice of a shared one (nvidia.com/gpu.shared, nvidia.com/mig-<profile>):
    all land on the same tainted pools (core/gpu_sharing.py)."""
    found = [] if tpl.spec is UNKNOWN else containers(tpl)
    return [c for _, c in found if not is_unknown(asks := gpu_asks(c)) and asks]


def _section(c: dict[str, Any], section: str) -> dict[str, Any] | Any:
    block = dig(c, f"resources.{section}")
    if is_unknown(block):
        return block
    return {str(k): v for k, v in block.items() if is_gpu_resource(str(k))} if isinstance(block, dict) else {}


def _limits(tpl: PodTemplate, path: str, c: dict[str, Any], _: PolicySettings) -> Iterator[str | Defer]:
    requests, limits = _section(c, "requests"), _section(c, "limits")
    if is_unknown(requests) or is_unknown(limits):
        yield Defer(f"{path}.resources")
        return
    for res, request in sorted(requests.items()):
        limit = limits.get(res)
        if is_unknown(request) or is_unknown(limit):
            yield Defer(f"{path}.resources")
        elif limit is None:
            yield f"{label(path, c)} requests {res} without a limit"
        elif str(request) != str(limit) and as_int(request) != as_int(limit):
            yield f"{label(path, c)} requests {fmt(request)} but limits {fmt(limit)} {res}"


resource_policy(
    name="gpu-workload-limits", area=Area.GPU, resource_types=WORKLOAD_TYPES, severity=Severity.HIGH,
    description="Containers asking for a GPU resource (nvidia.com/gpu, nvidia.com/gpu.shared, "
                "nvidia.com/mig-<profile>) set it as a limit (requests equal to limits).",
    remediation="Set resources.limits[\"<resource>\"] equal to the request (extended resources cannot be "
                "overcommitted; a request without a limit is rejected or mis-scheduled).",
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
        if not _gpu_containers(tpl):
            continue
        tolerations = tpl.spec.get("tolerations")
        if is_unknown(tolerations):
            yield Defer(f"{tpl.path}.tolerations")
        elif not tolerates_gpu_taint(tolerations):
            yield f"{tpl.path} runs GPU containers but does not tolerate {contract.GPU_TAINT_KEY}:NoSchedule"
