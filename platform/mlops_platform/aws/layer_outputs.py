"""What one layer hands the next: typed bundles of Outputs, so layers never reach into each other."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class BucketRef:
    name: pulumi.Output[str]
    arn: pulumi.Output[str]


@dataclass(frozen=True)
class AwsLayer:
    """Outputs of the AWS layer that the Kubernetes layer and tenancy build on."""

    aws_provider: aws.Provider
    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]
    cluster: aws.eks.Cluster
    cluster_name: pulumi.Output[str]
    cluster_endpoint: pulumi.Output[str]
    cluster_ca_data: pulumi.Output[str]
    cluster_security_group_id: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer_url: pulumi.Output[str]  # https://oidc.eks.<region>.amazonaws.com/id/…
    oidc_issuer_host: pulumi.Output[str]  # the URL without https:// (IAM condition keys use it)
    node_role_arn: pulumi.Output[str]
    node_groups: list[aws.eks.NodeGroup]
    buckets: dict[str, BucketRef]
    kms_key_arns: dict[str, pulumi.Output[str]]
    registry_urls: dict[str, pulumi.Output[str]]
    github_oidc_provider_arn: pulumi.Output[str] | None = None
    extra: dict[str, pulumi.Output[str]] = field(default_factory=dict)
