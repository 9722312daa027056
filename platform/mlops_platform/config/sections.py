"""Typed stack configuration: one frozen pydantic model per section of `mlops-platform:*` config.

Every field documents its default where it is declared; the defaults are the API. Structure, types and
formats are checked here (`PlatformSections`); rules that span fields or depend on the environment tier
live in `rules.py`, and `schema.PlatformConfig` runs them as the last step of its validation, so one
validation reports everything.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, SecretStr

from mlops_platform.config.section_types import (
    ACCOUNT_ID,
    DNS_LABEL,
    IAM_PRINCIPAL_ARN,
    REGION,
    TAG_KEY,
    BranchName,
    Capacity,
    Cidr,
    DnsLabel,
    Email,
    EndpointAccess,
    NatStrategy,
    NetworkMode,
    Tier,
    UpgradePolicy,
    _Section,
)
from mlops_platform.core.shards import MAX_SHARDS

#: Public names; the building blocks come from `section_types` and stay importable from here.
__all__ = [
    "ACCOUNT_ID", "DNS_LABEL", "IAM_PRINCIPAL_ARN", "REGION", "TAG_KEY", "AccountConfig", "ArtifactsConfig",
    "BranchName", "BucketRole", "BudgetConfig", "Capacity", "CiConfig", "Cidr", "ClusterConfig", "ComponentToggle",
    "DnsLabel", "Email", "EndpointAccess", "EnvironmentConfig", "ExistingNetwork", "GithubConfig",
    "GpuGovernanceConfig", "GpuPoolConfig", "MonitoringConfig", "NatStrategy", "NetworkConfig",
    "NetworkMode", "NodePoolsConfig", "PipelinesConfig", "PlatformSections", "PoolConfig", "ProjectConfig",
    "RegistryConfig", "ServingConfig", "SystemPoolConfig", "TenantsConfig", "Tier", "TrackingConfig",
    "TrainingConfig", "UpgradePolicy"
]


class EnvironmentConfig(_Section):
    """`mlops-platform:environment` — who and where."""

    name: DnsLabel = Field(description="Environment name, a DNS label (e.g. dev). Required.")
    tier: Tier = Field(description="dev | staging | prod; selects defaults and strict rules. Required.")
    account_id: str = Field(pattern=ACCOUNT_ID, description="12-digit AWS account id. Required.")
    region: str = Field(pattern=REGION, description="AWS region, e.g. us-east-1. Required.")
    owners: list[Email] = Field(min_length=1, description="Owner emails; budget alerts go here. Required.")
    cost_center: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Cost-center tag. Required.")
    name_prefix: DnsLabel = Field(default="mlops", description="Prefix of global names.")
    tags: dict[Annotated[str, Field(pattern=TAG_KEY)], str] = Field(
        default_factory=dict, description="Extra tags on every resource.")


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
    upgrade_policy: UpgradePolicy | None = Field(
        default=None,
        description="STANDARD: EKS upgrades the control plane itself when standard support ends. EXTENDED: "
                    "up to 12 more months on the version at the extended-support price. Unset: EXTENDED in "
                    "prod (never a forced upgrade of production), STANDARD elsewhere.")


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


class GpuPoolConfig(PoolConfig):
    ami_type: str = Field(default="AL2023_x86_64_NVIDIA", description="GPU AMI.")
    disk_size_gib: int = Field(default=200, ge=50, le=16384, description="GPU images are big.")


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


class RegistryConfig(_Section):
    """`mlops-platform:registry` — platform ECR repositories (projects get their own, see projects)."""

    repositories: list[Annotated[str, Field(pattern=r"^[a-z0-9]+([._/-][a-z0-9]+)*$")]] = Field(
        default_factory=lambda: ["base-images", "model-servers"], description="Shared ECR repositories.")
    untagged_expiry_days: int = Field(default=7, ge=1, description="Lifecycle: untagged expiry.")


class BudgetConfig(_Section):
    """`mlops-platform:budget` — the environment's monthly AWS Budget."""

    monthly_usd: float = Field(gt=0, description="Monthly budget in USD. Required.")
    alert_thresholds_pct: list[int] = Field(default_factory=lambda: [50, 80, 100],
                                            description="Alert at these % of budget.")
    notify: list[Email] = Field(default_factory=list,
        description="Extra alert emails; the environment owners always get them.")


class GpuGovernanceConfig(_Section):
    """`mlops-platform:gpu`."""

    max_total_gpus: int = Field(default=64, ge=0, description="Cap on sum of max GPUs over pools.")


