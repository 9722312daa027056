"""GPU workloads and quotas against what the pools advertise: whole GPUs, time slices or MIG instances.

A pod asking for `nvidia.com/mig-1g.10gb` schedules only on a MIG pool of that profile, a time-sliced request
(`nvidia.com/gpu.shared`) only on a time-sliced pool, a whole GPU only on a pool that shares none
(core/gpu_sharing.py: a shared pool advertises no `nvidia.com/gpu`). Pools are the stack's node groups and
Karpenter NodePools, or, for a project stack, its platform environment's (setting `gpu_pools`). Quotas count
physical GPUs (`core.gpu_sharing.quota_gpu_bound`), never advertised units.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from mlops_platform.core import contract
from mlops_platform.core.gpu_sharing import MIN_REPLICAS, TIME_SLICED_GPU, WHOLE_GPU, SharedResource, quota_gpu_bound
from mlops_platform.policy.config import PolicySettings, Severity, StackKind
from mlops_platform.policy.registry import Area, OnUnknown, stack_kind, stack_policy
from mlops_platform.policy.rules.gpu import gpu_pools
from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.gpu_resources import Advertised, gpu_asks, is_gpu_resource, node_advertises, slice_share
from mlops_platform.policy.sdk.graph import Res, StackView
from mlops_platform.policy.sdk.k8s import WORKLOAD_TYPES, PodTemplate, containers, pod_templates
from mlops_platform.policy.sdk.nodepools import gpu_quantity, is_gpu_nodepool, nodepool_gpus_per_node
from mlops_platform.policy.sdk.values import UNKNOWN, Defer, Violation, as_list, dig, fmt, is_unknown

_POOLS_UNKNOWN = "gpu_pools (the platform environment's GPU pools: `mlplat policy config --platform-outputs`)"


@dataclass(frozen=True)
class PoolTarget:
    """A pool a GPU pod can land on: a node group or NodePool of this stack, or one of the platform's."""

    name: str
    labels: dict[str, Any]
    gpus_per_node: int | None  # None: a GPU family the catalog does not know
    advertises: Advertised = field(default_factory=dict)


def _group_targets(stack: StackView) -> Iterator[PoolTarget | Defer]:
    for pool in gpu_pools(stack):
        if isinstance(pool, Defer):
            yield pool
            continue
        tags = pool.res.get("tags")
        yield PoolTarget(str(pool.labels.get(contract.POOL_LABEL, pool.res.name)), pool.labels, pool.gpus_per_node,
                         node_advertises(pool.labels, None if is_unknown(tags) else tags, pool.gpus_per_node))


def _nodepool_targets(stack: StackView) -> Iterator[PoolTarget | Defer]:
    """Karpenter GPU NodePools: the labels their nodes get, the GPUs of their largest listed type."""
    for pool in stack.of_type(t.KARPENTER_NODEPOOL):
        labels = pool.get("spec.template.metadata.labels")
        if is_unknown(labels) or is_unknown(pool.get("spec.template.spec.requirements")):
            yield Defer("spec.template", pool.urn)
        elif is_gpu_nodepool(pool):
            labels = labels if isinstance(labels, dict) else {}
            gpus = nodepool_gpus_per_node(pool)
            yield PoolTarget(str(labels.get(contract.POOL_LABEL, pool.name)), labels, gpus,
                             node_advertises(labels, None, gpus))


def _setting_targets(settings: PolicySettings) -> Iterator[PoolTarget]:
    for name, ref in sorted((settings.gpu_pools or {}).items()):
        labels = {contract.POOL_LABEL: name, contract.GPU_TYPE_LABEL: ref.gpu_type}
        yield PoolTarget(name, labels, ref.gpus_per_node, dict(ref.resources or {WHOLE_GPU: ref.gpus_per_node}))


def pool_targets(stack: StackView, settings: PolicySettings) -> Iterator[PoolTarget | Defer]:
    yield from _group_targets(stack)
    yield from _nodepool_targets(stack)
    yield from _setting_targets(settings)


def known_pools(stack: StackView, settings: PolicySettings) -> tuple[list[PoolTarget], list[Defer]]:
    """The pools the plan shows, and what defers the pools it cannot yet show."""
    found = list(pool_targets(stack, settings))
    return [p for p in found if isinstance(p, PoolTarget)], [d for d in found if isinstance(d, Defer)]


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


def pod_asks(tpl: PodTemplate) -> dict[str, int]:
    """GPU resources one pod needs on a node: the sum over app containers (init containers run before them)."""
    total: dict[str, int] = {}
    for _, c in containers(tpl, init=False):
        asks = gpu_asks(c)
        for res, n in ({} if is_unknown(asks) else asks).items():
            total[res] = total.get(res, 0) + (gpu_quantity(n) or 0)
    return total


