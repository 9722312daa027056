"""EKS managed node groups with launch templates: the system pool and any number of GPU pools.

Every node: IMDSv2 only with hop limit 1 (pods cannot borrow the node role), encrypted gp3 root
volume, no public IP, no SSH. GPU pools: NVIDIA AMI matching the instance family, the
`nvidia.com/gpu=true:NoSchedule` taint, gpu-type/pool labels, and cluster-autoscaler node-template
tags on the Auto Scaling group so a pool can scale up from zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from mlops_platform.aws._base import child_opts, with_name
from mlops_platform.aws.training_placement import PlacementContext, TrainingPlacement, pool_subnets
from mlops_platform.config.gpu_provisioning import gpu_node_labels
from mlops_platform.config.rules import pool_gpu_type, pool_max_gpus_per_node
from mlops_platform.config.rules_gpu import pool_shared_resource
from mlops_platform.config.sections import Capacity, GpuPoolConfig, PoolConfig, SystemPoolConfig
from mlops_platform.config.sections_gpu import MultiNodeConfig, ReservationKind
from mlops_platform.core import contract
from mlops_platform.core.gpu_sharing import advertised_per_node
from mlops_platform.core.iam import service_trust, to_json
from mlops_platform.core.versions import bottlerocket_release_parameter, node_release_version

#: The node role's managed policies. Not AmazonEKS_CNI_Policy: the VPC CNI has its own IRSA role
#: (aws.cluster), so pods that reach the instance profile cannot manage ENIs and IPs.
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly",
                 "AmazonSSMManagedInstanceCore")  # SSM Session Manager replaces SSH
CAPACITY = {Capacity.ON_DEMAND: "ON_DEMAND", Capacity.SPOT: "SPOT"}
#: EKS CreateNodegroup `capacityType` of a pool whose multi-node reservation is of that kind (Capacity Blocks
#: for ML); other reservations (on-demand capacity reservations) keep the pool's `capacity`.
RESERVATION_CAPACITY = {ReservationKind.CAPACITY_BLOCK: "CAPACITY_BLOCK"}
#: cluster-autoscaler's AWS GPU label (cloudprovider/aws/aws_cloud_provider.go `GPULabel`; README "Special
#: note on GPU instances"): with it on the node and in the node-template tags, the autoscaler treats a GPU
#: node whose device plugin has not yet advertised `nvidia.com/gpu` as not ready instead of scaling out again.
ACCELERATOR_LABEL = contract.ACCELERATOR_LABEL


@dataclass(frozen=True, kw_only=True)
class PoolSpec:
    """Everything one node group needs, derived from config by `pool_spec` (pure, tested)."""

    name: str
    """The pool's name: node-group name prefix and `mlops.io/pool` label. Required."""
    instance_types: list[str]
    """EC2 instance types the group may launch. Required."""
    ami_type: str
    """EKS AMI type (`AL2023_x86_64_NVIDIA`, ...). Required."""
    capacity_type: str
    """EKS `capacityType`: ON_DEMAND, SPOT or CAPACITY_BLOCK. Required."""
    min_size: int
    """Fewest nodes. Required."""
    desired_size: int
    """Nodes at creation (the autoscaler owns it afterwards). Required."""
    max_size: int
    """Most nodes. Required."""
    disk_size_gib: int
    """Root volume size of each node. Required."""
    labels: dict[str, str]
    """Kubernetes labels on every node. Required."""
    taints: list[tuple[str, str, str]] = field(default_factory=list)
    """(key, value, EKS effect) taints on every node. Default: none (the system pool)."""
    gpus_per_node: int = 0
    """Physical GPUs of the pool's largest instance type. Default: 0 (no GPUs)."""
    advertised: dict[str, int] = field(default_factory=dict)
    """Extended resources a node advertises: whole GPUs, or its shared slices (core.gpu_sharing). Default: none."""
    multi_node: MultiNodeConfig | None = None
    """One-AZ placement, reservation and EFA of a multi-node training pool. Default: None (all private subnets)."""


