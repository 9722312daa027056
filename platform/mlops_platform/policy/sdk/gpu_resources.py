"""GPU extended resources as the policies see them: what a pod asks for and what a pool's nodes advertise.

A pool advertises whole GPUs (`nvidia.com/gpu`), time-sliced replicas (`nvidia.com/gpu.shared`) or MIG
instances of one profile (`nvidia.com/mig-<profile>`), never a mix (core/gpu_sharing.py). A node group says
which through the cluster-autoscaler node-template tags the platform puts on it
(`k8s.io/cluster-autoscaler/node-template/resources/<resource>`: exactly what one node advertises, the
autoscaler's own view) or, failing those, through the sharing labels the device plugin and mig-manager act
on (`nvidia.com/device-plugin.config`, `nvidia.com/mig.config=all-<profile>`). A count the view cannot know
(a time-sliced Karpenter pool: its replicas live in the device plugin's config) is None.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from mlops_platform.core.contract import GPU_TYPE_LABEL
from mlops_platform.core.gpu_sharing import (
    DEVICE_PLUGIN_CONFIG_LABEL,
    EXCLUSIVE_CONFIG,
    MIG_CONFIG_LABEL,
    MIG_PROFILES,
    TIME_SLICED_GPU,
    WHOLE_GPU,
    SharedResource,
    mig_resource,
)
from mlops_platform.policy.sdk.nodepools import gpu_quantity
from mlops_platform.policy.sdk.values import UNKNOWN, dig

MIG_PREFIX = mig_resource("")
NODE_TEMPLATE_RESOURCES = "k8s.io/cluster-autoscaler/node-template/resources/"
#: What one node of a pool advertises: resource -> units per node (None: a count the plan cannot tell).
Advertised = Mapping[str, int | None]


def is_gpu_resource(name: str) -> bool:
    """A whole GPU, a time-sliced replica or a MIG instance."""
    return name in (WHOLE_GPU, TIME_SLICED_GPU) or name.startswith(MIG_PREFIX)


def gpu_asks(container: dict[str, Any]) -> dict[str, Any] | Any:
    """GPU resources one container asks for, its limit (else its request) per resource; UNKNOWN when either
    block is unknown. Counts stay as written (a number, a quantity string, UNKNOWN)."""
    blocks = [dig(container, f"resources.{section}") for section in ("requests", "limits")]
    if any(b is UNKNOWN for b in blocks):
        return UNKNOWN
    asks: dict[str, Any] = {}
    for block in blocks:  # limits last: they win
        if isinstance(block, dict):
            asks |= {str(k): v for k, v in block.items() if is_gpu_resource(str(k))}
    return asks


def _from_tags(tags: Any) -> dict[str, int | None]:
    if not isinstance(tags, dict):
        return {}
    return {key.removeprefix(NODE_TEMPLATE_RESOURCES): gpu_quantity(value) for key, value in tags.items()
            if isinstance(key, str) and key.startswith(NODE_TEMPLATE_RESOURCES)
            and is_gpu_resource(key.removeprefix(NODE_TEMPLATE_RESOURCES))}


def _mig_per_gpu(gpu_type: Any, profile: str) -> int | None:
    """MIG instances of `profile` per GPU of the model a pool's `mlops.io/gpu-type` label names."""
    model = next((g for g in MIG_PROFILES if g.value == gpu_type), None)
    found = MIG_PROFILES[model].get(profile) if model else None
    return found.per_gpu if found else None


def _from_labels(labels: Mapping[str, Any], gpus_per_node: int | None) -> dict[str, int | None]:
    mig = labels.get(MIG_CONFIG_LABEL)
    if isinstance(mig, str) and mig.startswith("all-"):
        profile = mig.removeprefix("all-")
        per_gpu = _mig_per_gpu(labels.get(GPU_TYPE_LABEL), profile)
        count = gpus_per_node * per_gpu if gpus_per_node is not None and per_gpu else None
        return {mig_resource(profile): count}
    if labels.get(DEVICE_PLUGIN_CONFIG_LABEL) not in (None, EXCLUSIVE_CONFIG):
        return {TIME_SLICED_GPU: None}  # replicas are in the device plugin's config, not on the node
    return {WHOLE_GPU: gpus_per_node}


def node_advertises(labels: Mapping[str, Any], tags: Any, gpus_per_node: int | None) -> dict[str, int | None]:
    """What one node of a GPU pool advertises: its node-template resource tags, else its sharing labels."""
    return _from_tags(tags) or _from_labels(labels, gpus_per_node)


def slice_share(resource: str, per_node: int | None, gpus_per_node: int | None) -> SharedResource | None:
    """What one unit of a shared resource is worth, from a pool advertising `per_node` of it on nodes of
    `gpus_per_node` GPUs: a MIG instance `<g>g.` is g/7 of a GPU, a time slice 1/(per_node / GPUs). None for
    whole GPUs, or when the counts are unknown."""
    if resource.startswith(MIG_PREFIX):
        slices = resource.removeprefix(MIG_PREFIX).split("g.", 1)[0]
        if slices.isdigit():
            return SharedResource(resource, per_node // gpus_per_node if per_node and gpus_per_node else 0,
                                  Fraction(int(slices), 7))
        return None
    if resource == TIME_SLICED_GPU and per_node and gpus_per_node:
        replicas = max(per_node // gpus_per_node, 1)
        return SharedResource(resource, replicas, Fraction(1, replicas))
    return None
