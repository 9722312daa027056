"""Karpenter GPU pools (`gpu.provisioner: karpenter`): every GPU NodePool is tainted, bounded by limits, and
launches through an EC2NodeClass that requires IMDSv2 with hop limit 1 — what the launch-template policies
(rules/nodes.py) and the node-group GPU policies (rules/gpu.py) demand of managed node groups.

A NodePool counts as a GPU pool when it limits `nvidia.com/gpu`, labels its nodes with a GPU type, or
restricts its instance types/families to GPU ones (catalog types, or g*/p* families).
Sources: https://karpenter.sh/docs/concepts/nodepools/ and /nodeclasses/ (v1.14; CRDs under
tests/fixtures/upstream/crds).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlops_platform.core import contract
from mlops_platform.policy.config import PolicySettings, Severity
from mlops_platform.policy.registry import Area, OnUnknown, resource_policy, stack_policy
from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.graph import Res, StackView
from mlops_platform.policy.sdk.nodepools import is_gpu_nodepool, nodepool_gpu_limit
from mlops_platform.policy.sdk.values import Defer, Violation, as_int, as_list, fmt, is_unknown

_DOCS = "https://karpenter.sh/docs/concepts"
_UNKNOWN_NOTE = "Deferred when the NodePool's template, limits or node class reference are unknown."


def _tainted(taints: Any) -> bool:
    return any(isinstance(x, dict) and x.get("key") == contract.GPU_TAINT_KEY
               and x.get("value") == contract.GPU_TAINT_VALUE and x.get("effect") == contract.GPU_TAINT_EFFECT
               for x in as_list(taints))


@resource_policy(
    name="karpenter-gpu-nodepool-tainted", area=Area.GPU, resource_types=(t.KARPENTER_NODEPOOL,),
    severity=Severity.HIGH,
    description="Karpenter GPU NodePools taint their nodes nvidia.com/gpu=true:NoSchedule, so only GPU pods land "
                "there (and Karpenter never launches a GPU node for a CPU pod).",
    remediation="Add spec.template.spec.taints: [{key: nvidia.com/gpu, value: \"true\", effect: NoSchedule}] (the "
                "platform's Karpenter pools do); GPU workloads tolerate it.",
    url=f"{_DOCS}/nodepools/#spectemplatespectaints", on_unknown=OnUnknown.DEFER, unknown_note=_UNKNOWN_NOTE,
)
def karpenter_gpu_nodepool_tainted(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    taints = res.get("spec.template.spec.taints")
    if is_unknown(taints):
        yield Defer("spec.template.spec.taints")
    elif is_gpu_nodepool(res) and not _tainted(taints):
        yield f"GPU NodePool {res.name!r} lacks the {contract.GPU_TAINT_KEY}={contract.GPU_TAINT_VALUE}:" \
              f"{contract.GPU_TAINT_EFFECT} taint: CPU pods will fill (and launch) the expensive nodes"


@resource_policy(
    name="karpenter-gpu-nodepool-limited", area=Area.GPU, resource_types=(t.KARPENTER_NODEPOOL,),
    severity=Severity.HIGH,
    description="Karpenter GPU NodePools set spec.limits[\"nvidia.com/gpu\"]: without it a pool grows until the "
                "account's quota stops it.",
    remediation="Set spec.limits: {\"nvidia.com/gpu\": <max nodes × GPUs per node>} (the platform derives it from "
                "the pool's max_size); the sum over pools stays within gpu.max_total_gpus (gpu-total-cap).",
    url=f"{_DOCS}/nodepools/#speclimits", on_unknown=OnUnknown.DEFER, unknown_note=_UNKNOWN_NOTE,
)
def karpenter_gpu_nodepool_limited(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    limit = nodepool_gpu_limit(res)
    if is_unknown(limit):
        yield Defer("spec.limits")
    elif is_gpu_nodepool(res) and limit is None:
        yield f"GPU NodePool {res.name!r} has no whole-number spec.limits[{contract.GPU_RESOURCE!r}]: nothing " \
              "bounds its GPUs"


def _imds_problems(node_class: Res) -> Iterator[str | Defer]:
    options = node_class.get("spec.metadataOptions")
    if is_unknown(options):
        yield Defer("spec.metadataOptions")
        return
    options = options if isinstance(options, dict) else {}
    tokens, hops = options.get("httpTokens"), options.get("httpPutResponseHopLimit")
    if is_unknown(tokens) or is_unknown(hops):
        yield Defer("spec.metadataOptions")
        return
    if options.get("httpEndpoint") != "disabled" and tokens != "required":
        yield f"httpTokens is {fmt(tokens)} (IMDSv1 lets any SSRF read node credentials)"
    if as_int(hops) != 1:
        yield f"httpPutResponseHopLimit is {fmt(hops)} (containers can reach node credentials)"


@stack_policy(
    name="karpenter-nodeclass-imdsv2", area=Area.NODES, resource_types=(t.KARPENTER_NODEPOOL, t.KARPENTER_NODECLASS),
    severity=Severity.HIGH,
    description="Every Karpenter NodePool references an EC2NodeClass of the stack that sets IMDSv2 (httpTokens "
                "required) with hop limit 1 explicitly.",
    remediation="Point spec.template.spec.nodeClassRef at an EC2NodeClass with spec.metadataOptions {httpTokens: "
                "required, httpPutResponseHopLimit: 1} (explicit: a defaulted field is not reviewed).",
    url=f"{_DOCS}/nodeclasses/#specmetadataoptions", on_unknown=OnUnknown.DEFER, unknown_note=_UNKNOWN_NOTE,
)
def karpenter_nodeclass_imdsv2(stack: StackView, _: PolicySettings) -> Iterator[Violation | Defer]:
    classes = {str(c.get("metadata.name")): c for c in stack.of_type(t.KARPENTER_NODECLASS)}
    for pool in stack.of_type(t.KARPENTER_NODEPOOL):
        ref = pool.get("spec.template.spec.nodeClassRef.name")
        if is_unknown(ref):
            yield Defer("spec.template.spec.nodeClassRef", pool.urn)
            continue
        node_class = classes.get(str(ref))
        if node_class is None:
            yield Violation(f"NodePool {pool.name!r} references EC2NodeClass {fmt(ref)}, which the stack does not "
                            "define: its IMDS settings cannot be reviewed", pool.urn)
            continue
        for problem in _imds_problems(node_class):
            yield Defer(problem.what, node_class.urn) if isinstance(problem, Defer) else Violation(
                f"NodePool {pool.name!r} launches through EC2NodeClass {fmt(ref)}: {problem}", node_class.urn)


@resource_policy(
    name="karpenter-nodeclass-encrypted-volumes", area=Area.NODES, resource_types=(t.KARPENTER_NODECLASS,),
    severity=Severity.HIGH,
    description="Every EBS volume an EC2NodeClass maps is encrypted, the root volume declared explicitly.",
    remediation="Declare spec.blockDeviceMappings with the root volume (rootVolume: true) and ebs {encrypted: true, "
                "volumeType: gp3, kmsKeyID: <the platform's EBS key>} instead of the AMI's and account's defaults.",
    url=f"{_DOCS}/nodeclasses/#specblockdevicemappings", on_unknown=OnUnknown.DEFER,
    unknown_note="Deferred when the block device mappings or a mapping's encrypted flag are unknown.",
)
def karpenter_nodeclass_encrypted_volumes(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    mappings = res.get("spec.blockDeviceMappings")
    if is_unknown(mappings):
        yield Defer("spec.blockDeviceMappings")
        return
    if not any(isinstance(m, dict) and m.get("rootVolume") for m in as_list(mappings)):
        yield "no blockDeviceMappings entry is the root volume: its encryption depends on the AMI and account default"
    for i, mapping in enumerate(as_list(mappings)):
        encrypted = mapping.get("ebs", {}).get("encrypted") if isinstance(mapping, dict) else None
        if is_unknown(encrypted):
            yield Defer(f"spec.blockDeviceMappings.{i}.ebs.encrypted")
        elif encrypted is not True:
            yield f"spec.blockDeviceMappings[{i}] ({fmt(mapping.get('deviceName'))}) is not encrypted"
