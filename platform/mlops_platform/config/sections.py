"""Typed stack configuration: one frozen pydantic model per section of `mlops-platform:*` config.

Every field documents its default where it is declared; the defaults are the API. Structure, types and
formats are checked here (`PlatformSections`); rules that span fields or depend on the environment tier
live in `rules.py`, and `schema.PlatformConfig` runs them as the last step of its validation, so one
validation reports everything.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mlops_platform.config.section_types import (
    ACCOUNT_ID,
    DNS_LABEL,
    IAM_PRINCIPAL_ARN,
    REGION,
    TAG_KEY,
    BranchName,
    Capacity,
    Cidr,
    Consolidation,
    DnsLabel,
    Email,
    EndpointAccess,
    GpuProvisioner,
    NatStrategy,
    NetworkMode,
    Tier,
    UpgradePolicy,
    _Section,
)
from mlops_platform.config.sections_aws import (
    AccountConfig,
    ArtifactsConfig,
    BucketRole,
    BudgetConfig,
    CiConfig,
    ClusterConfig,
    ExistingNetwork,
    GpuPoolConfig,
    KarpenterPoolConfig,
    NetworkConfig,
    NodePoolsConfig,
    PoolConfig,
    RegistryConfig,
    SystemPoolConfig,
)
from mlops_platform.config.sections_cluster import (
    ComponentToggle,
    CostAllocationConfig,
    GpuGovernanceConfig,
    MonitoringConfig,
    PipelinesConfig,
    QueueingConfig,
    ServingConfig,
    SpotDataFeedConfig,
    TrackingConfig,
    TrainingConfig,
)
from mlops_platform.config.sections_serving import (
    CertificateSource,
    DeliveryConfig,
    InferenceAuthConfig,
    InferenceAuthMode,
    ServingTlsConfig,
)
from mlops_platform.config.sections_tenants import GithubConfig, ProjectConfig, TenantsConfig

#: Public names; the building blocks come from `section_types` and the per-layer `sections_*` modules,
#: and stay importable from here.
__all__ = [
    "ACCOUNT_ID", "DNS_LABEL", "IAM_PRINCIPAL_ARN", "REGION", "TAG_KEY", "AccountConfig", "ArtifactsConfig",
    "BranchName", "BucketRole", "BudgetConfig", "Capacity", "CertificateSource", "CiConfig", "Cidr", "ClusterConfig",
    "ComponentToggle", "Consolidation", "CostAllocationConfig", "DeliveryConfig", "DnsLabel", "Email", "EndpointAccess",
    "EnvironmentConfig", "ExistingNetwork", "GithubConfig", "GpuGovernanceConfig", "GpuPoolConfig", "GpuProvisioner",
    "InferenceAuthConfig", "InferenceAuthMode", "KarpenterPoolConfig", "MonitoringConfig", "NatStrategy",
    "NetworkConfig", "NetworkMode", "NodePoolsConfig", "PipelinesConfig", "PlatformSections", "PoolConfig",
    "ProjectConfig", "QueueingConfig", "RegistryConfig", "ServingConfig", "ServingTlsConfig", "SpotDataFeedConfig",
    "SystemPoolConfig", "TenantsConfig",
    "Tier", "TrackingConfig", "TrainingConfig", "UpgradePolicy"
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
    cost_allocation: CostAllocationConfig = Field(default_factory=CostAllocationConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    pipelines: PipelinesConfig = Field(default_factory=PipelinesConfig)
    queueing: QueueingConfig = Field(default_factory=QueueingConfig)
    account: AccountConfig = Field(default_factory=AccountConfig)
    ci: CiConfig = Field(default_factory=CiConfig)
    github: GithubConfig = Field(default_factory=GithubConfig)
    projects: list[ProjectConfig] = Field(default_factory=list, description="Tenants.")
    tenants: TenantsConfig = Field(default_factory=TenantsConfig)

    # Resolved per-tier defaults: one place, so components never re-derive them.
    @property
    def karpenter(self) -> bool:
        """GPU pools are Karpenter NodePools (not managed node groups)."""
        return self.gpu.provisioner is GpuProvisioner.KARPENTER

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
    def air_gapped(self) -> bool:
        """Nodes have no internet egress (`network.nat: none`): every AWS API through a VPC endpoint."""
        return self.network.nat == "none"

    @property
    def mirroring(self) -> bool:
        """Whether every image comes from this account's ECR (registry.mirror; on by default without NAT)."""
        on = self.registry.mirror.enabled
        return self.network.nat == "none" if on is None else on

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
    def cost_allocation_on(self) -> bool:
        """OpenCost runs: switched on (or left unset) and the Prometheus it reads is there."""
        return self.component_enabled(self.cost_allocation) and self.component_enabled(self.monitoring)

    @property
    def monitoring_retention(self) -> str:
        default = {Tier.DEV: "24h", Tier.STAGING: "7d", Tier.PROD: "30d"}[self.tier]
        return self.monitoring.retention or default

    @property
    def inference_auth_required(self) -> bool:
        """Whether inference routes authenticate: yes unless opted out; the opt-out defaults to dev only."""
        opt_out = self.serving.auth.allow_unauthenticated_inference
        return not (self.tier is Tier.DEV if opt_out is None else opt_out)

    @property
    def tracking_multi_az(self) -> bool:
        return self.is_prod if self.tracking.multi_az is None else self.tracking.multi_az

    @property
    def pipelines_replicas(self) -> int:
        replicas = self.pipelines.controller_replicas
        return (2 if self.is_prod else 1) if replicas is None else replicas

    @property
    def queueing_replicas(self) -> int:
        replicas = self.queueing.controller_replicas
        return (2 if self.is_prod else 1) if replicas is None else replicas

    @property
    def tracking_backup_days(self) -> int:
        return self.tracking.backup_retention_days or (14 if self.is_prod else 7)

    @property
    def base_tags(self) -> dict[str, str]:
        env = self.environment
        return {**env.tags, "environment": env.name, "owner": env.owners[0],
                "cost-center": env.cost_center, "managed-by": "mlops-platform"}
