"""The AWS identities of a project tenant: its IRSA workload role and its GitHub Actions roles with their
namespaced EKS access (the GitHub OIDC provider they trust is the aws layer's, `aws.account`).

The tenancy feature (`k8s.tenancy.ProjectTenant`) owns them and creates them as its children; the AWS
resources are built here, beside the other AWS components. Policy documents come from `core.iam`.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from mlops_platform.core import iam


def workload_role(prefix: str, role_name: str, trust: iam.Doc, policy: iam.Doc, tags: dict[str, str],
                  parent: pulumi.Resource) -> aws.iam.Role:
    """The IRSA role of the project's pods with its inline policy (`<prefix>-role`, `<prefix>-policy`)."""
    role = aws.iam.Role(f"{prefix}-role", name=role_name, assume_role_policy=iam.to_json(trust), tags=tags,
                        opts=pulumi.ResourceOptions(parent=parent))
    aws.iam.RolePolicy(f"{prefix}-policy", role=role.id, policy=iam.to_json(policy),
                       opts=pulumi.ResourceOptions(parent=parent))
    return role


def github_actions_role(prefix: str, role_name: str, trust: iam.Doc, policy: iam.Doc,
                        access: tuple[str, str] | None, cluster_name: pulumi.Input[str], namespace: str,
                        tags: dict[str, str], parent: pulumi.Resource,
                        groups: list[str] | None = None) -> aws.iam.Role:
    """A GitHub Actions role with its inline policy and kubectl access to one namespace only.

    `access` is (resource name suffix, EKS access policy ARN) of the namespaced access association, or None
    when the role's only Kubernetes rights are the namespaced RoleBindings of its `groups` (the access
    entry's Kubernetes groups). With neither, the role gets no access entry: no Kubernetes rights at all.
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