def pool_spec(pool: PoolConfig) -> PoolSpec:
    labels = {**pool.labels, contract.POOL_LABEL: pool.name}
    taints: list[tuple[str, str, str]] = []
    gpus, advertised, multi_node = 0, {}, None
    capacity = CAPACITY[pool.capacity]
    if isinstance(pool, GpuPoolConfig):
        gpu_type = pool_gpu_type(pool)
        labels |= gpu_node_labels(pool, gpu_type.value if gpu_type else "unknown")
        taints.append((contract.GPU_TAINT_KEY, contract.GPU_TAINT_VALUE, "NO_SCHEDULE"))
        gpus = pool_max_gpus_per_node(pool)
        advertised = advertised_per_node(gpus, pool_shared_resource(pool))
        multi_node = pool.multi_node
        reservation = multi_node.capacity_reservation if multi_node else None
        if reservation is not None:
            capacity = RESERVATION_CAPACITY.get(reservation.kind, capacity)
    ami = pool.ami_type if isinstance(pool, (GpuPoolConfig, SystemPoolConfig)) else "AL2023_x86_64_STANDARD"
    return PoolSpec(name=pool.name, instance_types=list(pool.instance_types), ami_type=ami, capacity_type=capacity,
                    min_size=pool.min_size, desired_size=pool.desired_size, max_size=pool.max_size,
                    disk_size_gib=pool.disk_size_gib, labels=labels, taints=taints, gpus_per_node=gpus,
                    advertised=advertised, multi_node=multi_node)


def autoscaler_tags(cluster_name: str, spec: PoolSpec) -> dict[str, str]:
    """cluster-autoscaler discovery and node-template tags (what a node would look like at zero)."""
    prefix = "k8s.io/cluster-autoscaler"
    tags = {f"{prefix}/enabled": "true", f"{prefix}/{cluster_name}": "owned"}
    tags |= {f"{prefix}/node-template/label/{k}": v for k, v in spec.labels.items()}
    effect = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
    tags |= {f"{prefix}/node-template/taint/{k}": f"{v}:{effect[e]}" for k, v, e in spec.taints}
    tags |= {f"{prefix}/node-template/resources/{res}": str(n) for res, n in spec.advertised.items()}
    return tags


#: Tags nodes (instances, volumes, interfaces) get through the launch template: only ones that never change.
#: Any launch-template change is a new version, and a new version rolls every node of the group
#: (https://docs.aws.amazon.com/eks/latest/userguide/managed-node-update-behavior.html); cost tags
#: (owner, cost-center, team) stay on the node group, launch template and Auto Scaling group instead.
STABLE_NODE_TAG_KEYS = contract.STABLE_NODE_TAG_KEYS


def node_tags(tags: dict[str, str], spec: PoolSpec) -> dict[str, str]:
    stable = {k: v for k, v in tags.items() if k in STABLE_NODE_TAG_KEYS}
    return {**stable, "mlops.io/pool": spec.name}


@dataclass(frozen=True, kw_only=True)
class NodePoolsArgs:
    """Arguments of `NodePools`."""

    cluster_name: pulumi.Input[str]
    """The EKS cluster's name as an output of the cluster (so node groups wait for it). Required."""
    cluster_name_plain: str
    """The same name as a plain string: it names launch templates and autoscaler tags. Required."""
    subnet_ids: pulumi.Input[list[str]]
    """Private subnets the nodes run in. Required."""
    system: SystemPoolConfig
    """The stack's `node_pools.system` section. Required."""
    gpu: list[GpuPoolConfig]
    """The stack's `node_pools.gpu` pools (may be empty). Required."""
    ebs_key_arn: pulumi.Input[str]
    """Key of the nodes' encrypted gp3 root volumes. Required."""
    tags: dict[str, str]
    """Tags of every pool resource. Required."""
    k8s_version: str
    """Kubernetes minor of the node groups, the control plane's (`mlplat upgrade` moves both in order); selects
    the pinned AMI release of the version matrix. Required."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """What node groups wait for (the add-ons nodes need to join: VPC CNI, kube-proxy). Default: nothing."""
    vpc_id: pulumi.Input[str] = ""
    """VPC of multi-node pools' EFA security groups. Default: '' (needed only with EFA)."""
    cluster_security_group_id: pulumi.Input[str] = ""
    """The EKS cluster security group (an EFA pool's primary interface carries it). Default: '' (EFA only)."""
    availability_zones: tuple[str, ...] = ()
    """AZs of a managed network in subnet order (a multi-node pool picks its AZ's subnet). Default: none."""


