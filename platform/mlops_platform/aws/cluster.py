"""EKS control plane: pinned version, private endpoint by default, KMS envelope encryption of secrets,
every control-plane log type with retention, IRSA OIDC provider, API auth with admin access entries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from mlops_platform.aws._base import child_opts, with_name
from mlops_platform.config.sections import ClusterConfig, EndpointAccess, UpgradePolicy
from mlops_platform.core.iam import document, irsa_trust, kms_use, service_trust, statement, to_json
from mlops_platform.core.versions import minor_pins

CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
#: Add-ons that must run before any node joins (networking, identity). The rest (`cluster_addons.py`) come
#: after the system pool.
PRE_NODE_ADDONS = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")
#: Add-on configuration: the VPC CNI enforces NetworkPolicies only when asked to (the platform's
#: namespace fences and project isolation are NetworkPolicies).
ADDON_CONFIGURATION = {"vpc-cni": '{"enableNetworkPolicy":"true"}'}
#: The VPC CNI's own permissions, on its IRSA role (never the node role).
CNI_POLICY = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
CNI_SERVICE_ACCOUNT = "aws-node"


def eks_addon(name: str, cluster_name: pulumi.Input[str], addon: str, k8s_version: str, tags: dict[str, str],
              opts: pulumi.ResourceOptions, role_arn: pulumi.Input[str] | None = None) -> aws.eks.Addon:
    """One managed add-on, as `Cluster` and `ClusterAddons` create them, pinned from the version matrix: an
    add-on moves only with the cluster minor, in `mlplat upgrade` order."""
    return aws.eks.Addon(name, cluster_name=cluster_name, addon_name=addon,
                         addon_version=minor_pins(k8s_version).addons[addon], service_account_role_arn=role_arn,
                         configuration_values=ADDON_CONFIGURATION.get(addon), resolve_conflicts_on_create="OVERWRITE",
                         resolve_conflicts_on_update="PRESERVE", tags=tags, opts=opts)


def _issuer(identities: Sequence[aws.eks.outputs.ClusterIdentity]) -> str:
    oidcs = identities[0].oidcs if identities else None
    return (oidcs[0].issuer or "") if oidcs else ""


@dataclass(frozen=True, kw_only=True)
class ClusterArgs:
    """Arguments of `Cluster`."""

    config: ClusterConfig
    """The stack's `cluster` section: version, endpoint access, admins, log retention. Required."""
    cluster_name: str
    """Name of the EKS cluster. Required."""
    subnet_ids: pulumi.Input[list[str]]
    """Private subnets of the control plane's network interfaces. Required."""
    secrets_key_arn: pulumi.Input[str]
    """Key of the envelope encryption of Kubernetes secrets. Required."""
    logs_key_arn: pulumi.Input[str]
    """Key of the control-plane log group. Required."""
    deletion_protection: bool
    """EKS deletion protection, and protect the cluster in Pulumi. Required."""
    tags: dict[str, str]
    """Tags of every cluster resource. Required."""
    upgrade_policy: UpgradePolicy
    """What EKS does when the version's standard support ends (`cluster.upgrade_policy`, resolved per tier).
    Required."""


def endpoint_settings(config: ClusterConfig) -> tuple[bool, list[str]]:
    """(public endpoint on?, public CIDRs). Public only by explicit opt-in with CIDRs."""
    public = config.endpoint_access == EndpointAccess.PUBLIC_AND_PRIVATE and bool(config.allow_public_endpoint_cidrs)
    return public, list(config.allow_public_endpoint_cidrs) if public else []


