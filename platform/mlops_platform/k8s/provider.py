"""The Kubernetes provider of one environment, built from the EKS cluster's outputs.

Authentication is `aws eks get-token` (short-lived tokens from the caller's AWS identity, no static
credentials in state); server-side apply so fields owned by controllers (HPA replicas) are not fought over.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s


def kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig whose user runs `aws eks get-token` (exec plugin) for every connection."""
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
                     "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region,
                              "--output", "json"],
                     "interactiveMode": "Never"}}
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": cluster_name,
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "users": [{"name": cluster_name, "user": user}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
    }, sort_keys=True)


@dataclass(frozen=True, kw_only=True)
class ClusterAccessArgs:
    """Arguments of `ClusterAccess`."""

    cluster_name: pulumi.Input[str]
    """Name of the EKS cluster (the kubeconfig's token command names it). Required."""
    endpoint: pulumi.Input[str]
    """API server endpoint. Required."""
    ca_data: pulumi.Input[str]
    """Base64 certificate authority data of the cluster. Required."""
    region: str
    """Region of the cluster. Required."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """Resources the provider waits for (node groups: Helm releases need nodes to schedule on). Default: nothing."""


class ClusterAccess(pulumi.ComponentResource):
    """Holds the environment's `kubernetes.Provider`; every in-cluster resource is created through it."""

    provider: k8s.Provider

    def __init__(self, name: str, args: ClusterAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:ClusterAccess", name, None, opts)
        config = pulumi.Output.all(args.cluster_name, args.endpoint, args.ca_data).apply(
            lambda v: kubeconfig(str(v[0]), str(v[1]), str(v[2]), args.region))
        self.provider = k8s.Provider(
            f"{name}-provider", kubeconfig=config, enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)))
        self.register_outputs({})


def k8s_opts(parent: pulumi.Resource, provider: k8s.Provider, depends_on: Any = None) -> pulumi.ResourceOptions:
    """Options of every Kubernetes resource: explicit provider (never the ambient kubeconfig), parent=self."""
    return pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=depends_on or [])
