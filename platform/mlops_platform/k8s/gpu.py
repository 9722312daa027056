"""GPU enablement: NVIDIA device plugin and DCGM exporter on GPU nodes, the AWS EFA device plugin on EFA
pools' nodes, NVIDIA's mig-manager on MIG pools' nodes (k8s/mig_manager.py), cluster-autoscaler with its own
IRSA role so GPU pools scale up from zero and back down."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from mlops_platform.core import contract, iam
from mlops_platform.core.gpu_sharing import (
    DCGM_EXPORTER_DEPLOY_LABEL,
    DEVICE_PLUGIN_DEPLOY_LABEL,
    MIG_PAUSED,
    PoolSharing,
)
from mlops_platform.core.naming import iam_name
from mlops_platform.core.versions import autoscaler_chart, minor_pins
from mlops_platform.k8s._helm import helm_release, namespace
from mlops_platform.k8s.device_plugin import config_values
from mlops_platform.k8s.manifests import gpu_node_affinity, gpu_toleration, irsa_annotation
from mlops_platform.k8s.mig_manager import gpu_operator_values, mig_pools
from mlops_platform.k8s.provider import k8s_opts

GPU_NAMESPACE = "nvidia-gpu"
AUTOSCALER_NAMESPACE = "kube-system"
AUTOSCALER_SA = "cluster-autoscaler"
DCGM_RELEASE = "dcgm-exporter"
DCGM_PORT = 9400


@dataclass(frozen=True, kw_only=True)
class GpuEnablementArgs:
    """Arguments of `GpuEnablement`."""

    cluster_name: str
    """EKS cluster the autoscaler discovers node groups of; names its IAM role. Required."""
    k8s_version: str
    """Kubernetes minor version: picks the cluster-autoscaler image and the namespace's PSA version. Required."""
    region: str
    """Region of the autoscaler's AWS calls and IAM scope. Required."""
    account_id: str
    """Account of the autoscaler's IAM scope. Required."""
    oidc_provider_arn: pulumi.Input[str]
    """The cluster's IRSA OIDC provider (trust of the autoscaler role). Required."""
    oidc_issuer_host: pulumi.Input[str]
    """The issuer URL without https:// (IAM condition keys use it). Required."""
    tags: dict[str, str]
    """Tags of the AWS resources. Required."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster. Required."""
    sharing: tuple[PoolSharing, ...] = ()
    """How each GPU pool shares its GPUs (device plugin configs per pool; mig-manager for MIG pools). Default:
    no pool shares."""
    efa: bool = False
    """Some pool attaches EFA interfaces: install the EFA device plugin on its nodes. Default: False."""
    monitoring_namespace: str | None = None
    """Install the autoscaler's ServiceMonitor there (needs the monitoring stack's CRDs). Default: none."""
    depends_on: tuple[pulumi.Resource, ...] = ()
    """What the releases wait for (the monitoring release, for its CRDs). Default: nothing."""


def on_gpu_nodes(paused_by: str | None = None) -> dict[str, Any]:
    """Chart values that schedule a DaemonSet on every GPU node and only there; `paused_by` is the label
    mig-manager sets to `paused-for-mig-change` while it repartitions a node, so the pod leaves and comes
    back to see the new MIG devices (the DaemonSet controller removes pods whose node no longer matches)."""
    affinity = gpu_node_affinity()
    if paused_by:
        (term,) = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        term["matchExpressions"].append({"key": paused_by, "operator": "NotIn", "values": [MIG_PAUSED]})
    return {"tolerations": [gpu_toleration()], "affinity": affinity}


def efa_plugin_values() -> dict[str, Any]:
    """aws-efa-k8s-device-plugin v0.5.30: only on EFA pools' nodes (the chart's own affinity further limits it
    to EFA-capable instance types), tolerating the GPU taint; it advertises vpc.amazonaws.com/efa."""
    return {"nodeSelector": {contract.EFA_LABEL: "true"}, "tolerations": [gpu_toleration()],
            "resources": {"requests": {"cpu": "10m", "memory": "20Mi"}, "limits": {"memory": "100Mi"}}}


def device_plugin_values(sharing: tuple[PoolSharing, ...] = ()) -> dict[str, Any]:
    # No node-feature-discovery: the AWS layer labels GPU nodes itself. gfd.enabled=false turns NFD off too
    # (chart 0.17.1 Chart.yaml: the NFD dependency's condition is `nfd.enabled,gfd.enabled`, and values.yaml
    # declares no nfd.enabled, so Helm falls through to gfd.enabled). Shared pools get their own named
    # config (device_plugin.py); no top-level migStrategy, so each config's own flag applies.
    return {**on_gpu_nodes(DEVICE_PLUGIN_DEPLOY_LABEL), "gfd": {"enabled": False},
            "priorityClassName": "system-node-critical", "failOnInitError": True, **config_values(sharing)}


