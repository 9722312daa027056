"""Config sections of the `aws` layer: network, cluster, node pools, buckets, registry, budget,
account singletons and CI identity. Re-exported by `sections`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from mlops_platform.config.section_types import (
    IAM_PRINCIPAL_ARN,
    Capacity,
    Cidr,
    Consolidation,
    DnsLabel,
    Email,
    EndpointAccess,
    NatStrategy,
    NetworkMode,
    UpgradePolicy,
    _Section,
)
from mlops_platform.config.sections_gpu import MultiNodeConfig
from mlops_platform.core.gpu_sharing import MAX_REPLICAS, MIN_REPLICAS, GpuSharing
from mlops_platform.core.image_mirror import DOCKER_HUB


class ExistingNetwork(_Section):
    vpc_id: str = Field(pattern=r"^vpc-[0-9a-f]{8,17}$", description="Existing VPC id. Required.")
    private_subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = Field(
        min_length=2, description="Private subnets (one per AZ) for nodes and endpoints. Required.")
    public_subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = Field(
        default_factory=list, description="Public subnets for internet load balancers.")


class NetworkConfig(_Section):
    """`mlops-platform:network`."""

    mode: NetworkMode = Field(default=NetworkMode.MANAGED, description="Create a VPC (managed) or use an existing one.")
    cidr: Cidr = Field(default="10.0.0.0/16", description="VPC CIDR, /16../24.")
    availability_zones: list[str] = Field(
        default_factory=list, description="AZs to span (2..6). Required when mode=managed.")
    nat: NatStrategy = Field(default=NatStrategy.ONE_PER_AZ,
        description="NAT gateways: one per AZ, a single one, or none.")
    interface_endpoints: list[str] = Field(
        default_factory=lambda: ["ecr.api", "ecr.dkr", "sts", "logs"],
        description="Interface VPC endpoints (service suffixes).")
    flow_log_retention_days: int = Field(default=90, description="VPC flow-log retention.")
    existing: ExistingNetwork | None = Field(default=None, description="Required when mode=existing.")


class ClusterConfig(_Section):
    """`mlops-platform:cluster` — the EKS control plane."""

    version: str = Field(pattern=r"^1\.\d{2}$", description="Pinned Kubernetes version, e.g. 1.33. Required.")
    endpoint_access: EndpointAccess = Field(default=EndpointAccess.PRIVATE,
        description="Where the EKS API endpoint is reachable from.")
    allow_public_endpoint_cidrs: list[Cidr] = Field(
        default_factory=list,
        description="Opt-in public API endpoint restricted to these CIDRs; needs endpoint_access="
                    "public_and_private. Never 0.0.0.0/0; forbidden in prod.")
    log_retention_days: int = Field(default=90, description="Control-plane log retention.")
    admin_principal_arns: list[Annotated[str, Field(pattern=IAM_PRINCIPAL_ARN)]] = Field(
        default_factory=list, description="IAM roles/users given cluster-admin access entries.")
    deletion_protection: bool | None = Field(
        default=None, description="EKS deletion protection + Pulumi protect. Unset: true in prod, else false.")
    deployer_role_arns: list[Annotated[str, Field(pattern=IAM_PRINCIPAL_ARN)]] = Field(
        default_factory=list,
        description="IAM roles that run `mlplat up` (CI, an operator's SSO role): each gets an access entry and "
                    "cluster-admin, and the in-VPC runner may assume them.")
    in_vpc_deployer: bool | None = Field(
        default=None, description="Provision the in-VPC deploy runner (CodeBuild in the private subnets) that "
                                  "applies the cluster and tenants layers of a private cluster, as the first "
                                  "deployer role. Unset: on when deployer_role_arns lists a role.")
    deployer_image: str | None = Field(
        default=None, pattern=r"^[a-z0-9]+([._/-][a-z0-9]+)*:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$",
        description="Image of the in-VPC runner, `<repository>:<tag>` of a registry.repositories entry, built "
                    "with the Pulumi CLI, its plugins, the charts and the platform (docs/air-gapped.md). Unset: "
                    "CodeBuild's standard image, which downloads them (needs internet egress).")
    upgrade_policy: UpgradePolicy | None = Field(
        default=None,
        description="STANDARD: EKS upgrades the control plane itself when standard support ends. EXTENDED: "
                    "up to 12 more months on the version at the extended-support price. Unset: EXTENDED in "
                    "prod (never a forced upgrade of production), STANDARD elsewhere.")


    @property
    def deployer_image_parts(self) -> tuple[str, str] | None:
        """`deployer_image` as (repository, tag), None when unset: the one place that splits it (its pattern
        allows exactly one `:`, before the tag)."""
        if self.deployer_image is None:
            return None
        repository, tag = self.deployer_image.rsplit(":", 1)
        return repository, tag


class PoolConfig(_Section):
    name: DnsLabel = Field(description="Pool name (DNS label). Required.")
    instance_types: list[str] = Field(min_length=1, description="EC2 instance types. Required.")
    capacity: Capacity = Field(default=Capacity.ON_DEMAND, description="On-demand or spot instances.")
    min_size: int = Field(default=0, ge=0, description="Fewest nodes.")
    desired_size: int = Field(default=0, ge=0,
        description="Nodes at creation; the autoscaler owns the count afterwards.")
    max_size: int = Field(default=1, ge=1, le=1000, description="Most nodes.")
    disk_size_gib: int = Field(default=100, ge=20, le=16384, description="gp3 root volume.")
    labels: dict[str, str] = Field(default_factory=dict, description="Extra node labels.")


class SystemPoolConfig(PoolConfig):
    name: DnsLabel = Field(default="system", description="Pool name.")
    instance_types: list[str] = Field(default_factory=lambda: ["m6i.xlarge"], min_length=1,
                                      description="EC2 instance types.")
    ami_type: str = Field(default="AL2023_x86_64_STANDARD", description="EKS AMI type.")
    min_size: int = Field(default=2, ge=1, description="Fewest nodes.")
    desired_size: int = Field(default=2, ge=1,
        description="Nodes at creation; the autoscaler owns the count afterwards.")
    max_size: int = Field(default=6, ge=1, le=1000, description="Most nodes.")
    disk_size_gib: int = Field(default=50, ge=20, le=16384, description="gp3 root volume, GiB.")


#: Karpenter's duration syntax (NodePool CRD karpenter.sh/v1 `consolidateAfter`, `expireAfter`).
KARPENTER_DURATION = r"^(([0-9]+(s|m|h))+|Never)$"


class KarpenterPoolConfig(_Section):
    """How Karpenter runs one GPU pool (`gpu.provisioner: karpenter` only): its NodePool's capacity fallback
    and disruption settings. https://karpenter.sh/docs/concepts/disruption/"""

    on_demand_fallback: bool = Field(
        default=True, description="A spot pool may launch on-demand nodes when no spot capacity is offered "
                                  "(Karpenter prefers spot when both are allowed). Ignored by on-demand pools.")
    consolidation: Consolidation = Field(
        default=Consolidation.WHEN_EMPTY,
        description="WhenEmpty removes only nodes without GPU pods (never evicts a running job); "
                    "WhenEmptyOrUnderutilized also repacks pods onto fewer or cheaper nodes.")
    consolidate_after: str = Field(
        default="10m", pattern=KARPENTER_DURATION,
        description="How long a node stays empty/underused before it is removed (GPU nodes are the expensive "
                    "ones; a short wait still absorbs back-to-back jobs).")
    expire_after: str = Field(
        default="720h", pattern=KARPENTER_DURATION,
        description="Replace nodes older than this (picks up the pinned AMI of a newer matrix row); Never keeps "
                    "them until they are empty.")
    disruption_budget: str = Field(
        default="10%", pattern=r"^((100|[0-9]{1,2})%|[0-9]+)$",
        description="Most nodes of the pool Karpenter disrupts at once (a count or a percentage).")


