"""What Karpenter needs from AWS (`gpu.provisioner: karpenter`): the controller's role, the GPU nodes' role
and cluster access, the interruption queue with its EventBridge rules, and the discovery tags its
EC2NodeClasses select subnets and the security group by. The controller and its NodePools are installed by
the cluster layer (k8s/karpenter.py).

Sources: Karpenter v1.14 getting started (aws/karpenter-provider-aws website/content/en/v1.14/getting-started/
getting-started-with-karpenter: `cloudformation.yaml` for the policies, queue and rules; `step02-create-cluster.sh`
for the Pod Identity association and the node role's cluster access).

The controller gets its AWS credentials through EKS Pod Identity, not IRSA: the association lives here beside
the role, so the role ARN never has to reach the chart in the cluster layer (the ServiceAccount needs no
annotation), the trust is pinned to this cluster, namespace and ServiceAccount by session tags, and the
Pod Identity agent add-on is already part of every cluster (aws/cluster.py PRE_NODE_ADDONS). It is also how
Karpenter's own getting-started guide binds the controller.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from mlops_platform.aws._base import child_opts
from mlops_platform.aws.nodepools import NODE_POLICIES
from mlops_platform.core import contract
from mlops_platform.core.iam import document, service_trust, to_json
from mlops_platform.core.iam_karpenter import (
    INTERRUPTION_EVENTS,
    KARPENTER_NAMESPACE,
    KARPENTER_SERVICE_ACCOUNT,
    controller_access,
    interruption_queue_policy,
    pod_identity_trust,
)
from mlops_platform.core.naming import iam_name

#: Seconds an interruption message is kept: upstream's MessageRetentionPeriod (a stale warning is useless).
QUEUE_RETENTION_SECONDS = 300


@dataclass(frozen=True, kw_only=True)
class KarpenterAccessArgs:
    """Arguments of `KarpenterAccess`."""

    cluster_name: pulumi.Input[str]
    """The EKS cluster's name as an output of the cluster (so entries and associations wait for it). Required."""
    cluster_name_plain: str
    """The same name as a plain string: IAM condition keys, discovery tag values and names use it. Required."""
    account_id: str
    """Account of every ARN the controller's policy scopes to. Required."""
    region: str
    """Region of every ARN the controller's policy scopes to. Required."""
    cluster_security_group_id: pulumi.Input[str]
    """The EKS-created cluster security group the GPU nodes join (tagged for discovery). Required."""
    volume_key_arn: pulumi.Input[str]
    """The platform's EBS key, which encrypts the GPU nodes' root volumes (the controller launches them). Required."""
    tags: dict[str, str]
    """Tags of every resource. Required."""
    brought_subnet_ids: list[str] = field(default_factory=list)
    """Private subnets of a brought VPC, tagged for discovery here (a managed VPC's subnets carry the tag from
    aws.network). Default: none."""
    instance_profile: bool = False
    """Make the GPU nodes' instance profile here, for EC2NodeClasses that name it (`instanceProfile`) instead of
    the role Karpenter would make one from through the IAM API: a VPC without internet egress reaches IAM only
    through its interface endpoint, which exists in us-east-1 alone (IAM User Guide, "Create a VPC endpoint for
    IAM": https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam_vpc_endpoint_create.html).
    Default: False (Karpenter manages the profile from the role, as upstream's getting-started does)."""