def _offers(pools: list[PoolTarget]) -> str:
    return ", ".join(f"{p.name}: {', '.join(sorted(p.advertises)) or 'nothing'}" for p in pools)


def _fit(where: str, asks: dict[str, int], matching: list[PoolTarget]) -> str | None:
    """Why no selected pool can hold the pod (None: one can)."""
    serving = [p for p in matching if set(asks) <= set(p.advertises)]
    if not serving:
        return (f"{where} asks for {', '.join(sorted(asks))} but the selected pools advertise only "
                f"{_offers(matching)}: a shared pool advertises no whole {WHOLE_GPU}, a whole-GPU pool no "
                "slices, a MIG pool only its own profile")
    if any(all(_holds(p.advertises[r], n) for r, n in asks.items()) for p in serving):
        return None
    short = {r: max(p.advertises[r] or 0 for p in serving) for r, n in asks.items()}
    return "; ".join(f"{where} needs {n} {_unit(r)} per pod but the selected pools offer at most {short[r]} per "
                     "node: the pod can never schedule" for r, n in asks.items() if short[r] < n)


def _holds(per_node: int | None, need: int) -> bool:
    """One node has room for `need` units (an unknown count is given the benefit of the doubt)."""
    return per_node is None or per_node >= need


def _unit(resource: str) -> str:
    return "GPUs" if resource == WHOLE_GPU else resource


def _pool_outcome(res: Res, tpl: PodTemplate, pools: list[PoolTarget] | None) -> Iterator[Violation | Defer]:
    """`pools` None: a project stack whose platform pools were not configured (checked once they are)."""
    selector = _selector(tpl)
    where = f"{res.name} ({tpl.path})"
    if selector is UNKNOWN:
        yield Defer(f"{tpl.path}.nodeSelector", res.urn)
    elif not selector:
        yield Violation(f"{where} selects no GPU pool: set nodeSelector {contract.POOL_LABEL} or "
                        f"{contract.GPU_TYPE_LABEL}", res.urn)
    elif pools is None:
        yield Defer(_POOLS_UNKNOWN, res.urn)
    elif not (matching := [p for p in pools if all(p.labels.get(k) == v for k, v in selector.items())]):
        yield Violation(f"{where} selects {fmt(selector)} but no GPU node pool has those labels "
                        f"(pools: {', '.join(sorted(p.name for p in pools)) or 'none'})", res.urn)
    elif problem := _fit(where, pod_asks(tpl), matching):
        yield Violation(problem, res.urn)


def _one_slice_each(res: Res, tpl: PodTemplate) -> Iterator[Violation]:
    # k8s/device_plugin.py sets `failRequestsGreaterThanOne`: the plugin refuses a container asking for more than
    # one time slice (NVIDIA k8s-device-plugin README, "Shared Access to GPUs with CUDA Time-Slicing").
    for path, c in containers(tpl):
        asks = gpu_asks(c)
        n = None if is_unknown(asks) else gpu_quantity(asks.get(TIME_SLICED_GPU))
        if n is not None and n > 1:
            yield Violation(f"{res.name} ({path}) asks for {n} {TIME_SLICED_GPU}: the device plugin refuses more "
                            "than one time slice per container (two slices of one GPU are not two GPUs)", res.urn)


def _gpu_templates(res: Res) -> Iterator[PodTemplate]:
    for tpl in pod_templates(res):
        if tpl.spec is not UNKNOWN and any(not is_unknown(a := gpu_asks(c)) and a for _, c in containers(tpl)):
            yield tpl


@stack_policy(
    name="gpu-workload-targets-pool", area=Area.GPU,
    resource_types=(t.NODE_GROUP, t.KARPENTER_NODEPOOL, *WORKLOAD_TYPES),
    severity=Severity.HIGH,
    description="GPU workloads select (mlops.io/pool or mlops.io/gpu-type) a GPU node pool that exists, advertises "
                "the GPU resource they ask for (nvidia.com/gpu on whole-GPU pools, nvidia.com/gpu.shared on "
                "time-sliced pools, nvidia.com/mig-<profile> on MIG pools of that profile) and has enough of it on "
                "one node: a node group or Karpenter NodePool of the stack, or for a project stack one of its "
                "platform environment's pools (setting gpu_pools). A container asks for at most one time slice.",
    remediation="Set nodeSelector to an existing pool (`mlops.io/pool: <pool>` from the platform stack's "
                "node_pools.gpu, listed in its `gpu_pools` output with the resources it advertises) that offers "
                "the resource the pod asks for and at least the pod's count of it per node, or add such a pool.",
    url="https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/", on_unknown=OnUnknown.DEFER,
    settings=("stack_kind", "gpu_pools"),
    unknown_note="Deferred when a GPU pod's nodeSelector or a node group's instance types/labels are unknown, "
                 "and for a project stack whose platform pools (gpu_pools) are not configured.",
)
def gpu_workload_targets_pool(stack: StackView, settings: PolicySettings) -> Iterator[Violation | Defer]:
    pools, deferred = known_pools(stack, settings)
    yield from deferred
    unknown = not pools and settings.gpu_pools is None and stack_kind(stack, settings) is StackKind.PROJECT
    for res in stack.of_type(*WORKLOAD_TYPES):
        for tpl in _gpu_templates(res):
            yield from _one_slice_each(res, tpl)
            yield from _pool_outcome(res, tpl, None if unknown else pools)


