"""The AWS identities of a project tenant: its IRSA workload role and its GitHub Actions roles with their
namespaced EKS access (the GitHub OIDC provider they trust is the aws layer's, `aws.account`).

The tenancy feature (`k8s.tenancy.ProjectTenant`) owns them and creates them as its children; the AWS
resources are built here, beside the other AWS components. Policy documents come from `core.iam`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from mlops_platform.aws.layer_outputs import BucketRef
from mlops_platform.aws.service_roles import role_with_policy
from mlops_platform.core import iam, naming


@dataclass(frozen=True, kw_only=True)
class ProjectAccess:
    """What a project's roles may reach, and the policy document of each role. All required."""

    project: str
    """The project's name (its S3 prefix is naming.project_prefix of it)."""
    buckets: dict[str, BucketRef]
    """The artifact buckets by role; the project has a prefix in `naming.PROJECT_BUCKET_ROLES`."""
    s3_key_arn: pulumi.Input[str]
    """Key of the artifact buckets."""
    cluster_arn: pulumi.Input[str]
    """The EKS cluster, which CI roles may describe (kubectl rights are namespaced access entries)."""
    repository_arn: Any
    """The project's own ECR repository."""

    def prefix_access(self) -> list[iam.Doc]:
        """Read/write the project's prefix in each bucket that has one."""
        prefix = naming.project_prefix(self.project)
        return [s for role in naming.PROJECT_BUCKET_ROLES if role in self.buckets
                for s in iam.s3_prefix_access(self.buckets[role].arn, prefix)]

    def workload(self) -> iam.Doc:
        """Read/write the project's prefixes, pull its own images, use the bucket key — nothing else."""
        return iam.document(*self.prefix_access(), *iam.ecr_access([self.repository_arn], push=False),
                            iam.kms_use([self.s3_key_arn]))

    def ci(self) -> iam.Doc:
        """CI pushes images to the project repository, publishes models under its prefix, reads its datasets
        and may look up the cluster."""
        prefix = naming.project_prefix(self.project)
        stmts: list[iam.Doc] = []
        if "models" in self.buckets:
            stmts += iam.s3_prefix_access(self.buckets["models"].arn, prefix)
        if "datasets" in self.buckets:
            stmts += iam.s3_prefix_access(self.buckets["datasets"].arn, prefix, write=False)
        return iam.document(*stmts, *iam.ecr_access([self.repository_arn], push=True), iam.kms_use([self.s3_key_arn]),
                            iam.statement(["eks:DescribeCluster"], [self.cluster_arn]))

    def training(self, *, submits: bool) -> iam.Doc:
        """Continuous training reads and writes the project's `datasets` and `models` prefixes with their key —
        no ECR, no other prefix. `submits` (pipelines on): the workflow also finds the cluster to submit the
        pipeline (kubectl rights are the namespaced submitter group of its access entry, no access policy)."""
        stmts = self.prefix_access()
        if submits:
            stmts.append(iam.statement(["eks:DescribeCluster"], [self.cluster_arn]))
        return iam.document(*stmts, iam.kms_use([self.s3_key_arn]))

    def ci_preview(self) -> iam.Doc:
        """Pull-request previews look up the cluster and read the project's images; they push and publish
        nothing."""
        return iam.document(*iam.ecr_access([self.repository_arn], push=False),
                            iam.statement(["ecr:DescribeImages"], [self.repository_arn]),
                            iam.statement(["eks:DescribeCluster"], [self.cluster_arn]))


def workload_role(prefix: str, *, role_name: str, trust: iam.Doc, policy: iam.Doc, tags: dict[str, str],
                  parent: pulumi.Resource) -> aws.iam.Role:
    """The IRSA role of the project's pods with its inline policy (`<prefix>-role`, `<prefix>-policy`), named
    `role_name`, trusted by `trust`, tagged `tags`, a child of `parent`. All required."""
    return role_with_policy(prefix, role_name=role_name, trust=trust, policy=policy, tags=tags,
                            opts=pulumi.ResourceOptions(parent=parent))


def github_actions_role(prefix: str, *, role_name: str, trust: iam.Doc, policy: iam.Doc,
                        cluster_name: pulumi.Input[str], namespace: str, tags: dict[str, str],
                        parent: pulumi.Resource, access: tuple[str, str] | None = None,
                        groups: list[str] | None = None) -> aws.iam.Role:
    """A GitHub Actions role (`<prefix>-role`, named `role_name`, trusted by `trust`) with its inline `policy`
    and kubectl access to `namespace` of `cluster_name` only; tagged `tags`, a child of `parent`.

    `access`: (resource name suffix, EKS access policy ARN) of the namespaced access association. Default:
    None, the role's only Kubernetes rights are the namespaced RoleBindings of its `groups` (the access
    entry's Kubernetes groups; default: none). With neither, the role gets no access entry: no Kubernetes
    rights at all.
    """
    child = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(f"{prefix}-role", name=role_name, assume_role_policy=iam.to_json(trust),
                        max_session_duration=3600, tags=tags, opts=child)
    aws.iam.RolePolicy(f"{prefix}-policy", role=role.id, policy=iam.to_json(policy), opts=child)
    if access is None and not groups:
        return role
    entry = aws.eks.AccessEntry(f"{prefix}-access", cluster_name=cluster_name, principal_arn=role.arn,
                                type="STANDARD", kubernetes_groups=groups or None, tags=tags, opts=child)
    if access is None:
        return role
    suffix, access_policy = access
    aws.eks.AccessPolicyAssociation(
        f"{prefix}-{suffix}", cluster_name=cluster_name, principal_arn=role.arn, policy_arn=access_policy,
        access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="namespace", namespaces=[namespace]),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[entry]))
    return role