class GpuPoolConfig(PoolConfig):
    ami_type: str = Field(default="AL2023_x86_64_NVIDIA", description="GPU AMI.")
    disk_size_gib: int = Field(default=200, ge=50, le=16384, description="GPU images are big.")
    sharing: GpuSharing = Field(
        default=GpuSharing.NONE,
        description="none: one pod per GPU (nvidia.com/gpu). time-slicing: each GPU advertised "
                    "time_slicing_replicas times as nvidia.com/gpu.shared (no memory isolation). mig: each GPU "
                    "partitioned into mig_profile instances, advertised as nvidia.com/mig-<profile> (A100/H100 "
                    "only). See docs/gpu.md.")
    time_slicing_replicas: int | None = Field(
        default=None, ge=MIN_REPLICAS, le=MAX_REPLICAS,
        description=f"Slices per GPU ({MIN_REPLICAS}..{MAX_REPLICAS}). Required when sharing: time-slicing; "
                    "unset otherwise.")
    mig_profile: str | None = Field(
        default=None, description="MIG profile every GPU is partitioned into, e.g. 1g.10gb (the GPU model's "
                                  "profiles: docs/gpu.md). Required when sharing: mig; unset otherwise.")
    multi_node: MultiNodeConfig | None = Field(
        default=None, description="Multi-node training placement: one AZ, capacity reservation, placement "
                                  "group, EFA. Unset: none.")
    karpenter: KarpenterPoolConfig = Field(
        default_factory=KarpenterPoolConfig,
        description="NodePool settings with gpu.provisioner: karpenter (min_size/desired_size must be 0 there: "
                    "Karpenter launches nodes for pending pods only; max_size bounds the pool through its "
                    "NodePool limits).")