# --- quotas ----------------------------------------------------------------------------------------

QUOTA_PREFIX = "requests."


def slice_shares(pools: list[PoolTarget], resources: set[str]) -> dict[str, SharedResource]:
    """What one unit of each shared resource can be worth: the largest share among the pools advertising it;
    without one, the most it can be anywhere (a MIG instance by its profile, a time slice 1/MIN_REPLICAS)."""
    shares: dict[str, SharedResource] = {}
    for res in sorted(resources - {WHOLE_GPU}):
        found = [s for p in pools if res in p.advertises
                 and (s := slice_share(res, p.advertises[res], p.gpus_per_node)) is not None]
        fallback = slice_share(res, None, None) or SharedResource(res, MIN_REPLICAS, Fraction(1, MIN_REPLICAS))
        shares[res] = max(found or [fallback], key=lambda s: s.gpu_fraction)
    return shares


def quota_gpus(hard: Mapping[str, Any]) -> dict[str, int]:
    """`requests.<gpu resource>` entries of a ResourceQuota's `spec.hard`, by resource."""
    return {k.removeprefix(QUOTA_PREFIX): gpu_quantity(v) or 0 for k, v in hard.items()
            if k.startswith(QUOTA_PREFIX) and is_gpu_resource(k.removeprefix(QUOTA_PREFIX))}


def _quota_outcome(quota: Res, pools: list[PoolTarget], cap: int) -> Iterator[Violation | Defer]:
    hard = quota.get("spec.hard")
    if is_unknown(hard) or (isinstance(hard, dict) and any(is_unknown(v) for v in hard.values())):
        yield Defer("spec.hard", quota.urn)
        return
    asks = quota_gpus(hard if isinstance(hard, dict) else {})
    slices = {r: n for r, n in asks.items() if r != WHOLE_GPU}
    bound = quota_gpu_bound(asks.get(WHOLE_GPU, 0), slices, slice_shares(pools, set(slices)))
    if bound > cap:
        parts = ", ".join(f"{n} {r}" for r, n in sorted(asks.items()))
        yield Violation(f"ResourceQuota {quota.name!r} ({parts}) lets its namespace hold {float(bound):g} physical "
                        f"GPUs, over the cap of {cap}", quota.urn)


@stack_policy(
    name="gpu-quota-within-cap", area=Area.GPU,
    resource_types=(t.NODE_GROUP, t.KARPENTER_NODEPOOL, t.K8S_RESOURCE_QUOTA), severity=Severity.MEDIUM,
    description="No namespace's ResourceQuota lets it hold more physical GPUs than the environment's cap: whole "
                "GPUs plus every slice at the largest share of a GPU it can be (a time slice 1/replicas of its "
                "pool, at most 1/2; a MIG instance its compute slices / 7), never the advertised count.",
    remediation="Lower the project's gpu_quota / gpu_slices (or the borrowing limit that raises its quota) or raise "
                "`gpu.max_total_gpus` after checking the account's G/P vCPU quotas.",
    url="https://kubernetes.io/docs/concepts/policy/resource-quotas/#resource-quota-for-extended-resources",
    settings=("max_total_gpus", "gpu_pools"), on_unknown=OnUnknown.DEFER,
    unknown_note="Deferred when a quota's spec.hard or a pool's instance types are unknown.",
)
def gpu_quota_within_cap(stack: StackView, settings: PolicySettings) -> Iterator[Violation | Defer]:
    if settings.max_total_gpus is None:
        return
    pools, deferred = known_pools(stack, settings)
    yield from deferred
    for quota in stack.of_type(t.K8S_RESOURCE_QUOTA):
        yield from _quota_outcome(quota, pools, settings.max_total_gpus)
