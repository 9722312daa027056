"""Karpenter as the GPU provisioner (`gpu.provisioner: karpenter`): the controller's Helm release on the system
node group, and per GPU pool an `EC2NodeClass` and a `NodePool`.

The manifests are plain functions (`node_class`, `node_pool`), validated against the CRD schemas of the pinned
release (tests/fixtures/upstream/crds/karpenter.sh, karpenter.k8s.aws at v1.14.1). Every GPU node carries what a
managed GPU node group's nodes carry (aws/nodepools.py): the `nvidia.com/gpu=true:NoSchedule` taint, the pool
and GPU-type labels, IMDSv2 with hop limit 1 and a root volume encrypted with the platform's EBS key.
Sources: https://karpenter.sh/docs/concepts/nodepools/ and /nodeclasses/ (v1.14).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.config.gpu_provisioning import (
    capacity_types,
    gpu_node_labels,
    instance_families,
    resource_limits,
)
from mlops_platform.config.sections import GpuPoolConfig
from mlops_platform.core import contract
from mlops_platform.core.iam_karpenter import KARPENTER_NAMESPACE, KARPENTER_SERVICE_ACCOUNT
from mlops_platform.core.versions import BOTTLEROCKET_AMI_PREFIX, karpenter_ami_alias
from mlops_platform.k8s._helm import helm_release
from mlops_platform.k8s.manifests import Manifest, meta
from mlops_platform.k8s.provider import k8s_opts

NODEPOOL_API = "karpenter.sh/v1"
NODECLASS_API = "karpenter.k8s.aws/v1"
#: The AL2023 root device (the managed node groups' launch template maps it too), and Bottlerocket's OS device.
ROOT_DEVICE = "/dev/xvda"
#: Bottlerocket's data volume (containerd, kubelet, ephemeral storage): Karpenter's Bottlerocket family maps
#: /dev/xvda with 4Gi for the OS and uses /dev/xvdb as its ephemeral block device
#: (karpenter-provider-aws pkg/providers/amifamily/bottlerocket.go DefaultBlockDeviceMappings, EphemeralBlockDevice).
BOTTLEROCKET_DATA_DEVICE = "/dev/xvdb"
BOTTLEROCKET_OS_VOLUME = "4Gi"


@dataclass(frozen=True, kw_only=True)
class NodeClassInputs:
    """What every EC2NodeClass of the cluster shares."""

    cluster_name: str
    """Value of the `karpenter.sh/discovery` tag on the subnets and security group. Required."""
    k8s_version: str
    """Cluster minor: selects the pinned AL2023 or Bottlerocket release of the version matrix. Required."""
    node_role: pulumi.Input[str]
    """Name of the GPU nodes' IAM role (Karpenter makes the instance profile). Required."""
    volume_key_arn: pulumi.Input[str]
    """The platform's EBS key (root volume encryption). Required."""
    tags: dict[str, str]
    """Tags of the instances, volumes and interfaces Karpenter launches. Required."""
    instance_profile: pulumi.Input[str] | None = None
    """The nodes' instance profile made by the aws layer (air-gapped: Karpenter then needs no IAM API), named
    in place of `node_role`: the EC2NodeClass CRD takes exactly one of `role` and `instanceProfile`
    (tests/fixtures/upstream/crds/karpenter.k8s.aws). Default: None (`role`)."""


def node_class(pool: GpuPoolConfig, inputs: NodeClassInputs) -> Manifest:
    """The pool's EC2NodeClass: AMI, subnets/SG by discovery tag, IMDSv2 hop limit 1, encrypted gp3 root volume."""
    discovery = [{"tags": {contract.KARPENTER_DISCOVERY_TAG: inputs.cluster_name}}]
    return {
        "apiVersion": NODECLASS_API, "kind": "EC2NodeClass", "metadata": {"name": pool.name},
        "spec": {
            **({"instanceProfile": inputs.instance_profile} if inputs.instance_profile is not None else
               {"role": inputs.node_role}),
            "amiSelectorTerms": [{"alias": karpenter_ami_alias(inputs.k8s_version, pool.ami_type)}],
            "subnetSelectorTerms": discovery, "securityGroupSelectorTerms": discovery,
            # Hop limit 1: pods (one network hop further) cannot reach the node role's credentials.
            "metadataOptions": {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled",
                                "httpPutResponseHopLimit": 1, "httpTokens": "required"},
            "blockDeviceMappings": block_devices(pool, inputs.volume_key_arn),
            "tags": {**inputs.tags, contract.POOL_LABEL: pool.name},
        },
    }


