"""VPC across N AZs: public + private subnets, a NAT strategy, S3 gateway and interface endpoints,
flow logs — or a brought VPC passed through unchanged."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from mlops_platform.aws._base import child_opts, with_name
from mlops_platform.config.sections import NatStrategy, NetworkConfig, NetworkMode
from mlops_platform.core import contract
from mlops_platform.core.iam import document, service_trust, statement, to_json


def subnet_plan(cidr: str, az_count: int) -> tuple[list[str], list[str]]:
    """(public, private) subnet CIDRs: private get 1/8 of the VPC each; public share the last 1/8.

    Large private subnets because EKS pods take VPC IPs (VPC CNI); small public ones only hold NAT
    gateways and load balancers. Deterministic, so adding an AZ never renumbers existing subnets.
    """
    vpc = ipaddress.IPv4Network(cidr)
    if not 1 <= az_count <= 6:
        raise ValueError(f"az_count must be 1..6, got {az_count}")
    eighths = list(vpc.subnets(new_prefix=vpc.prefixlen + 3))
    public_pool = list(eighths[7].subnets(new_prefix=vpc.prefixlen + 6))
    return [str(n) for n in public_pool[:az_count]], [str(n) for n in eighths[:az_count]]


def nat_gateway_count(strategy: NatStrategy, az_count: int) -> int:
    return {NatStrategy.ONE_PER_AZ: az_count, NatStrategy.SINGLE: 1, NatStrategy.NONE: 0}[strategy]


#: Interface endpoints whose service name carries no Region: IAM's (IAM User Guide, "Create a VPC endpoint for
#: IAM": "The AWS PrivateLink interface VPC endpoint service name for IAM is com.amazonaws.iam", us-east-1 only).
GLOBAL_ENDPOINT_SERVICES = {"iam": "com.amazonaws.iam"}


def endpoint_service(region: str, service: str) -> str:
    """PrivateLink service name of an interface endpoint (`network.interface_endpoints` entry)."""
    return GLOBAL_ENDPOINT_SERVICES.get(service, f"com.amazonaws.{region}.{service}")


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    """Arguments of `Network`."""

    config: NetworkConfig
    """The stack's `network` section: new VPC (CIDR, AZs, NAT strategy) or an existing one. Required."""
    region: str
    """Region of the VPC endpoints' service names. Required."""
    cluster_name: str
    """EKS cluster the subnets are tagged for (load balancer discovery); names the flow-log group. Required."""
    tags: dict[str, str]
    """Tags of every network resource. Required."""
    account_id: str
    """Account of the VPC: the flow-log role trusts the flow-log service for this account's flow logs only.
    Required."""
    flow_log_key_arn: pulumi.Input[str] | None = None
    """Key of the flow-log group's encryption. Default: none (CloudWatch's own encryption)."""
    karpenter_discovery: bool = False
    """Tag the private subnets `karpenter.sh/discovery: <cluster>`, where Karpenter's EC2NodeClasses launch GPU
    nodes (gpu.provisioner: karpenter; brought subnets are tagged by aws.karpenter). Default: off."""


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]
    public_subnet_ids: pulumi.Output[list[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:Network", name, None, opts)
        self._name, self._args = name, args
        if args.config.mode == NetworkMode.EXISTING:
            self._existing()
        else:
            self._managed()
        self.register_outputs({"vpcId": self.vpc_id, "privateSubnetIds": self.private_subnet_ids,
                               "publicSubnetIds": self.public_subnet_ids})

    def _existing(self) -> None:
        existing = self._args.config.existing
        assert existing is not None  # guaranteed by config rules
        self.vpc_id = pulumi.Output.from_input(existing.vpc_id)
        self.private_subnet_ids = pulumi.Output.from_input(list(existing.private_subnet_ids))
        self.public_subnet_ids = pulumi.Output.from_input(list(existing.public_subnet_ids))

    def _managed(self) -> None:
        cfg, name, tags = self._args.config, self._name, self._args.tags
        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=cfg.cidr, enable_dns_hostnames=True, enable_dns_support=True,
                          tags=with_name(tags, name), opts=child_opts(self))
        # The default security group of a VPC allows all traffic between members: lock it down.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[],
                                     tags=with_name(tags, f"{name}-default-locked"), opts=child_opts(self))
        public_cidrs, private_cidrs = subnet_plan(cfg.cidr, len(cfg.availability_zones))
        public = [self._subnet(vpc, az, cidr, public=True)
                  for az, cidr in zip(cfg.availability_zones, public_cidrs, strict=True)]
        private = [self._subnet(vpc, az, cidr, public=False)
                   for az, cidr in zip(cfg.availability_zones, private_cidrs, strict=True)]
        private_tables = self._routing(vpc, public, private)
        self._endpoints(vpc, private, private_tables)
        self._flow_logs(vpc)
        self.vpc_id = vpc.id
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private])
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public])

    def _subnet(self, vpc: aws.ec2.Vpc, az: str, cidr: str, public: bool) -> aws.ec2.Subnet:
        kind = "public" if public else "private"
        # Load-balancer discovery tags: internet-facing LBs only in public subnets, internal in private.
        role = {"kubernetes.io/role/elb": "1"} if public else {"kubernetes.io/role/internal-elb": "1"}
        tags = {**with_name(self._args.tags, f"{self._name}-{kind}-{az}"), **role,
                f"kubernetes.io/cluster/{self._args.cluster_name}": "shared", "mlops.io/subnet-tier": kind}
        if self._args.karpenter_discovery and not public:
            tags[contract.KARPENTER_DISCOVERY_TAG] = self._args.cluster_name
        return aws.ec2.Subnet(f"{self._name}-{kind}-{az}", vpc_id=vpc.id, cidr_block=cidr, availability_zone=az,
                              map_public_ip_on_launch=False, tags=tags, opts=child_opts(self))

    def _routing(self, vpc: aws.ec2.Vpc, public: list[aws.ec2.Subnet],
                 private: list[aws.ec2.Subnet]) -> list[aws.ec2.RouteTable]:
        name, tags, cfg = self._name, self._args.tags, self._args.config
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=with_name(tags, name), opts=child_opts(self))
        public_rt = aws.ec2.RouteTable(f"{name}-public-rt", vpc_id=vpc.id, tags=with_name(tags, f"{name}-public"),
                                       opts=child_opts(self))
        aws.ec2.Route(f"{name}-public-default", route_table_id=public_rt.id, destination_cidr_block="0.0.0.0/0",
                      gateway_id=igw.id, opts=child_opts(self))
        for subnet, az in zip(public, cfg.availability_zones, strict=True):
            aws.ec2.RouteTableAssociation(f"{name}-public-{az}", subnet_id=subnet.id, route_table_id=public_rt.id,
                                          opts=child_opts(self))
        nats = [self._nat(public[i], cfg.availability_zones[i], igw)
                for i in range(nat_gateway_count(cfg.nat, len(public)))]
        tables = []
        for i, (subnet, az) in enumerate(zip(private, cfg.availability_zones, strict=True)):
            rt = aws.ec2.RouteTable(f"{name}-private-rt-{az}", vpc_id=vpc.id,
                                    tags=with_name(tags, f"{name}-private-{az}"), opts=child_opts(self))
            if nats:
                aws.ec2.Route(f"{name}-private-default-{az}", route_table_id=rt.id, destination_cidr_block="0.0.0.0/0",
                              nat_gateway_id=nats[min(i, len(nats) - 1)].id, opts=child_opts(self))
            aws.ec2.RouteTableAssociation(f"{name}-private-{az}", subnet_id=subnet.id, route_table_id=rt.id,
                                          opts=child_opts(self))
            tables.append(rt)
        return tables

    def _nat(self, subnet: aws.ec2.Subnet, az: str, igw: aws.ec2.InternetGateway) -> aws.ec2.NatGateway:
        tags = with_name(self._args.tags, f"{self._name}-nat-{az}")
        eip = aws.ec2.Eip(f"{self._name}-nat-eip-{az}", domain="vpc", tags=tags, opts=child_opts(self))
        return aws.ec2.NatGateway(f"{self._name}-nat-{az}", allocation_id=eip.id, subnet_id=subnet.id, tags=tags,
                                  opts=child_opts(self, depends_on=[igw]))

    def _endpoints(self, vpc: aws.ec2.Vpc, private: list[aws.ec2.Subnet], tables: list[aws.ec2.RouteTable]) -> None:
        name, tags, region = self._name, self._args.tags, self._args.region
        aws.ec2.VpcEndpoint(f"{name}-s3", vpc_id=vpc.id, service_name=f"com.amazonaws.{region}.s3",
                            vpc_endpoint_type="Gateway", route_table_ids=[t.id for t in tables],
                            tags=with_name(tags, f"{name}-s3"), opts=child_opts(self))
        if not self._args.config.interface_endpoints:
            return
        sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints", vpc_id=vpc.id, description="HTTPS from inside the VPC to interface endpoints",
            ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=443, to_port=443,
                                                      cidr_blocks=[self._args.config.cidr],
                                                      description="HTTPS from the VPC")],
            tags=with_name(tags, f"{name}-endpoints"), opts=child_opts(self))
        for service in self._args.config.interface_endpoints:
            aws.ec2.VpcEndpoint(f"{name}-{service.replace('.', '-')}", vpc_id=vpc.id,
                                service_name=endpoint_service(region, service), vpc_endpoint_type="Interface",
                                private_dns_enabled=True, subnet_ids=[s.id for s in private],
                                security_group_ids=[sg.id], tags=with_name(tags, f"{name}-{service}"),
                                opts=child_opts(self))

    def _flow_logs(self, vpc: aws.ec2.Vpc) -> None:
        name, tags, cfg = self._name, self._args.tags, self._args.config
        group = aws.cloudwatch.LogGroup(f"{name}-flow-logs", name=f"/mlops/{self._args.cluster_name}/vpc-flow-logs",
                                        retention_in_days=cfg.flow_log_retention_days,
                                        kms_key_id=self._args.flow_log_key_arn, tags=tags, opts=child_opts(self))
        # confused deputy: the service assumes the role only for this account's flow logs in this region
        region, account = self._args.region, self._args.account_id
        trust = service_trust("vpc-flow-logs.amazonaws.com", source_account=account,
                              source_arn=f"arn:aws:ec2:{region}:{account}:vpc-flow-log/*")
        role = aws.iam.Role(f"{name}-flow-logs", assume_role_policy=to_json(trust), tags=tags, opts=child_opts(self))
        write = document(statement(["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                                   [group.arn, pulumi.Output.concat(group.arn, ":*")]))
        aws.iam.RolePolicy(f"{name}-flow-logs", role=role.id, policy=to_json(write), opts=child_opts(self))
        aws.ec2.FlowLog(f"{name}-flow-log", vpc_id=vpc.id, traffic_type="ALL", log_destination_type="cloud-watch-logs",
                        log_destination=group.arn, iam_role_arn=role.arn, max_aggregation_interval=60,
                        tags=with_name(tags, name), opts=child_opts(self))
