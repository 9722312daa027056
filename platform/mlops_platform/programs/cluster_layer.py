"""The in-cluster layer of one environment: provider, GPU enablement, serving, monitoring, tracking,
training and the project tenants, each switched by typed config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from mlops_platform.aws.layer_outputs import AwsLayer
from mlops_platform.aws.project_identity import github_oidc_provider
from mlops_platform.config.schema import PlatformConfig
from mlops_platform.k8s.alerts import AlertThresholds
from mlops_platform.k8s.gpu import GPU_NAMESPACE, GpuEnablement, GpuEnablementArgs
from mlops_platform.k8s.monitoring import MONITORING_NAMESPACE, Monitoring, MonitoringArgs
from mlops_platform.k8s.netpol import PlatformPeers
from mlops_platform.k8s.provider import ClusterAccess, ClusterAccessArgs
from mlops_platform.k8s.serving import GATEWAY_NAMESPACE, KSERVE_NAMESPACE, ServingStack, ServingStackArgs
from mlops_platform.k8s.tenancy import (
    PROJECT_LABEL,
    PlatformFacts,
    ProjectTenant,
    ProjectTenantArgs,
    TenantOutputs,
)
from mlops_platform.k8s.tracking import PORT as TRACKING_PORT
from mlops_platform.k8s.tracking import TRACKING_NAMESPACE, Tracking, TrackingArgs
from mlops_platform.k8s.training import TRAINING_NAMESPACE, Training, TrainingArgs


@dataclass(frozen=True, kw_only=True)
class ClusterLayerOutputs:
    """What the program exports from the in-cluster layer ('' when a component is off)."""

    mlflow_url: str
    prometheus_url: str
    serving_ingress_domain: str
    projects: dict[str, TenantOutputs]


def thresholds(cfg: PlatformConfig) -> AlertThresholds:
    mon = cfg.monitoring
    return AlertThresholds(mon.gpu_idle_minutes, mon.gpu_pending_minutes, mon.serving_latency_p99_ms,
                           mon.serving_error_rate_pct, mon.drift_threshold)


def peers(cfg: PlatformConfig) -> PlatformPeers:
    """Platform namespaces project namespaces admit (ingress) or reach (tracking), per enabled component.
    The KubeRay operator polls the Ray head of a project's RayJob/RayService (dashboard and serve ports)."""
    serving = (GATEWAY_NAMESPACE, KSERVE_NAMESPACE) if cfg.component_enabled(cfg.serving) else ()
    training = (TRAINING_NAMESPACE,) if cfg.component_enabled(cfg.training) else ()
    return PlatformPeers(
        ingress_namespaces=serving + training,
        monitoring_namespace=MONITORING_NAMESPACE if cfg.component_enabled(cfg.monitoring) else None,
        tracking_namespace=TRACKING_NAMESPACE if cfg.component_enabled(cfg.tracking) else None,
        tracking_port=TRACKING_PORT)


@dataclass(frozen=True, kw_only=True)
class ClusterLayerArgs:
    """Arguments of `ClusterLayer`."""

    config: PlatformConfig
    """The environment's validated stack configuration: which components are on, and how. Required."""
    aws_layer: AwsLayer
    """What the AWS layer handed over: the cluster, its OIDC provider, buckets, keys. Required."""


