"""Config sections of the `cluster` layer's in-cluster components: GPU governance, monitoring,
serving, tracking, training and pipelines. Re-exported by `sections`.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from mlops_platform.config.section_types import (
    REGION,
    Email,
    GpuProvisioner,
    _Section,
)
from mlops_platform.config.sections_serving import DeliveryConfig, InferenceAuthConfig, ServingTlsConfig

#: S3 bucket names (docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html), without dots:
#: a dotted name breaks TLS of virtual-hosted requests.
S3_BUCKET = r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$"


class GpuGovernanceConfig(_Section):
    """`mlops-platform:gpu`."""

    max_total_gpus: int = Field(default=64, ge=0, description="Cap on sum of max GPUs over pools.")
    provisioner: GpuProvisioner = Field(
        default=GpuProvisioner.MANAGED_NODE_GROUPS,
        description="Who launches GPU nodes: managed_node_groups (a node group per pool, cluster-autoscaler) or "
                    "karpenter (a Karpenter NodePool + EC2NodeClass per pool, limits bounding each pool's GPUs). "
                    "The system pool is a managed node group either way.")


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


class SpotDataFeedConfig(_Section):
    """The account's Spot Instance Data Feed, which OpenCost reads for what each spot node really paid.
    One per account (`aws ec2 create-spot-datafeed-subscription --bucket B [--prefix P]`), so it is brought,
    never created by an environment."""

    bucket: str = Field(pattern=S3_BUCKET, description="S3 bucket the feed writes to. Required.")
    prefix: str = Field(default="", pattern=r"^([A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*)?$",
                        description="The subscription's prefix, without a trailing slash; empty when it has none.")
    region: str | None = Field(default=None, pattern=REGION,
                               description="Region of the bucket. Unset: the environment's region.")


class CostAllocationConfig(ComponentToggle):
    """`mlops-platform:cost_allocation` — OpenCost on the platform's Prometheus: per-namespace cost (CPU,
    memory, GPU, volumes) and a Grafana cost dashboard per project. Needs monitoring."""

    enabled: bool | None = Field(default=None, description="Unset: on wherever monitoring is on (OpenCost reads "
                                                           "the platform's Prometheus).")
    spot_data_feed: SpotDataFeedConfig | None = Field(
        default=None, description="Read spot prices from the account's Spot Instance Data Feed (OpenCost gets an "
                                  "IRSA role reading only that bucket and prefix). Unset: OpenCost prices spot nodes "
                                  "at the public on-demand rate, so spot pools read high.")


class ServingConfig(ComponentToggle):
    """`mlops-platform:serving` — KServe behind Envoy Gateway on an internal NLB."""

    ingress_domain: str = Field(default="models.internal", description="Domain model endpoints are served under.")
    tls: ServingTlsConfig = Field(default_factory=ServingTlsConfig, description="HTTPS certificates.")
    auth: InferenceAuthConfig = Field(default_factory=InferenceAuthConfig,
                                      description="Authentication of inference routes.")
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig,
                                     description="What projects' progressive delivery (Flagger) may call.")


class TrackingConfig(ComponentToggle):
    """`mlops-platform:tracking` — MLflow on RDS PostgreSQL + the models bucket."""

    db_instance_class: str = Field(default="db.t4g.medium", description="RDS instance class of the MLflow database.")
    db_storage_gib: int = Field(default=50, ge=20, description="Allocated storage of the MLflow database, GiB.")
    backup_retention_days: int | None = Field(default=None, ge=1, le=35,
                                              description="Unset: 7, 14 in prod.")
    multi_az: bool | None = Field(default=None, description="Unset: true in prod, else false.")


class TrainingConfig(ComponentToggle):
    """`mlops-platform:training` — KubeRay operator."""


class PipelinesConfig(ComponentToggle):
    """`mlops-platform:pipelines` — Argo Workflows + Argo Events: project pipelines run in the cluster,
    started by schedule, on demand or by the project's drift alert."""

    controller_replicas: int | None = Field(
        default=None, ge=1, le=5,
        description="Replicas of each controller (leader election; >1 adds a PDB). Unset: 2 in prod, else 1.")
    retrain_cooldown_minutes: int = Field(
        default=60, ge=5, le=1440,
        description="Minimum minutes between two drift-triggered retrains of one project.")


class QueueingConfig(_Section):
    """`mlops-platform:queueing` — quota-fair scheduling with Kueue: each project's batch jobs (RayJobs, the
    pipeline's training step) wait in the project's queue until its quota admits them, all pods at once."""

    enabled: bool = Field(
        default=False, description="Install Kueue; every project gets a ClusterQueue with its quotas and a "
                                   "LocalQueue in its namespace, and its batch jobs submit through it.")
    cohort_borrowing: bool = Field(
        default=False, description="Put every project's ClusterQueue in one cohort: a project may borrow quota "
                                   "others leave idle (fair sharing; the lender reclaims it by preemption).")
    borrowing_limit_pct: int = Field(
        default=100, ge=1, le=1000,
        description="With cohort_borrowing: the most a project may borrow, % of its own quota per resource.")
    pods_ready_timeout_minutes: int = Field(
        default=10, ge=1, le=240,
        description="Gang scheduling: an admitted job whose pods are not all ready within this time is evicted "
                    "and requeued, releasing its quota (Kueue waitForPodsReady).")
    controller_replicas: int | None = Field(
        default=None, ge=1, le=3,
        description="Kueue controller replicas (leader election; >1 adds a PDB). Unset: 2 in prod, else 1.")