def _ebs(size: str, key_arn: pulumi.Input[str]) -> dict[str, Any]:
    return {"volumeSize": size, "volumeType": "gp3", "iops": 3000, "throughput": 125, "encrypted": True,
            "kmsKeyID": key_arn, "deleteOnTermination": True}


def block_devices(pool: GpuPoolConfig, key_arn: pulumi.Input[str]) -> list[Manifest]:
    """Encrypted gp3 volumes: AL2023's root volume of `disk_size_gib`; Bottlerocket's 4Gi OS volume and its data
    volume of `disk_size_gib`, marked `rootVolume` because it holds what the root volume holds on AL2023 (images,
    pod ephemeral storage, which Karpenter sizes from the rootVolume mapping)."""
    disk = _ebs(f"{pool.disk_size_gib}Gi", key_arn)
    if not pool.ami_type.startswith(BOTTLEROCKET_AMI_PREFIX):
        return [{"deviceName": ROOT_DEVICE, "rootVolume": True, "ebs": disk}]
    return [{"deviceName": ROOT_DEVICE, "ebs": _ebs(BOTTLEROCKET_OS_VOLUME, key_arn)},
            {"deviceName": BOTTLEROCKET_DATA_DEVICE, "rootVolume": True, "ebs": disk}]


def _requirements(pool: GpuPoolConfig) -> list[Manifest]:
    return [
        {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": instance_families(pool)},
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": list(pool.instance_types)},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": capacity_types(pool)},
        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
    ]


def node_pool(pool: GpuPoolConfig, gpu_type: str) -> Manifest:
    """The pool's NodePool: tainted GPU nodes of its instance types, spot with on-demand fallback when asked,
    bounded by `limits`, disrupted only as the pool's `karpenter` settings allow."""
    k = pool.karpenter
    return {
        "apiVersion": NODEPOOL_API, "kind": "NodePool", "metadata": {"name": pool.name},
        "spec": {
            "template": {
                "metadata": {"labels": gpu_node_labels(pool, gpu_type)},
                "spec": {
                    "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": pool.name},
                    "taints": [{"key": contract.GPU_TAINT_KEY, "value": contract.GPU_TAINT_VALUE,
                                "effect": contract.GPU_TAINT_EFFECT}],
                    "requirements": _requirements(pool),
                    "expireAfter": k.expire_after,
                },
            },
            "limits": resource_limits(pool),
            "disruption": {"consolidationPolicy": k.consolidation.value, "consolidateAfter": k.consolidate_after,
                           "budgets": [{"nodes": k.disruption_budget}]},
        },
    }