class ComponentToggle(_Section):
    enabled: bool | None = Field(default=None, description="Unset: on in every tier.")


class MonitoringConfig(ComponentToggle):
    """`mlops-platform:monitoring` — kube-prometheus-stack with Alertmanager on."""

    retention: str | None = Field(default=None, pattern=r"^\d+[hdw]$",
                                  description="Prometheus retention. Unset: 24h dev, 7d staging, 30d prod.")
    storage_gib: int = Field(default=50, ge=10, description="Prometheus volume.")
    alert_emails: list[Email] = Field(default_factory=list,
        description="Alert receivers; empty: the environment owners.")
    slack_webhook_url: SecretStr | None = Field(
        default=None, description="Slack receiver webhook; keep it a Pulumi secret. Unset: no Slack receiver.")
    gpu_idle_minutes: int = Field(default=30, ge=5, description="GPU-idle alert window.")
    gpu_pending_minutes: int = Field(default=15, ge=1, description="Pending GPU pod alert.")
    serving_latency_p99_ms: int = Field(default=500, ge=1, description="Serving p99 SLO.")
    serving_error_rate_pct: float = Field(default=1.0, gt=0, description="Serving 5xx SLO.")
    drift_threshold: float = Field(default=0.2, gt=0, description="Drift score alert threshold.")


class ServingConfig(ComponentToggle):
    """`mlops-platform:serving` — KServe."""

    ingress_domain: str = Field(default="models.internal", description="Domain model endpoints are served under.")


class TrackingConfig(ComponentToggle):
    """`mlops-platform:tracking` — MLflow on RDS PostgreSQL + the models bucket."""

    db_instance_class: str = Field(default="db.t4g.medium", description="RDS instance class of the MLflow database.")
    db_storage_gib: int = Field(default=50, ge=20, description="Allocated storage of the MLflow database, GiB.")
    backup_retention_days: int | None = Field(default=None, ge=1, le=35,
                                              description="Unset: 7, 14 in prod.")
    multi_az: bool | None = Field(default=None, description="Unset: true in prod, else false.")


class TrainingConfig(ComponentToggle):
    """`mlops-platform:training` — KubeRay operator."""


class TenantsConfig(_Section):
    """`mlops-platform:tenants` — how the projects are laid out in stacks (docs/scale-out.md)."""

    shards: int = Field(default=1, ge=1, le=MAX_SHARDS, description="Stacks the projects are split into, run "
                        "in parallel by CI (`mlplat shards ENV` lists them); 1 keeps every project in one stack.")


class PipelinesConfig(ComponentToggle):
    """`mlops-platform:pipelines` — Argo Workflows + Argo Events: project pipelines run in the cluster,
    started by schedule, on demand or by the project's drift alert."""

    controller_replicas: int | None = Field(
        default=None, ge=1, le=5,
        description="Replicas of each controller (leader election; >1 adds a PDB). Unset: 2 in prod, else 1.")
    retrain_cooldown_minutes: int = Field(
        default=60, ge=5, le=1440,
        description="Minimum minutes between two drift-triggered retrains of one project.")


class AccountConfig(_Section):
    """`mlops-platform:account` — what exists once per AWS account (shared by its environments)."""

    create_autoscaling_service_role: bool = Field(
        default=True,
        description="Create the AWSServiceRoleForAutoScaling service-linked role the EBS key policy names (a fresh "
                    "account lacks it; KMS rejects policies naming missing principals). Set false when it exists "
                    "(`mlplat preflight` says so; any Auto Scaling group creates it).")


class CiConfig(_Section):
    """`mlops-platform:ci` — account-wide CI identity."""

    github_oidc_provider_arn: str | None = Field(
        default=None, pattern=r"^arn:aws(-[a-z]+)?:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com$",
        description="Reuse the account's existing GitHub Actions OIDC provider (one per account; `mlplat preflight` "
                    "prints its ARN). Unset: the aws layer creates it.")


class GithubConfig(_Section):
    """`mlops-platform:github` — the GitHub side of each project's CI trust, managed with pulumi-github."""

    manage: bool = Field(
        default=False,
        description="Per project, manage the repository's GitHub environment named like this environment (deployment "
                    "branch policy: main only; required reviewers in prod) and its OIDC subject claim (repo, "
                    "context, job_workflow_ref); the CI role then trusts only the deploy workflow at refs/heads/main. "
                    "Needs GITHUB_TOKEN with admin rights on the repositories.")
    reviewer_team_ids: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=list, description="GitHub team ids whose approval a deployment to this environment "
                                          "waits for (prod needs at least one reviewer).")
    reviewer_user_ids: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=list, description="GitHub user ids whose approval a deployment waits for.")
    token_secret: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9/_+=.@-]{1,512}$",
        description="Secrets Manager secret (name) holding the GitHub token the in-VPC deploy runner exports as "
                    "GITHUB_TOKEN. Required when manage is on and the in-VPC runner deploys.")