class ClusterLayer(pulumi.ComponentResource):
    """Root of the in-cluster tree (so `mlplat plan` shows the layer and its tenants as one branch)."""

    outputs: ClusterLayerOutputs

    def __init__(self, name: str, args: ClusterLayerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:ClusterLayer", name, None, opts)
        cfg, aws_layer = args.config, args.aws_layer
        env = cfg.environment
        access = ClusterAccess(f"{name}-access", ClusterAccessArgs(
            cluster_name=aws_layer.cluster_name, endpoint=aws_layer.cluster_endpoint,
            ca_data=aws_layer.cluster_ca_data, region=env.region, depends_on=list(aws_layer.node_groups)),
            pulumi.ResourceOptions(parent=self))
        self.provider = access.provider
        child = pulumi.ResourceOptions(parent=self)
        monitoring = self._monitoring(name, cfg, aws_layer, child)
        if cfg.node_pools.gpu:
            GpuEnablement(f"{name}-gpu", GpuEnablementArgs(
                cluster_name=cfg.cluster_name, k8s_version=cfg.cluster.version, region=env.region,
                account_id=env.account_id, oidc_provider_arn=aws_layer.oidc_provider_arn,
                oidc_issuer_host=aws_layer.oidc_issuer_host, tags=cfg.base_tags, provider=self.provider,
                monitoring_namespace=MONITORING_NAMESPACE if monitoring else None,
                depends_on=(monitoring.release,) if monitoring else ()), child)
        domain = ""
        if cfg.component_enabled(cfg.serving):
            domain = ServingStack(f"{name}-serving", ServingStackArgs(
                k8s_version=cfg.cluster.version, ingress_domain=cfg.serving.ingress_domain, provider=self.provider),
                child).ingress_domain
        mlflow_url = self._tracking(name, cfg, aws_layer, child)
        if cfg.component_enabled(cfg.training):
            Training(f"{name}-training", TrainingArgs(k8s_version=cfg.cluster.version, provider=self.provider),
                     child)
        projects = self._tenants(name, cfg, aws_layer)
        self.outputs = ClusterLayerOutputs(
            mlflow_url=mlflow_url, prometheus_url=monitoring.prometheus_url if monitoring else "",
            serving_ingress_domain=domain, projects=projects)
        self.register_outputs({"mlflow_url": mlflow_url, "serving_ingress_domain": domain})

    def _monitoring(self, name: str, cfg: PlatformConfig, aws_layer: AwsLayer,
                    opts: pulumi.ResourceOptions) -> Monitoring | None:
        if not cfg.component_enabled(cfg.monitoring):
            return None
        mon, env = cfg.monitoring, cfg.environment
        slack = mon.slack_webhook_url.get_secret_value() if mon.slack_webhook_url else None
        return Monitoring(f"{name}-monitoring", MonitoringArgs(
            cluster_name=cfg.cluster_name, k8s_version=cfg.cluster.version, region=env.region,
            retention=cfg.monitoring_retention, storage_gib=mon.storage_gib,
            alert_emails=tuple(mon.alert_emails or env.owners), thresholds=thresholds(cfg),
            oidc_provider_arn=aws_layer.oidc_provider_arn, oidc_issuer_host=aws_layer.oidc_issuer_host,
            tags=cfg.base_tags, provider=self.provider,
            slack_webhook_url=pulumi.Output.secret(slack) if slack else None,
            gpu_namespace=GPU_NAMESPACE if cfg.node_pools.gpu else None), opts)

    def _tracking(self, name: str, cfg: PlatformConfig, aws_layer: AwsLayer, opts: pulumi.ResourceOptions) -> str:
        if not cfg.component_enabled(cfg.tracking) or "models" not in aws_layer.buckets:
            return ""
        t = cfg.tracking
        return Tracking(f"{name}-tracking", TrackingArgs(
            cluster_name=cfg.cluster_name, k8s_version=cfg.cluster.version, vpc_id=aws_layer.vpc_id,
            private_subnet_ids=aws_layer.private_subnet_ids,
            cluster_security_group_id=aws_layer.cluster_security_group_id, models_bucket=aws_layer.buckets["models"],
            s3_key_arn=aws_layer.kms_key_arns["s3"], db_key_arn=aws_layer.kms_key_arns["rds"],
            oidc_provider_arn=aws_layer.oidc_provider_arn, oidc_issuer_host=aws_layer.oidc_issuer_host,
            db_instance_class=t.db_instance_class, db_storage_gib=t.db_storage_gib,
            backup_days=cfg.tracking_backup_days, multi_az=cfg.tracking_multi_az,
            deletion_protection=cfg.deletion_protection, tags=cfg.base_tags, provider=self.provider,
            replicas=2 if cfg.is_prod else 1, client_label=PROJECT_LABEL,
            monitoring_namespace=peers(cfg).monitoring_namespace), opts).url

    def _tenants(self, name: str, cfg: PlatformConfig, aws_layer: AwsLayer) -> dict[str, TenantOutputs]:
        github = aws_layer.github_oidc_provider_arn
        if github is None:  # once per environment, whether or not projects exist yet (stable on add/remove)
            github = github_oidc_provider(f"{name}-github-oidc", cfg.base_tags,
                                          pulumi.ResourceOptions(parent=self)).arn
        facts = platform_facts(cfg, aws_layer, github, self.provider)
        return {p.name: ProjectTenant(f"{name}-project-{p.name}", ProjectTenantArgs(project=p, facts=facts),
                                      pulumi.ResourceOptions(parent=self)).outputs
                for p in cfg.projects}


def platform_facts(cfg: PlatformConfig, aws_layer: AwsLayer, github_arn: Any, provider: Any) -> PlatformFacts:
    return PlatformFacts(
        env_name=cfg.environment.name, cluster_name=cfg.cluster_name, k8s_version=cfg.cluster.version,
        tags=cfg.base_tags, cluster=aws_layer.cluster, oidc_provider_arn=aws_layer.oidc_provider_arn,
        oidc_issuer_host=aws_layer.oidc_issuer_host, github_oidc_provider_arn=github_arn,
        buckets=aws_layer.buckets, s3_key_arn=aws_layer.kms_key_arns["s3"], ecr_key_arn=aws_layer.kms_key_arns["ecr"],
        keep_tagged_images=cfg.registry.keep_tagged_images, untagged_expiry_days=cfg.registry.untagged_expiry_days,
        budget_thresholds_pct=tuple(cfg.budget.alert_thresholds_pct), protect=cfg.is_prod, provider=provider,
        peers=peers(cfg))


def deploy_cluster_layer(cfg: PlatformConfig, aws_layer: AwsLayer, opts: pulumi.ResourceOptions) -> ClusterLayerOutputs:
    """Build the in-cluster layer of one environment on top of the AWS layer."""
    return ClusterLayer(f"{cfg.environment.name}-k8s", ClusterLayerArgs(config=cfg, aws_layer=aws_layer), opts).outputs
