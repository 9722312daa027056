"""IAM roles of in-cluster services (IRSA), built in the aws package: the cluster layer creates them and hands
each role's ARN to the Kubernetes component that runs the service, so `k8s/` creates no IAM.

- cert-manager's DNS-01 role: only `_acme-challenge` TXT records of one hosted zone;
- OpenCost's spot-feed reader: list and read the account's Spot Instance Data Feed, nothing else.

Resource names are the ones these roles had when the Kubernetes components created them; the spot-feed
reader, which moved from under `CostAllocation` to the layer, carries an alias to its old URN.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from mlops_platform.core import iam
from mlops_platform.core.naming import iam_name

#: cert-manager's controller ServiceAccount (chart default name), the DNS-01 role's only subject.
CERT_MANAGER_SA = "cert-manager"


def role_with_policy(prefix: str, *, role_name: str, trust: iam.Doc, policy: iam.Doc, tags: dict[str, str],
                     opts: pulumi.ResourceOptions) -> aws.iam.Role:
    """A role named `role_name` trusted by `trust`, with the inline `policy` (`<prefix>-role`,
    `<prefix>-policy`), tagged `tags`; both made with `opts`. All required."""
    role = aws.iam.Role(f"{prefix}-role", name=role_name, assume_role_policy=iam.to_json(trust), tags=tags,
                        opts=opts)
    aws.iam.RolePolicy(f"{prefix}-policy", role=role.id, policy=iam.to_json(policy), opts=opts)
    return role


def route53_statements(zone_id: str) -> list[iam.Doc]:
    """cert-manager's DNS-01 permissions (cert-manager docs, "Route53"): change only `_acme-challenge` TXT
    records of the one zone, read changes, find zones."""
    zone = f"arn:aws:route53:::hostedzone/{zone_id}"
    only_challenges = {"ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]},
                       "ForAllValues:StringLike": {
                           "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["_acme-challenge.*"]}}
    return [iam.statement(["route53:GetChange"], ["arn:aws:route53:::change/*"]),
            iam.statement(["route53:ChangeResourceRecordSets"], [zone], condition=only_challenges),
            iam.statement(["route53:ListResourceRecordSets"], [zone]),
            iam.statement(["route53:ListHostedZonesByName"], ["*"])]


def acme_dns_role(name: str, *, cluster_name: str, zone_id: str, oidc_provider_arn: pulumi.Input[str],
                  oidc_issuer_host: pulumi.Input[str], namespace: str, tags: dict[str, str],
                  opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
    """cert-manager's IRSA role for DNS-01 (trusted by its controller's ServiceAccount in `namespace` only);
    returns its ARN. All required."""
    trust = iam.irsa_trust(oidc_provider_arn, oidc_issuer_host, namespace, CERT_MANAGER_SA)
    return role_with_policy(name, role_name=iam_name(cluster_name, "cert-manager-dns01"), trust=trust,
                            policy=iam.document(*route53_statements(zone_id)), tags=tags, opts=opts).arn


def feed_read_access(bucket: str, prefix: str) -> iam.Doc:
    """List and read the feed's files only (OpenCost lists `<prefix>/<account>.<date>` and gets those)."""
    return iam.document(*iam.s3_prefix_access(f"arn:aws:s3:::{bucket}", f"{prefix}/" if prefix else "",
                                              write=False))


def spot_feed_reader(name: str, *, cluster_name: str, bucket: str, prefix: str, oidc_provider_arn: pulumi.Input[str],
                     oidc_issuer_host: pulumi.Input[str], namespace: str, service_account: str,
                     tags: dict[str, str], opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
    """OpenCost's IRSA role (`<name>-role`, `<name>-policy`): reads the spot feed in `bucket` under `prefix`,
    nothing else (on-demand prices need no AWS access); returns its ARN. All required."""
    trust = iam.irsa_trust(oidc_provider_arn, oidc_issuer_host, namespace, service_account)
    return role_with_policy(name, role_name=iam_name(cluster_name, "opencost"), trust=trust,
                            policy=feed_read_access(bucket, prefix), tags=tags, opts=opts).arn