class Cluster(pulumi.ComponentResource):
    cluster: aws.eks.Cluster
    oidc_provider: aws.iam.OpenIdConnectProvider

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:Cluster", name, None, opts)
        self._name, self._args = name, args
        role = self._role()
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs", name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=args.config.log_retention_days, kms_key_id=args.logs_key_arn, tags=args.tags,
            opts=child_opts(self))
        self.cluster = self._cluster(role, log_group)
        self.oidc_issuer_url: pulumi.Output[str] = self.cluster.identities.apply(_issuer)
        self.oidc_issuer_host = self.oidc_issuer_url.apply(lambda url: url.removeprefix("https://"))
        self.oidc_provider = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc", url=self.oidc_issuer_url, client_id_lists=["sts.amazonaws.com"], tags=args.tags,
            opts=child_opts(self))
        roles = {"vpc-cni": self._cni_role()}
        self.pre_node_addons = [self._addon(a, roles.get(a)) for a in PRE_NODE_ADDONS]
        self.admin_associations = self._admins()
        self.register_outputs({"name": self.cluster.name, "endpoint": self.cluster.endpoint,
                               "oidcProviderArn": self.oidc_provider.arn})

    def _role(self) -> aws.iam.Role:
        role = aws.iam.Role(f"{self._name}-role", assume_role_policy=to_json(service_trust("eks.amazonaws.com")),
                            tags=self._args.tags, opts=child_opts(self))
        aws.iam.RolePolicyAttachment(f"{self._name}-cluster-policy", role=role.name,
                                     policy_arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy", opts=child_opts(self))
        # Envelope encryption: the control plane encrypts secrets with our key through this role.
        kms = document(kms_use([self._args.secrets_key_arn]),
                       statement(["kms:CreateGrant"], [self._args.secrets_key_arn],
                                 condition={"Bool": {"kms:GrantIsForAWSResource": "true"}}))
        aws.iam.RolePolicy(f"{self._name}-secrets-kms", role=role.id, policy=to_json(kms), opts=child_opts(self))
        return role

    def _cluster(self, role: aws.iam.Role, log_group: aws.cloudwatch.LogGroup) -> aws.eks.Cluster:
        args = self._args
        public, cidrs = endpoint_settings(args.config)
        return aws.eks.Cluster(
            f"{self._name}-eks", name=args.cluster_name, version=args.config.version, role_arn=role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(subnet_ids=args.subnet_ids, endpoint_private_access=True,
                                                    endpoint_public_access=public,
                                                    public_access_cidrs=cidrs or None),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"],
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=args.secrets_key_arn)),
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            access_config=aws.eks.ClusterAccessConfigArgs(authentication_mode="API",
                                                          bootstrap_cluster_creator_admin_permissions=False),
            # Extended support costs 6x the control-plane price: upgrades are planned, not drifted into.
            # An explicit choice (config cluster.upgrade_policy): STANDARD lets EKS upgrade the control plane
            # when standard support ends; EXTENDED keeps the version longer at the extended-support price.
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type=args.upgrade_policy.value),
            bootstrap_self_managed_addons=False, deletion_protection=args.deletion_protection,
            tags=with_name(args.tags, args.cluster_name),
            opts=child_opts(self, protect=args.deletion_protection, depends_on=[log_group]))

    def _addon(self, addon: str, role_arn: pulumi.Input[str] | None = None) -> aws.eks.Addon:
        return eks_addon(f"{self._name}-addon-{addon}", self.cluster.name, addon, self._args.config.version,
                         self._args.tags, child_opts(self), role_arn)

    def _cni_role(self) -> pulumi.Output[str]:
        """IRSA role of the VPC CNI (`kube-system:aws-node`), so the node role needs no `AmazonEKS_CNI_Policy`
        and no other pod on a node inherits ENI and IP management through the instance profile
        (docs.aws.amazon.com/eks/latest/userguide/cni-iam-role.html)."""
        trust = irsa_trust(self.oidc_provider.arn, self.oidc_issuer_host, "kube-system", CNI_SERVICE_ACCOUNT)
        role = aws.iam.Role(f"{self._name}-vpc-cni", assume_role_policy=to_json(trust), tags=self._args.tags,
                            opts=child_opts(self))
        aws.iam.RolePolicyAttachment(f"{self._name}-vpc-cni", role=role.name, policy_arn=CNI_POLICY,
                                     opts=child_opts(self))
        return role.arn

    def _admins(self) -> list[aws.eks.AccessPolicyAssociation]:
        associations = []
        for arn in self._args.config.admin_principal_arns:
            # Named by principal, not position: removing one admin never replaces the others.
            admin = f"{self._name}-admin-{arn.rsplit('/', 1)[-1]}"
            entry = aws.eks.AccessEntry(admin, cluster_name=self.cluster.name, principal_arn=arn,
                                        type="STANDARD", tags=self._args.tags, opts=child_opts(self))
            associations.append(aws.eks.AccessPolicyAssociation(
                admin, cluster_name=self.cluster.name, principal_arn=arn,
                policy_arn=CLUSTER_ADMIN_POLICY,
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=child_opts(self, depends_on=[entry])))
        return associations
