"""GPU node pools as the policies see them: instance types (catalog or GPU family) and Karpenter NodePools
(`kubernetes:karpenter.sh/v1:NodePool`: GPU by its limits, labels or instance requirements).

GPU counts come from the shared instance catalog (`mlops_platform.core.instances`); a GPU-looking instance type
the catalog does not know counts as GPU with an unknown count (None) rather than a guess.
"""

from __future__ import annotations

import re
from typing import Any

from mlops_platform.core import contract, instances
from mlops_platform.policy.sdk.graph import Res
from mlops_platform.policy.sdk.values import as_int, as_list, is_unknown

_GPU_FAMILY = re.compile(r"^(g\d|p\d|gr\d)")
#: NodePool requirement keys that name instance types or families (karpenter.sh/v1 well-known labels).
_TYPE_KEY, _FAMILY_KEY = "node.kubernetes.io/instance-type", "karpenter.k8s.aws/instance-family"


def is_gpu_instance_type(name: str) -> bool:
    """A catalog GPU type, or an instance type of a GPU family the catalog does not know."""
    entry = instances.lookup(name)
    return entry.gpus > 0 if entry else bool(_GPU_FAMILY.match(name))


def gpus_of_type(name: str) -> int | None:
    """GPUs of an instance type: 0 for CPU types, None for a GPU type the catalog does not know."""
    entry = instances.lookup(name)
    return entry.gpus if entry else (None if is_gpu_instance_type(name) else 0)


def _requirement(res: Res, key: str) -> list[str]:
    reqs = res.get("spec.template.spec.requirements")
    return [str(v) for r in as_list(reqs) if isinstance(r, dict) and r.get("key") == key
            and r.get("operator") == "In" for v in as_list(r.get("values"))]


def is_gpu_nodepool(res: Res) -> bool:
    limits = res.get("spec.limits")
    labels = res.get("spec.template.metadata.labels")
    families = [f"{f}.xlarge" for f in _requirement(res, _FAMILY_KEY)]
    return ((isinstance(limits, dict) and contract.GPU_RESOURCE in limits)
            or (isinstance(labels, dict) and contract.GPU_TYPE_LABEL in labels)
            or any(is_gpu_instance_type(n) for n in [*_requirement(res, _TYPE_KEY), *families]))


def nodepool_gpus_per_node(res: Res) -> int | None:
    """GPUs of the NodePool's largest listed instance type (None when it lists none, or one the catalog lacks)."""
    counts = [gpus_of_type(n) for n in _requirement(res, _TYPE_KEY)]
    return None if not counts or any(c is None for c in counts) else max(c or 0 for c in counts)


def gpu_quantity(value: Any) -> int | None:
    """A GPU count as a Kubernetes quantity: a number or a string of digits ("8"); anything else is None."""
    if isinstance(value, str):
        return int(value) if value.strip().isdigit() else None
    return as_int(value)


def nodepool_gpu_limit(res: Res) -> int | Any | None:
    """The NodePool's `limits["nvidia.com/gpu"]` as an int (None when absent or not a count; UNKNOWN passes)."""
    limits = res.get("spec.limits")
    if is_unknown(limits):
        return limits
    value = limits.get(contract.GPU_RESOURCE) if isinstance(limits, dict) else None
    return value if is_unknown(value) else gpu_quantity(value)