class ProjectConfig(_Section):
    """One entry of `mlops-platform:projects` (a tenant)."""

    name: DnsLabel = Field(description="Project slug = namespace name. Required.")
    owners: list[Email] = Field(min_length=1, description="Owner emails; budget alerts go here. Required.")
    github_repo: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", description="org/repo. Required.")
    branches: list[BranchName] = Field(
        default_factory=lambda: ["main"],
        description="Branches CI may deploy from, each named exactly (no wildcards: they widen the CI role's trust).")
    gpu_quota: int = Field(default=0, ge=0, description="requests.nvidia.com/gpu quota.")
    cpu_quota: int = Field(default=16, ge=1, description="CPU cores quota.")
    memory_quota_gib: int = Field(default=64, ge=1, description="Memory quota.")
    monthly_budget_usd: float = Field(default=500.0, gt=0, description="Project budget.")
    cost_center: str | None = Field(default=None, description="Unset: the environment's cost center.")
    previous_names: list[DnsLabel] = Field(
        default_factory=list, description="Former names of a renamed project, oldest first: its platform resources "
                                          "move to the new name (aliases) and keep the physical names of the oldest "
                                          "(namespace, roles, repository cannot be renamed in place).")


class PlatformSections(_Section):
    """The whole `mlops-platform:*` namespace of one stack file, structurally valid (rules not yet applied:
    use `schema.PlatformConfig`, which is this plus the cross-field rules)."""

    environment: EnvironmentConfig
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    cluster: ClusterConfig
    node_pools: NodePoolsConfig = Field(default_factory=NodePoolsConfig)
    artifacts: ArtifactsConfig = Field(default_factory=ArtifactsConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    budget: BudgetConfig
    gpu: GpuGovernanceConfig = Field(default_factory=GpuGovernanceConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    pipelines: PipelinesConfig = Field(default_factory=PipelinesConfig)
    account: AccountConfig = Field(default_factory=AccountConfig)
    ci: CiConfig = Field(default_factory=CiConfig)
    github: GithubConfig = Field(default_factory=GithubConfig)
    projects: list[ProjectConfig] = Field(default_factory=list, description="Tenants.")
    tenants: TenantsConfig = Field(default_factory=TenantsConfig)

    # Resolved per-tier defaults: one place, so components never re-derive them.
    @property
    def tier(self) -> Tier:
        return self.environment.tier

    @property
    def is_prod(self) -> bool:
        return self.environment.tier is Tier.PROD

    @property
    def cluster_name(self) -> str:
        return f"{self.environment.name_prefix}-{self.environment.name}"

    @property
    def in_vpc_deployer(self) -> bool:
        on = self.cluster.in_vpc_deployer
        return bool(self.cluster.deployer_role_arns) if on is None else on

    @property
    def deletion_protection(self) -> bool:
        dp = self.cluster.deletion_protection
        return self.is_prod if dp is None else dp

    @property
    def upgrade_policy(self) -> UpgradePolicy:
        chosen = self.cluster.upgrade_policy
        if chosen is not None:
            return chosen
        return UpgradePolicy.EXTENDED if self.is_prod else UpgradePolicy.STANDARD

    def component_enabled(self, section: ComponentToggle) -> bool:
        return True if section.enabled is None else section.enabled

    @property
    def monitoring_retention(self) -> str:
        default = {Tier.DEV: "24h", Tier.STAGING: "7d", Tier.PROD: "30d"}[self.tier]
        return self.monitoring.retention or default

    @property
    def tracking_multi_az(self) -> bool:
        return self.is_prod if self.tracking.multi_az is None else self.tracking.multi_az

    @property
    def pipelines_replicas(self) -> int:
        replicas = self.pipelines.controller_replicas
        return (2 if self.is_prod else 1) if replicas is None else replicas

    @property
    def tracking_backup_days(self) -> int:
        return self.tracking.backup_retention_days or (14 if self.is_prod else 7)

    @property
    def base_tags(self) -> dict[str, str]:
        env = self.environment
        return {**env.tags, "environment": env.name, "owner": env.owners[0],
                "cost-center": env.cost_center, "managed-by": "mlops-platform"}