class NodePools(pulumi.ComponentResource):
    node_role: aws.iam.Role
    system: aws.eks.NodeGroup
    gpu: list[aws.eks.NodeGroup]

    def __init__(self, name: str, args: NodePoolsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:NodePools", name, None, opts)
        self._name, self._args = name, args
        self._placement = TrainingPlacement(self, name, PlacementContext(
            cluster_name=args.cluster_name_plain, vpc_id=args.vpc_id,
            cluster_security_group_id=args.cluster_security_group_id, tags=args.tags))
        self.node_role = self._role()
        self.system = self._pool(pool_spec(args.system))
        self.gpu = [self._pool(pool_spec(p)) for p in args.gpu]
        self.register_outputs({"nodeRoleArn": self.node_role.arn,
                               "nodeGroups": [g.node_group_name for g in [self.system, *self.gpu]]})

    def _role(self) -> aws.iam.Role:
        role = aws.iam.Role(f"{self._name}-node-role", assume_role_policy=to_json(service_trust("ec2.amazonaws.com")),
                            tags=self._args.tags, opts=child_opts(self))
        for policy in NODE_POLICIES:
            aws.iam.RolePolicyAttachment(f"{self._name}-{policy}", role=role.name,
                                         policy_arn=f"arn:aws:iam::aws:policy/{policy}", opts=child_opts(self))
        return role

    def _launch_template(self, spec: PoolSpec) -> aws.ec2.LaunchTemplate:
        tags = with_name({**self._args.tags, "mlops.io/pool": spec.name},
                         f"{self._args.cluster_name_plain}-{spec.name}")
        return aws.ec2.LaunchTemplate(
            f"{self._name}-{spec.name}-lt", update_default_version=True,
            name_prefix=f"{self._args.cluster_name_plain}-{spec.name}-",
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1),
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name="/dev/xvda", ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=spec.disk_size_gib, volume_type="gp3", iops=3000, throughput=125, encrypted="true",
                    kms_key_id=self._args.ebs_key_arn, delete_on_termination="true"))],
            tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind,
                                                                           tags=node_tags(self._args.tags, spec))
                                for kind in ("instance", "volume", "network-interface")],
            **self._placement.launch_template_args(spec.name, spec.multi_node, spec.instance_types),
            tags=tags, opts=child_opts(self))

    def _pool(self, spec: PoolSpec) -> aws.eks.NodeGroup:
        lt = self._launch_template(spec)
        ca_tags = autoscaler_tags(self._args.cluster_name_plain, spec)
        group = aws.eks.NodeGroup(
            # A name prefix, so a replacement (instance types, capacity, AMI type, disk) is created before the
            # old group is deleted; a fixed name would collide (node group names are unique per cluster).
            f"{self._name}-{spec.name}", cluster_name=self._args.cluster_name, node_group_name_prefix=f"{spec.name}-",
            node_role_arn=self.node_role.arn, ami_type=spec.ami_type, capacity_type=spec.capacity_type,
            subnet_ids=pool_subnets(self._args.subnet_ids, self._args.availability_zones, spec.multi_node),
            # a capacity block names its one type in the launch template (EKS capacity-blocks-mng)
            instance_types=None if spec.capacity_type == "CAPACITY_BLOCK" else spec.instance_types,
            labels=spec.labels,
            # Pinned from the version matrix: a new AMI release rolls nodes only in a reviewed commit.
            version=self._args.k8s_version, release_version=self._release_version(spec),
            taints=[aws.eks.NodeGroupTaintArgs(key=k, value=v, effect=e) for k, v, e in spec.taints],
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(min_size=spec.min_size, desired_size=spec.desired_size,
                                                              max_size=spec.max_size),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable_percentage=33),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=lt.id, version=lt.latest_version.apply(str)),
            tags={**self._args.tags, **ca_tags, "mlops.io/pool": spec.name},
            # The autoscaler owns desired size after creation; re-applying the stack must not reset it.
            opts=child_opts(self, depends_on=self._args.depends_on, ignore_changes=["scalingConfig.desiredSize"]))
        self._tag_asg(spec, group, ca_tags)
        return group

    def _release_version(self, spec: PoolSpec) -> pulumi.Input[str] | None:
        """The matrix's AMI release: AL2023's by value; Bottlerocket's read from the SSM parameter of the pinned
        release (versions.bottlerocket_release_parameter: the path names the release, so the value is fixed).
        `insecure_value`: the provider marks `value` secret, and a release version is not one."""
        parameter = bottlerocket_release_parameter(self._args.k8s_version, spec.ami_type)
        if parameter is None:
            return node_release_version(self._args.k8s_version, spec.ami_type)
        return aws.ssm.get_parameter_output(name=parameter, with_decryption=False,
                                            opts=pulumi.InvokeOutputOptions(parent=self)).insecure_value

    def _tag_asg(self, spec: PoolSpec, group: aws.eks.NodeGroup, tags: dict[str, str]) -> None:
        """Node-group tags do not reach its Auto Scaling group, where the autoscaler reads them."""
        asg = group.resources.apply(lambda r: r[0].autoscaling_groups[0].name if r and r[0].autoscaling_groups else "")
        for key, value in sorted(tags.items()):
            # Named by tag key, not position: a new label never replaces the other tags.
            aws.autoscaling.Tag(f"{self._name}-{spec.name}-asg-{key.replace('/', '_')}", autoscaling_group_name=asg,
                                tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                                opts=child_opts(self))
