"""Cluster add-ons that need schedulable nodes: CoreDNS and the EBS CSI driver with its IRSA role.

They come after the system node pool, which itself waits for the `Cluster`'s pre-node add-ons, so they
are their own component rather than children added to `Cluster` after it registered its outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from mlops_platform.aws._base import child_opts
from mlops_platform.aws.cluster import eks_addon
from mlops_platform.core.iam import document, irsa_trust, kms_use, statement, to_json

#: Add-ons that need nodes to schedule on, in creation order.
POST_NODE_ADDONS = ("coredns", "aws-ebs-csi-driver")
EBS_CSI_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"


@dataclass(frozen=True, kw_only=True)
class MovedFrom:
    """Where a component's children were before it existed: their old parent and their old name prefix."""

    parent: pulumi.Resource
    """The old parent (the `Cluster` component). Required."""
    prefix: str
    """The name the old parent gave its children as prefix (the `Cluster` component's name). Required."""


@dataclass(frozen=True, kw_only=True)
class ClusterAddonsArgs:
    """Arguments of `ClusterAddons`."""

    cluster_name: pulumi.Input[str]
    """The EKS cluster's name as an output of the cluster. Required."""
    k8s_version: str
    """The cluster's Kubernetes minor: selects the add-on versions of the version matrix. Required."""
    oidc_provider_arn: pulumi.Input[str]
    """The cluster's IRSA OIDC provider (trust of the EBS CSI controller's role). Required."""
    oidc_issuer_host: pulumi.Input[str]
    """The issuer URL without https:// (IAM condition keys use it). Required."""
    ebs_key_arn: pulumi.Input[str]
    """Key of encrypted EBS volumes the CSI driver creates and attaches. Required."""
    nodes: list[pulumi.Resource]
    """What the add-ons wait for: node groups they can schedule on (the system pool). Required."""
    tags: dict[str, str]
    """Tags of every add-on resource. Required."""
    moved_from: MovedFrom | None = field(default=None, compare=False)
    """Where these resources were before this component existed (children of `Cluster`): each gets an alias
    to its old parent and name, so a deployed stack keeps (does not replace) them. Default: none."""


class ClusterAddons(pulumi.ComponentResource):
    """CoreDNS and the EBS CSI driver (children `<name>-coredns`, `<name>-aws-ebs-csi-driver`, `<name>-ebs-csi`)."""

    addons: list[aws.eks.Addon]

    def __init__(self, name: str, args: ClusterAddonsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:ClusterAddons", name, None, opts)
        self._name, self._args = name, args
        ebs_role = self._ebs_csi_role()
        roles = {"aws-ebs-csi-driver": ebs_role}
        self.addons = [eks_addon(f"{name}-{addon}", args.cluster_name, addon, args.k8s_version, args.tags,
                                 self._opts(f"addon-{addon}", depends_on=args.nodes), roles.get(addon))
                       for addon in POST_NODE_ADDONS]
        self.register_outputs({"ebsCsiRoleArn": ebs_role})

    def _opts(self, old_suffix: str, depends_on: list[pulumi.Resource] | None = None) -> pulumi.ResourceOptions:
        """Child options; `old_suffix` completes the child's name under its old parent (`<prefix>-<suffix>`)."""
        moved = self._args.moved_from
        aliases = [pulumi.Alias(name=f"{moved.prefix}-{old_suffix}", parent=moved.parent)] if moved else None
        return child_opts(self, depends_on=depends_on, aliases=aliases)

    def _ebs_csi_role(self) -> pulumi.Output[str]:
        """IRSA role of the EBS CSI controller (Prometheus and other volumes), pinned to its ServiceAccount."""
        args, name = self._args, self._name
        trust = irsa_trust(args.oidc_provider_arn, args.oidc_issuer_host, "kube-system", "ebs-csi-controller-sa")
        role = aws.iam.Role(f"{name}-ebs-csi", assume_role_policy=to_json(trust), tags=args.tags,
                            opts=self._opts("ebs-csi"))
        aws.iam.RolePolicyAttachment(f"{name}-ebs-csi", role=role.name, opts=self._opts("ebs-csi"),
                                     policy_arn=EBS_CSI_POLICY)
        kms = document(kms_use([args.ebs_key_arn]), statement(["kms:CreateGrant"], [args.ebs_key_arn],
                                                             condition={"Bool": {"kms:GrantIsForAWSResource": "true"}}))
        aws.iam.RolePolicy(f"{name}-ebs-csi-kms", role=role.id, policy=to_json(kms), opts=self._opts("ebs-csi-kms"))
        return role.arn
