"""Rules of an environment whose nodes have no internet egress (`network.nat: none`) or that mirrors its
images (`registry.mirror`): every missing VPC endpoint, credential and runner piece in one report, each
with its fix (docs/air-gapped.md). Pure functions, called by `rules.network_rules`.
"""

from __future__ import annotations

from collections.abc import Iterator

from mlops_platform.config.issues import issue
from mlops_platform.config.sections import CertificateSource, PlatformSections
from mlops_platform.core.errors import ConfigIssue
from mlops_platform.core.image_mirror import MAX_PREFIX_LENGTH, PULL_THROUGH_UPSTREAMS, Mirror

Issues = Iterator[ConfigIssue]

#: Interface endpoints nodes of a cluster without internet egress need (S3 is the gateway endpoint the
#: network always creates): image pulls (ecr.api, ecr.dkr), IRSA and Pod Identity (sts, eks-auth), node
#: join and the VPC CNI (ec2, eks), logs, load balancer and cluster-autoscaler controllers.
#: https://docs.aws.amazon.com/eks/latest/userguide/private-clusters.html
PRIVATE_NODE_ENDPOINTS = ("ecr.api", "ecr.dkr", "sts", "ec2", "eks", "eks-auth", "logs", "elasticloadbalancing",
                          "autoscaling")
#: What the in-VPC runner (aws/deployer.py) calls besides S3 (gateway endpoint: its source and the layers'
#: state): the deployer role (sts), the state bucket's SSE-KMS key and the stack secrets (kms), DescribeCluster,
#: access entries and the API token (eks), its build logs (logs), the load balancers `destroy` waits for
#: (elasticloadbalancing), the regional APIs of what the cluster and tenants layers create (ec2 security group,
#: rds tracking database, sns alert topic, ecr project repositories: tests/k8s/test_air_gapped.py lists the
#: types), and what `mlplat up`'s preflight reads (servicequotas GPU quotas, ssm AMI releases). IAM (the
#: layers' IRSA roles) is a global API: `runner_endpoints` adds its endpoint where one can exist (see
#: IAM_ENDPOINT_REGION); Budgets has none: docs/air-gapped.md says how the runner reaches them.
#: CodeBuild User Guide, vpc-support.html ("Best practices for VPCs": a build in a VPC without NAT reaches AWS
#: services only through VPC endpoints); endpoint names: PrivateLink Guide, aws-services-privatelink-support.html.
RUNNER_ENDPOINTS = ("sts", "kms", "eks", "logs", "elasticloadbalancing", "ec2", "rds", "sns", "ecr.api",
                    "servicequotas", "ssm")
#: The only Region where IAM's interface endpoint can be created (service name `com.amazonaws.iam`, no Region in
#: it); a VPC in another Region reaches it only through a Transit Gateway. IAM User Guide, "Create a VPC endpoint
#: for IAM" (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam_vpc_endpoint_create.html).
IAM_ENDPOINT_REGION = "us-east-1"
#: Where the cluster layer's images come from upstream (core/chart_images.py lists them per chart).
PUBLIC_SOURCES = "registry.k8s.io, quay.io, nvcr.io, ghcr.io, docker.io, public.ecr.aws"


def air_gap_rules(cfg: PlatformSections) -> Issues:
    """Every piece a cluster without internet egress needs, each missing one reported with its fix."""
    if cfg.air_gapped:
        yield from _endpoint_rules(cfg)
        yield from _internet_only_rules(cfg)
        if cfg.registry.mirror.enabled is False:
            yield issue("registry.mirror.enabled", f"nat: none leaves no internet egress, yet the cluster layer's "
                        f"images come from {PUBLIC_SOURCES}", False,
                        "remove enabled: false (mirroring is on without NAT), or use nat: single or one_per_az")
        if cfg.in_vpc_deployer and cfg.cluster.deployer_image is None:
            yield issue("cluster.deployer_image", "nat: none: the in-VPC runner (cluster.in_vpc_deployer) cannot "
                        "download the Pulumi CLI, its plugins, the charts and PyPI packages", None,
                        "build the runner image (docs/air-gapped.md), push it to a registry.repositories "
                        "entry and set deployer_image: <repository>:<tag>")
    yield from _iam_endpoint_rules(cfg)
    if cfg.mirroring:
        yield from _mirror_rules(cfg)
    yield from _deployer_image_rules(cfg)


def workload_endpoints(cfg: PlatformSections) -> tuple[str, ...]:
    """What the platform's pods call through IRSA, per component: MLflow reads its database secret
    (secretsmanager, k8s/tracking.py), Alertmanager publishes to SNS (k8s/monitoring.py), Karpenter resolves
    AMIs through SSM and reads its interruption queue (ssm, sqs: aws/karpenter-provider-aws issue #1157 and its
    "Interruption" docs)."""
    wanted = [(cfg.component_enabled(cfg.tracking), ("secretsmanager",)),
              (cfg.component_enabled(cfg.monitoring), ("sns",)), (cfg.karpenter, ("ssm", "sqs"))]
    return tuple(e for on, endpoints in wanted if on for e in endpoints)