class NodePoolsConfig(_Section):
    """`mlops-platform:node_pools`."""

    system: SystemPoolConfig = Field(default_factory=SystemPoolConfig,
        description="The pool the platform add-ons run on.")
    gpu: list[GpuPoolConfig] = Field(default_factory=list, description="GPU pools.")


class BucketRole(StrEnum):
    DATASETS = "datasets"
    MODELS = "models"


class ArtifactsConfig(_Section):
    """`mlops-platform:artifacts` — S3 buckets (an access-log bucket is always added)."""

    buckets: list[BucketRole] = Field(default_factory=lambda: [BucketRole.DATASETS, BucketRole.MODELS],
                                      description="Bucket roles.")
    noncurrent_version_expiration_days: int = Field(default=90, ge=1,
        description="Days noncurrent object versions are kept.")
    abort_incomplete_multipart_days: int = Field(default=7, ge=1,
        description="Days before incomplete multipart uploads are aborted.")
    log_expiration_days: int = Field(default=365, ge=1, description="Access-log retention.")
    allow_force_destroy: bool = Field(
        default=False, description="Let `pulumi destroy` delete non-empty buckets. Forbidden in prod.")


#: A Secrets Manager secret ARN whose name has the prefix ECR pull-through cache requires
#: (ECR User Guide, pull-through-cache-creating-rule.html: "The name of the secret begins with ecr-pullthroughcache/").
PULL_THROUGH_SECRET_ARN = (r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:"
                           r"ecr-pullthroughcache/[A-Za-z0-9/_+=.@-]+$")


#: The field holding the pull-through cache credential of each upstream that needs one (image_mirror's
#: PULL_THROUGH_UPSTREAMS `needs_credential`; tests/foundation/test_air_gap.py keeps the two in step).
MIRROR_CREDENTIAL_FIELDS = {DOCKER_HUB: "docker_hub_credential_arn", "ghcr.io": "github_credential_arn"}


