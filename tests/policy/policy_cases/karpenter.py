"""Fixtures of the policies in `mlops_platform.policy.rules.karpenter`: the reference stack plus a Karpenter GPU
pool exactly as the platform renders it (k8s/karpenter.py), then broken one field at a time."""

from __future__ import annotations

from typing import Any

from mlops_platform.config.sections import GpuPoolConfig
from mlops_platform.k8s.karpenter import NodeClassInputs, node_class, node_pool
from policy_plans import DROP, KEY_ARN, TAGS, Add, Patch, U, res, urn

from policy_cases._base import DEFERRED, Case, fail, ok

T_NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
T_NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
on_np, on_nc = urn(T_NODEPOOL, "karpenter-l4-nodepool"), urn(T_NODECLASS, "karpenter-l4-nodeclass")
POOL = GpuPoolConfig(name="l4", instance_types=["g6.xlarge", "g6.2xlarge"], capacity="spot", max_size=4)
TAINTS = "spec.template.spec.taints"
LIMIT = ("spec", "limits", "nvidia.com/gpu")


def _inputs(manifest: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": manifest["apiVersion"], "kind": manifest["kind"],
            "metadata": {"name": manifest["metadata"]["name"]}, "spec": manifest["spec"]}


def karpenter_pool(pool: GpuPoolConfig = POOL) -> tuple[Add, Add]:
    """The NodePool and EC2NodeClass the platform creates for `pool`."""
    cls = node_class(pool, NodeClassInputs(cluster_name="test", k8s_version="1.35", node_role="test-karpenter-node",
                                           volume_key_arn=KEY_ARN, tags=TAGS))
    return (Add(res(T_NODEPOOL, "karpenter-l4-nodepool", _inputs(node_pool(pool, "l4")))),
            Add(res(T_NODECLASS, "karpenter-l4-nodeclass", _inputs(cls))))


def np(path: str | tuple[str, ...], value: Any) -> Patch:
    return Patch("karpenter-l4-nodepool", path, value)


def nc(path: str, value: Any) -> Patch:
    return Patch("karpenter-l4-nodeclass", path, value)


CASES: dict[str, Case] = {
    "karpenter-gpu-nodepool-tainted": Case(
        passing=(ok(), ok(*karpenter_pool()),
                 # a CPU pool (no GPU types, labels or limits) needs no GPU taint
                 ok(*karpenter_pool(), np("spec.template.spec.requirements.1.values", ["m6i.xlarge"]),
                    np("spec.template.spec.requirements.0.values", ["m6i"]), np(LIMIT, DROP),
                    np("spec.template.metadata.labels", {"mlops.io/pool": "cpu"}), np(TAINTS, DROP))),
        failing=(fail(on_np, *karpenter_pool(), np(TAINTS, DROP)),
                 fail(on_np, *karpenter_pool(), np(f"{TAINTS}.0.effect", "PreferNoSchedule")),
                 # GPU by its instance family alone
                 fail(on_np, *karpenter_pool(), np(TAINTS, []), np(LIMIT, DROP),
                      np("spec.template.metadata.labels", {}), np("spec.template.spec.requirements.1.values", []))),
        unknown=((*karpenter_pool(), np(TAINTS, U)), DEFERRED)),
    "karpenter-gpu-nodepool-limited": Case(
        passing=(ok(), ok(*karpenter_pool())),
        failing=(fail(on_np, *karpenter_pool(), np("spec.limits", DROP)),
                 fail(on_np, *karpenter_pool(), np(LIMIT, DROP)),
                 fail(on_np, *karpenter_pool(), np(LIMIT, "lots"))),
        unknown=((*karpenter_pool(), np("spec.limits", U)), DEFERRED)),
    "karpenter-nodeclass-imdsv2": Case(
        passing=(ok(), ok(*karpenter_pool())),
        failing=(fail(on_nc, *karpenter_pool(), nc("spec.metadataOptions.httpTokens", "optional")),
                 fail(on_nc, *karpenter_pool(), nc("spec.metadataOptions.httpPutResponseHopLimit", 2)),
                 fail(on_nc, *karpenter_pool(), nc("spec.metadataOptions", DROP)),  # defaults are not reviewed
                 fail(on_np, *karpenter_pool(), np("spec.template.spec.nodeClassRef.name", "elsewhere"))),
        unknown=((*karpenter_pool(), nc("spec.metadataOptions", U)), DEFERRED)),
    "karpenter-nodeclass-encrypted-volumes": Case(
        passing=(ok(), ok(*karpenter_pool())),
        failing=(fail(on_nc, *karpenter_pool(), nc("spec.blockDeviceMappings.0.ebs.encrypted", False)),
                 fail(on_nc, *karpenter_pool(), nc("spec.blockDeviceMappings", DROP)),
                 fail(on_nc, *karpenter_pool(), nc("spec.blockDeviceMappings.0.rootVolume", False))),
        unknown=((*karpenter_pool(), nc("spec.blockDeviceMappings.0.ebs.encrypted", U)), DEFERRED)),
}