def runner_endpoints(cfg: PlatformSections) -> tuple[str, ...]:
    """Endpoints the in-VPC runner needs (none when there is no runner); IAM's where it can be created (the
    layers create IRSA roles). No GitHub token: without egress the runner cannot manage GitHub at all
    (`_internet_only_rules`)."""
    if not cfg.in_vpc_deployer:
        return ()
    return RUNNER_ENDPOINTS + (("iam",) if cfg.environment.region == IAM_ENDPOINT_REGION else ())


def _internet_only_rules(cfg: PlatformSections) -> Issues:
    """What needs the internet whatever VPC endpoints exist: pulumi-github calls api.github.com
    (k8s/github_trust.py), and ACME issuance calls the ACME directory and Route 53, a global API with no
    interface endpoint, for its DNS-01 records (k8s/gateway_tls.py)."""
    if cfg.github.manage and cfg.in_vpc_deployer:
        yield issue("github.manage", "nat: none: the in-VPC runner applies the tenants layer, whose GitHub "
                    "resources call api.github.com, which no VPC endpoint reaches", True,
                    "set github.manage: false and github.subject_claim_managed_elsewhere: true (set each "
                    "repository's subject claim and environment from outside the VPC: docs/air-gapped.md), or "
                    "apply the tenants layer from a machine with internet access (cluster.in_vpc_deployer: false)")
    tls = cfg.serving.tls
    if cfg.component_enabled(cfg.serving) and tls.source is CertificateSource.ACME:
        yield issue("serving.tls.source", "nat: none: ACME certificates need the ACME directory and Route 53's "
                    "global API (DNS-01), which no VPC endpoint reaches: every Certificate would stay unissued",
                    tls.source.value, "use source: acm (certificates issued in ACM) or platform_ca, or give the "
                    "nodes egress (nat: single or one_per_az)")


def _iam_endpoint_rules(cfg: PlatformSections) -> Issues:
    """With or without NAT: the network would ask for an endpoint service that does not exist."""
    if "iam" in cfg.network.interface_endpoints and cfg.environment.region != IAM_ENDPOINT_REGION:
        yield issue("network.interface_endpoints", f"IAM's interface endpoint can only be created in "
                    f"{IAM_ENDPOINT_REGION}", cfg.environment.region,
                    f"remove iam, and reach the {IAM_ENDPOINT_REGION} endpoint through a Transit Gateway "
                    "(docs/air-gapped.md)")


def air_gap_warnings(cfg: PlatformSections) -> Issues:
    """Outside us-east-1 an air-gapped runner reaches IAM only through what the platform cannot create."""
    if cfg.air_gapped and cfg.in_vpc_deployer and cfg.environment.region != IAM_ENDPOINT_REGION:
        yield issue("environment.region", f"nat: none: the in-VPC runner creates IAM roles, and IAM's interface "
                    f"endpoint exists only in {IAM_ENDPOINT_REGION}", cfg.environment.region,
                    f"route the VPC to an IAM endpoint in {IAM_ENDPOINT_REGION} through a Transit Gateway, or "
                    "give the runner an HTTPS proxy (docs/air-gapped.md)")


def _endpoint_rules(cfg: PlatformSections) -> Issues:
    net = cfg.network
    needed = dict.fromkeys([*PRIVATE_NODE_ENDPOINTS, *workload_endpoints(cfg), *runner_endpoints(cfg)])
    missing = [e for e in needed if e not in net.interface_endpoints]
    if missing:
        yield issue("network.interface_endpoints", f"nat: none leaves nodes, the platform's pods and the in-VPC "
                    f"runner without internet egress; they need VPC endpoints for {', '.join(missing)}",
                    list(net.interface_endpoints),
                    f"add {', '.join(missing)} to network.interface_endpoints, or use nat: single/one_per_az")


def _mirror_rules(cfg: PlatformSections) -> Issues:
    mirror = cfg.registry.mirror
    for host, (field, arn) in mirror.credentials().items():
        if arn is None:
            yield issue(f"registry.mirror.{field}", f"ECR pull-through cache needs credentials for {host}, "
                        "where some of the cluster layer's images come from", None,
                        f"create a Secrets Manager secret named ecr-pullthroughcache/<name> with username and "
                        f"accessToken for {host} and set its ARN (docs/air-gapped.md)")
    longest = max(len(Mirror("", cfg.cluster_name).prefix(u)) for u in PULL_THROUGH_UPSTREAMS.values())
    if longest > MAX_PREFIX_LENGTH:
        yield issue("environment.name", f"the pull-through cache prefixes `{cfg.cluster_name}/<upstream>` are "
                    f"longer than the {MAX_PREFIX_LENGTH} characters ECR allows", cfg.environment.name,
                    f"shorten environment.name or name_prefix by {longest - MAX_PREFIX_LENGTH} characters")


def _deployer_image_rules(cfg: PlatformSections) -> Issues:
    image, parts = cfg.cluster.deployer_image, cfg.cluster.deployer_image_parts
    if parts is None:
        return
    repository, _ = parts
    if repository not in cfg.registry.repositories:
        yield issue("cluster.deployer_image", "the runner image's repository is not a platform repository", image,
                    f"add {repository} to registry.repositories (or name one of {cfg.registry.repositories})")
    if not cfg.in_vpc_deployer:
        yield issue("cluster.deployer_image", "only used by the in-VPC runner, which is off", image,
                    "remove it, or set cluster.in_vpc_deployer: true")
