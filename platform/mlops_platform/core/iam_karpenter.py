"""IAM documents of Karpenter (`gpu.provisioner: karpenter`): the controller's permissions and its EKS Pod
Identity trust, in one reviewed place.

Modelled on Karpenter's published controller policy at the pinned version: aws/karpenter-provider-aws
`website/content/en/v1.14/getting-started/getting-started-with-karpenter/cloudformation.yaml` (commit
1d927085dd81, the v1.14 docs of release v1.14.1): the node-lifecycle, IAM-integration, EKS-integration,
interruption and resource-discovery policies, statement by statement. Narrower than upstream: account-scoped
ARNs where upstream writes `*` for the account, and no zonal-shift statement (the platform leaves
`settings.enableZonalShift` off).
"""

from __future__ import annotations

from typing import Any

from mlops_platform.core.iam import Doc, statement

#: Namespace and ServiceAccount of the Karpenter controller (Karpenter's docs install it into kube-system).
KARPENTER_NAMESPACE = "kube-system"
KARPENTER_SERVICE_ACCOUNT = "karpenter"
#: Read-only EC2 calls of the controller's discovery (AWS offers no resource-level permissions for them:
#: Service Authorization Reference, Amazon EC2, "Actions defined by Amazon EC2").
DISCOVERY_ACTIONS = ("ec2:DescribeCapacityReservations", "ec2:DescribeImages", "ec2:DescribeInstances",
                     "ec2:DescribeInstanceStatus", "ec2:DescribeInstanceTypeOfferings", "ec2:DescribeInstanceTypes",
                     "ec2:DescribeLaunchTemplates", "ec2:DescribePlacementGroups", "ec2:DescribeSecurityGroups",
                     "ec2:DescribeSpotPriceHistory", "ec2:DescribeSubnets")


def pod_identity_trust(account_id: str, cluster_name: str, namespace: str, service_account: str) -> Doc:
    """Trust of a role EKS Pod Identity hands to one ServiceAccount of one cluster: the session tags the
    service sets (docs.aws.amazon.com/eks/latest/userguide/pod-id-role.html and pod-id-abac.html)."""
    return {"Version": "2012-10-17", "Statement": [statement(
        ["sts:AssumeRole", "sts:TagSession"], None, sid="EksPodIdentity",
        principal={"Service": "pods.eks.amazonaws.com"},
        condition={"StringEquals": {"aws:SourceAccount": account_id,
                                    "aws:RequestTag/eks-cluster-name": cluster_name,
                                    "aws:RequestTag/kubernetes-namespace": namespace,
                                    "aws:RequestTag/kubernetes-service-account": service_account}})]}


def _owned(cluster: str, key: str) -> dict[str, dict[str, Any]]:
    """Condition: the resource (`ResourceTag`) or the request (`RequestTag`) carries this cluster's tags."""
    return {"StringEquals": {f"aws:{key}/kubernetes.io/cluster/{cluster}": "owned"},
            "StringLike": {f"aws:{key}/karpenter.sh/nodepool": "*"}}