class MirrorConfig(_Section):
    """`mlops-platform:registry.mirror` — every image the cluster layer runs served from this account's ECR
    (docs/air-gapped.md): pull-through cache rules for the registries ECR caches, `mirror/` repositories an
    operator fills (`mlplat mirror ENV`) for the others, charts read from the runner image."""

    enabled: bool | None = Field(
        default=None, description="Mirror every image into ECR. Unset: on when network.nat is none.")
    docker_hub_credential_arn: Annotated[str, Field(pattern=PULL_THROUGH_SECRET_ARN)] | None = Field(
        default=None, description="Secrets Manager secret (name `ecr-pullthroughcache/...`, keys username and "
                                  "accessToken) ECR pulls Docker Hub with. Required when mirroring.")
    github_credential_arn: Annotated[str, Field(pattern=PULL_THROUGH_SECRET_ARN)] | None = Field(
        default=None, description="Secrets Manager secret (name `ecr-pullthroughcache/...`, keys username and "
                                  "accessToken: a token with read:packages) ECR pulls ghcr.io with. Required "
                                  "when mirroring.")
    chart_directory: str = Field(
        default="/opt/mlplat/charts", pattern=r"^/[A-Za-z0-9._/-]+$",
        description="Directory of the runner image holding every pinned chart as `helm pull` saves it "
                    "(`mlplat mirror ENV` prints the commands).")

    def credentials(self) -> dict[str, tuple[str, str | None]]:
        """Upstream host → (field, secret ARN or None) of every upstream whose cache rule needs a credential."""
        return {host: (field, getattr(self, field)) for host, field in MIRROR_CREDENTIAL_FIELDS.items()}


class RegistryConfig(_Section):
    """`mlops-platform:registry` — platform ECR repositories (projects get their own, see projects)."""

    repositories: list[Annotated[str, Field(pattern=r"^[a-z0-9]+([._/-][a-z0-9]+)*$")]] = Field(
        default_factory=lambda: ["base-images", "model-servers"], description="Shared ECR repositories.")
    untagged_expiry_days: int = Field(default=7, ge=1, description="Lifecycle: untagged expiry.")
    mirror: MirrorConfig = Field(default_factory=MirrorConfig, description="Images served from this account's ECR.")


class BudgetConfig(_Section):
    """`mlops-platform:budget` — the environment's monthly AWS Budget."""

    monthly_usd: float = Field(gt=0, description="Monthly budget in USD. Required.")
    alert_thresholds_pct: list[int] = Field(default_factory=lambda: [50, 80, 100],
                                            description="Alert at these % of budget.")
    notify: list[Email] = Field(default_factory=list,
        description="Extra alert emails; the environment owners always get them.")


class AccountConfig(_Section):
    """`mlops-platform:account` — what exists once per AWS account (shared by its environments)."""

    create_autoscaling_service_role: bool = Field(
        default=True,
        description="Create the AWSServiceRoleForAutoScaling service-linked role the EBS key policy names (a fresh "
                    "account lacks it; KMS rejects policies naming missing principals). Set false when it exists "
                    "(`mlplat preflight` says so; any Auto Scaling group creates it).")
    create_spot_service_role: bool = Field(
        default=True,
        description="Create the AWSServiceRoleForEC2Spot service-linked role Karpenter's spot launches need (a fresh "
                    "account lacks it and Karpenter may not create it). Only used when `gpu.provisioner: karpenter` "
                    "and a GPU pool has `capacity: spot`. Set false when it exists (`mlplat preflight` says so).")


class CiConfig(_Section):
    """`mlops-platform:ci` — account-wide CI identity."""

    github_oidc_provider_arn: str | None = Field(
        default=None, pattern=r"^arn:aws(-[a-z]+)?:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com$",
        description="Reuse the account's existing GitHub Actions OIDC provider (one per account; `mlplat preflight` "
                    "prints its ARN). Unset: the aws layer creates it.")