def controller_values(*, cluster_name: str, interruption_queue: pulumi.Input[str], system_pool: str,
                      prod: bool, service_monitor: bool = False, isolated_vpc: bool = False) -> dict[str, Any]:
    """Chart values (karpenter 1.14.1 values.yaml): cluster and queue settings, the controller on the system node
    group only, two replicas with the chart's PDB in prod, and its ServiceMonitor when the platform's Prometheus
    runs (it selects ServiceMonitors in every namespace; the chart renders one only if the CRD exists).
    `isolated_vpc` (no internet egress): `settings.isolatedVPC`, "assume we can't reach AWS services which don't
    have a VPC endpoint. This also has the effect of disabling look-ups to the AWS pricing endpoint"."""
    return {
        "serviceMonitor": {"enabled": service_monitor},
        "settings": {"clusterName": cluster_name, "interruptionQueue": interruption_queue,
                     **({"isolatedVPC": True} if isolated_vpc else {})},
        # Pod Identity binds this ServiceAccount to the controller role (aws/karpenter.py): no annotation.
        "serviceAccount": {"create": True, "name": KARPENTER_SERVICE_ACCOUNT},
        # Karpenter must not run on nodes it manages: the chart's affinity keeps it off them, the selector puts it
        # on the system managed node group (v1.14 getting started: "Use AWS EKS managed node groups for the
        # kube-system and karpenter namespaces"); CriticalAddonsOnly is the chart's default toleration, kept.
        "nodeSelector": {"kubernetes.io/os": "linux", contract.POOL_LABEL: system_pool},
        "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
        "replicas": 2 if prod else 1,
        # Always rendered by the chart; with one replica it still lets a drain evict it.
        "podDisruptionBudget": {"name": "karpenter", "maxUnavailable": 1},
        # The requests/limits of Karpenter's getting-started guide (step08-apply-helm-chart.sh).
        "controller": {"resources": {"requests": {"cpu": "1", "memory": "1Gi"},
                                     "limits": {"cpu": "1", "memory": "1Gi"}}},
    }


@dataclass(frozen=True, kw_only=True)
class KarpenterArgs:
    """Arguments of `Karpenter`."""

    pools: list[GpuPoolConfig]
    """The stack's `node_pools.gpu` pools. Required."""
    gpu_types: dict[str, str]
    """Pool name → its GPU model (the mlops.io/gpu-type label). Required."""
    node_class: NodeClassInputs
    """What every EC2NodeClass shares. Required."""
    interruption_queue: pulumi.Input[str]
    """The aws layer's interruption queue name. Required."""
    system_pool: str
    """Name of the system node group the controller runs on. Required."""
    prod: bool
    """Two controller replicas (leader election) instead of one. Required."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster. Required."""
    service_monitor: bool = False
    """Have the chart create its ServiceMonitor (the monitoring stack is on). Default: off."""
    isolated_vpc: bool = False
    """Nodes have no internet egress (network.nat: none): the controller's `settings.isolatedVPC`. Default: off."""
    depends_on: tuple[pulumi.Resource, ...] = ()
    """What the controller's release waits for (the monitoring release, for the ServiceMonitor CRD). Default:
    nothing."""


class Karpenter(pulumi.ComponentResource):
    """Karpenter's controller and one EC2NodeClass + NodePool per GPU pool."""

    def __init__(self, name: str, args: KarpenterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:Karpenter", name, None, opts)
        values = controller_values(cluster_name=args.node_class.cluster_name,
                                   interruption_queue=args.interruption_queue, system_pool=args.system_pool,
                                   prod=args.prod, service_monitor=args.service_monitor,
                                   isolated_vpc=args.isolated_vpc)
        # The CRDs first, from their own chart (upgraded with the controller); the controller's copy is skipped.
        crds = helm_release(f"{name}-crds", "karpenter-crd", "karpenter-crd", KARPENTER_NAMESPACE, {},
                            k8s_opts(self, args.provider))
        self.release = helm_release(f"{name}-controller", "karpenter", "karpenter", KARPENTER_NAMESPACE, values,
                                    k8s_opts(self, args.provider, [crds, *args.depends_on]), skip_crds=True)
        after = k8s_opts(self, args.provider, [crds, self.release])
        for pool in args.pools:
            cls = node_class(pool, args.node_class)
            k8s.apiextensions.CustomResource(f"{name}-{pool.name}-nodeclass", api_version=cls["apiVersion"],
                                             kind=cls["kind"], metadata=meta(pool.name), spec=cls["spec"], opts=after)
            spec = node_pool(pool, args.gpu_types[pool.name])
            k8s.apiextensions.CustomResource(f"{name}-{pool.name}-nodepool", api_version=spec["apiVersion"],
                                             kind=spec["kind"], metadata=meta(pool.name), spec=spec["spec"],
                                             opts=after)
        self.register_outputs({"pools": [p.name for p in args.pools]})