def _node_lifecycle(cluster: str, region: str, account: str) -> list[Doc]:
    ec2 = f"arn:aws:ec2:{region}:{account}"
    launch = [f"{ec2}:{kind}/*" for kind in ("fleet", "instance", "volume", "network-interface", "launch-template",
                                             "spot-instances-request")]
    requested = _owned(cluster, "RequestTag")
    requested["StringEquals"]["aws:RequestTag/eks:eks-cluster-name"] = cluster
    tagging = {**_owned(cluster, "ResourceTag"), "StringEqualsIfExists": {
        "aws:RequestTag/eks:eks-cluster-name": cluster}, "ForAllValues:StringEquals": {
        "aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]}}
    return [
        statement(["ec2:RunInstances", "ec2:CreateFleet"], [
            f"arn:aws:ec2:{region}::image/*", f"arn:aws:ec2:{region}::snapshot/*", f"{ec2}:security-group/*",
            f"{ec2}:subnet/*", f"{ec2}:capacity-reservation/*", f"{ec2}:placement-group/*"],
            sid="AllowScopedEC2InstanceAccessActions"),
        statement(["ec2:RunInstances", "ec2:CreateFleet"], [f"{ec2}:launch-template/*"],
                  sid="AllowScopedEC2LaunchTemplateAccessActions", condition=_owned(cluster, "ResourceTag")),
        statement(["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"], launch,
                  sid="AllowScopedEC2InstanceActionsWithTags", condition=requested),
        statement(["ec2:CreateTags"], launch, sid="AllowScopedResourceCreationTagging", condition={
            **requested, "StringEquals": {**requested["StringEquals"], "ec2:CreateAction": [
                "RunInstances", "CreateFleet", "CreateLaunchTemplate"]}}),
        statement(["ec2:CreateTags"], [f"{ec2}:instance/*"], sid="AllowScopedResourceTagging", condition=tagging),
        statement(["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
                  [f"{ec2}:instance/*", f"{ec2}:launch-template/*"], sid="AllowScopedDeletion",
                  condition=_owned(cluster, "ResourceTag")),
    ]


def _instance_profiles(cluster: str, region: str, account: str, node_role_arn: Any) -> list[Doc]:
    profiles = [f"arn:aws:iam::{account}:instance-profile/*"]
    tags = {f"kubernetes.io/cluster/{cluster}": "owned", "topology.kubernetes.io/region": region}
    request = {f"aws:RequestTag/{k}": v for k, v in tags.items()} | {"aws:RequestTag/eks:eks-cluster-name": cluster}
    resource = {f"aws:ResourceTag/{k}": v for k, v in tags.items()}
    nodeclass = "karpenter.k8s.aws/ec2nodeclass"
    return [
        statement(["iam:PassRole"], [node_role_arn], sid="AllowPassingInstanceRole",
                  condition={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}),
        statement(["iam:CreateInstanceProfile"], profiles, sid="AllowScopedInstanceProfileCreationActions",
                  condition={"StringEquals": request, "StringLike": {f"aws:RequestTag/{nodeclass}": "*"}}),
        statement(["iam:TagInstanceProfile"], profiles, sid="AllowScopedInstanceProfileTagActions",
                  condition={"StringEquals": {**resource, **request}, "StringLike": {
                      f"aws:ResourceTag/{nodeclass}": "*", f"aws:RequestTag/{nodeclass}": "*"}}),
        statement(["iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"],
                  profiles, sid="AllowScopedInstanceProfileActions",
                  condition={"StringEquals": resource, "StringLike": {f"aws:ResourceTag/{nodeclass}": "*"}}),
        statement(["iam:GetInstanceProfile"], profiles, sid="AllowInstanceProfileReadActions"),
        statement(["iam:ListInstanceProfiles"], ["*"], sid="AllowUnscopedInstanceProfileListAction"),
    ]


def _volume_key(region: str, key_arn: Any) -> list[Doc]:
    """The nodes' root volumes are encrypted with the platform's EBS key, and the principal that launches an
    instance must be able to use that key or the node terminates at once (Karpenter v1.14 troubleshooting,
    "Node terminates before ready on failed encrypted EBS volume"): through EC2 only."""
    via_ec2 = {"StringEquals": {"kms:ViaService": f"ec2.{region}.amazonaws.com"}}
    return [statement(["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                      [key_arn], sid="AllowNodeVolumeKey", condition=via_ec2),
            statement(["kms:CreateGrant"], [key_arn], sid="AllowNodeVolumeKeyGrants",
                      condition={**via_ec2, "Bool": {"kms:GrantIsForAWSResource": "true"}})]


def controller_access(*, cluster_name: str, region: str, account_id: str, node_role_arn: Any,
                      queue_arn: Any, volume_key_arn: Any) -> list[Doc]:
    """Every statement of the Karpenter controller's policy (see the module docstring for the source), plus the
    use of the nodes' volume key."""
    return [
        *_volume_key(region, volume_key_arn),
        *_node_lifecycle(cluster_name, region, account_id),
        *_instance_profiles(cluster_name, region, account_id, node_role_arn),
        statement(["eks:DescribeCluster"], [f"arn:aws:eks:{region}:{account_id}:cluster/{cluster_name}"],
                  sid="AllowAPIServerEndpointDiscovery"),
        statement(["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"], [queue_arn],
                  sid="AllowInterruptionQueueActions"),
        statement(list(DISCOVERY_ACTIONS), ["*"], sid="AllowRegionalReadActions",
                  condition={"StringEquals": {"aws:RequestedRegion": region}}),
        statement(["ssm:GetParameter"], [f"arn:aws:ssm:{region}::parameter/aws/service/*"],
                  sid="AllowSSMReadActions"),
        statement(["pricing:GetProducts"], ["*"], sid="AllowPricingReadActions"),
    ]


def interruption_queue_policy(queue_arn: Any) -> Doc:
    """The interruption queue admits EventBridge (and SQS) deliveries over TLS only (same source, the
    `KarpenterInterruptionQueuePolicy`)."""
    return {"Version": "2012-10-17", "Id": "EC2InterruptionPolicy", "Statement": [
        statement(["sqs:SendMessage"], queue_arn, sid="EventBridgeDelivers",
                  principal={"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]}),
        statement(["sqs:*"], queue_arn, effect="Deny", sid="DenyHTTP", principal={"AWS": "*"},
                  condition={"Bool": {"aws:SecureTransport": "false"}}),
    ]}


#: EventBridge rules feeding the interruption queue (same source: ScheduledChangeRule, SpotInterruptionRule,
#: RebalanceRule, InstanceStateChangeRule, CapacityReservationInterruptionRule), name → (source, detail-type).
INTERRUPTION_EVENTS: dict[str, tuple[str, str]] = {
    "scheduled-change": ("aws.health", "AWS Health Event"),
    "spot-interruption": ("aws.ec2", "EC2 Spot Instance Interruption Warning"),
    "rebalance": ("aws.ec2", "EC2 Instance Rebalance Recommendation"),
    "instance-state-change": ("aws.ec2", "EC2 Instance State-change Notification"),
    "capacity-reservation-interruption": ("aws.ec2", "EC2 Capacity Reservation Instance Interruption Warning"),
}