def dcgm_values() -> dict[str, Any]:
    # The platform ships its own ServiceMonitor (monitoring.py), so the chart's stays off.
    return {**on_gpu_nodes(DCGM_EXPORTER_DEPLOY_LABEL), "serviceMonitor": {"enabled": False},
            "service": {"enable": True, "port": DCGM_PORT},
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}}


def autoscaler_values(args: GpuEnablementArgs, role_arn: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "autoDiscovery": {"clusterName": args.cluster_name}, "awsRegion": args.region, "cloudProvider": "aws",
        # the image's minor follows the control plane (its scheduler simulation is versioned with Kubernetes)
        "image": {"tag": minor_pins(args.k8s_version).autoscaler_image},
        # one replica: a drain may evict it (it restarts elsewhere), but never two at once in a larger setup
        "podDisruptionBudget": {"maxUnavailable": 1},
        "rbac": {"serviceAccount": {"create": True, "name": AUTOSCALER_SA, "annotations": irsa_annotation(role_arn)}},
        # least-waste picks the cheapest pool that fits a pending GPU pod; scale-down returns idle GPU
        # nodes after 10 minutes (GPU nodes are the expensive ones), system pods never pin a node.
        "extraArgs": {"expander": "least-waste", "balance-similar-node-groups": True,
                      "skip-nodes-with-system-pods": False, "scale-down-unneeded-time": "10m",
                      "scale-down-delay-after-add": "10m", "max-node-provision-time": "15m"},
        "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"memory": "600Mi"}},
        "containerSecurityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                     "capabilities": {"drop": ["ALL"]}},
        "priorityClassName": "system-cluster-critical",
    }
    if args.monitoring_namespace:
        values["serviceMonitor"] = {"enabled": True, "namespace": args.monitoring_namespace, "interval": "30s"}
    return values


class GpuEnablement(pulumi.ComponentResource):
    """Device plugin + DCGM exporter (GPU nodes only) and cluster-autoscaler with a scoped IRSA role."""

    autoscaler_role: aws.iam.Role

    def __init__(self, name: str, args: GpuEnablementArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:GpuEnablement", name, None, opts)
        kopts = k8s_opts(self, args.provider, list(args.depends_on))
        # Device plugin and DCGM mount host paths (kubelet socket, GPU devices): privileged by necessity.
        ns = namespace(f"{name}-ns", GPU_NAMESPACE, "privileged", args.k8s_version, kopts,
                       open_ports=())  # DCGM is scraped from the monitoring namespace only
        after_ns = k8s_opts(self, args.provider, [ns, *args.depends_on])
        helm_release(f"{name}-device-plugin", "nvidia-device-plugin", "nvidia-device-plugin", GPU_NAMESPACE,
                     device_plugin_values(args.sharing), after_ns)
        self.dcgm = helm_release(f"{name}-dcgm", "dcgm-exporter", DCGM_RELEASE, GPU_NAMESPACE, dcgm_values(),
                                 after_ns)
        if args.efa:
            helm_release(f"{name}-efa-device-plugin", "aws-efa-k8s-device-plugin", "aws-efa-k8s-device-plugin",
                         GPU_NAMESPACE, efa_plugin_values(), after_ns)
        if mig_pools(args.sharing):
            helm_release(f"{name}-mig-manager", "gpu-operator", "gpu-operator", GPU_NAMESPACE,
                         gpu_operator_values(args.sharing, [gpu_toleration()]), after_ns)
        self.autoscaler_role = self._autoscaler_role(name, args)
        helm_release(f"{name}-autoscaler", autoscaler_chart(args.k8s_version), "cluster-autoscaler",
                     AUTOSCALER_NAMESPACE, autoscaler_values(args, self.autoscaler_role.arn), kopts)
        self.register_outputs({"autoscaler_role_arn": self.autoscaler_role.arn})

    def _autoscaler_role(self, name: str, args: GpuEnablementArgs) -> aws.iam.Role:
        role = aws.iam.Role(
            f"{name}-autoscaler-role", name=iam_name(args.cluster_name, "cluster-autoscaler"),
            assume_role_policy=iam.to_json(iam.irsa_trust(args.oidc_provider_arn, args.oidc_issuer_host,
                                                          AUTOSCALER_NAMESPACE, AUTOSCALER_SA)),
            tags=args.tags, opts=pulumi.ResourceOptions(parent=self))
        aws.iam.RolePolicy(
            f"{name}-autoscaler-policy", role=role.id,
            policy=iam.to_json(iam.document(*iam.cluster_autoscaler_access(args.cluster_name, args.region,
                                                                           args.account_id))),
            opts=pulumi.ResourceOptions(parent=self))
        return role