class KarpenterAccess(pulumi.ComponentResource):
    """IAM, interruption handling and discovery tags of Karpenter."""

    node_role: aws.iam.Role
    controller_role: aws.iam.Role
    queue: aws.sqs.Queue
    instance_profile: aws.iam.InstanceProfile | None

    def __init__(self, name: str, args: KarpenterAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:KarpenterAccess", name, None, opts)
        self._name, self._args = name, args
        self.node_role = self._node_role()
        self.instance_profile = (aws.iam.InstanceProfile(
            f"{name}-node-profile", name=iam_name(args.cluster_name_plain, "karpenter-node"), role=self.node_role.name,
            tags=args.tags, opts=child_opts(self)) if args.instance_profile else None)
        self.queue = self._interruption_queue()
        self.controller_role = self._controller()
        self._discovery_tags()
        self.register_outputs({"nodeRoleName": self.node_role.name, "controllerRoleArn": self.controller_role.arn,
                               "interruptionQueue": self.queue.name})

    def _node_role(self) -> aws.iam.Role:
        """The GPU nodes' role: the managed node groups' policies, and an EC2_LINUX access entry so its nodes
        can join (https://docs.aws.amazon.com/eks/latest/userguide/creating-access-entries.html; EC2_LINUX
        entries take no access policy: EKS puts the nodes in system:nodes). Karpenter creates the instance
        profile itself from the EC2NodeClass `role` (its policy's instance-profile statements), unless
        `instance_profile` makes it here."""
        a = self._args
        role = aws.iam.Role(f"{self._name}-node-role", name=iam_name(a.cluster_name_plain, "karpenter-node"),
                            assume_role_policy=to_json(service_trust("ec2.amazonaws.com")), tags=a.tags,
                            opts=child_opts(self))
        for policy in NODE_POLICIES:
            aws.iam.RolePolicyAttachment(f"{self._name}-node-{policy}", role=role.name,
                                         policy_arn=f"arn:aws:iam::aws:policy/{policy}", opts=child_opts(self))
        aws.eks.AccessEntry(f"{self._name}-node-access", cluster_name=a.cluster_name, principal_arn=role.arn,
                            type="EC2_LINUX", tags=a.tags, opts=child_opts(self))
        return role

    def _interruption_queue(self) -> aws.sqs.Queue:
        """Encrypted with SQS-managed keys as upstream's queue is: EventBridge can deliver to an SSE-SQS queue
        without a key policy grant, which a customer managed key would need
        (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-troubleshooting.html, "encrypted queue")."""
        a = self._args
        queue = aws.sqs.Queue(f"{self._name}-interruptions", name=f"{a.cluster_name_plain}-karpenter",
                              message_retention_seconds=QUEUE_RETENTION_SECONDS, sqs_managed_sse_enabled=True,
                              tags=a.tags, opts=child_opts(self))
        aws.sqs.QueuePolicy(f"{self._name}-interruptions-policy", queue_url=queue.url,
                            policy=to_json(interruption_queue_policy(queue.arn)), opts=child_opts(self))
        for event, (source, detail) in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(
                f"{self._name}-{event}", name=iam_name(a.cluster_name_plain, "karpenter", event, limit=64),
                description=f"Karpenter: {detail}", event_pattern=pulumi.Output.json_dumps(
                    {"source": [source], "detail-type": [detail]}), tags=a.tags, opts=child_opts(self))
            aws.cloudwatch.EventTarget(f"{self._name}-{event}-target", rule=rule.name, arn=queue.arn,
                                       target_id="KarpenterInterruptionQueueTarget", opts=child_opts(self))
        return queue

    def _controller(self) -> aws.iam.Role:
        a = self._args
        role = aws.iam.Role(
            f"{self._name}-controller-role", name=iam_name(a.cluster_name_plain, "karpenter"),
            assume_role_policy=to_json(pod_identity_trust(a.account_id, a.cluster_name_plain, KARPENTER_NAMESPACE,
                                                          KARPENTER_SERVICE_ACCOUNT)),
            tags=a.tags, opts=child_opts(self))
        aws.iam.RolePolicy(f"{self._name}-controller-policy", role=role.id, policy=to_json(document(*controller_access(
            cluster_name=a.cluster_name_plain, region=a.region, account_id=a.account_id,
            node_role_arn=self.node_role.arn, queue_arn=self.queue.arn, volume_key_arn=a.volume_key_arn))),
            opts=child_opts(self))
        aws.eks.PodIdentityAssociation(f"{self._name}-controller-identity", cluster_name=a.cluster_name,
                                       namespace=KARPENTER_NAMESPACE, service_account=KARPENTER_SERVICE_ACCOUNT,
                                       role_arn=role.arn, tags=a.tags, opts=child_opts(self))
        return role

    def _discovery_tags(self) -> None:
        """`karpenter.sh/discovery` on resources the platform does not manage the tags of: the EKS-created
        cluster security group and brought subnets (aws.ec2.Tag would fight a resource that owns its tags)."""
        a = self._args
        targets = {"cluster-sg": a.cluster_security_group_id, **{s: s for s in a.brought_subnet_ids}}
        for key, resource_id in targets.items():
            aws.ec2.Tag(f"{self._name}-discovery-{key}", resource_id=resource_id, key=contract.KARPENTER_DISCOVERY_TAG,
                        value=a.cluster_name_plain, opts=child_opts(self))
