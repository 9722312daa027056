"""The in-cluster layer of one environment: provider, GPU enablement, serving, monitoring, tracking,
training and the project tenants, each switched by typed config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from mlops_platform.aws.layer_outputs import AwsLayer
from mlops_platform.aws.service_roles import acme_dns_role, spot_feed_reader
from mlops_platform.config.rules import pool_gpu_type
from mlops_platform.config.rules_gpu import has_efa_pool, pool_sharing
from mlops_platform.config.schema import PlatformConfig
from mlops_platform.config.sections import CertificateSource
from mlops_platform.core import contract
from mlops_platform.core.image_mirror import ecr_registry
from mlops_platform.core.versions import MIRRORED_IMAGES
from mlops_platform.k8s.air_gap import AirGap, air_gap_transformation
from mlops_platform.k8s.alerts import AlertThresholds
from mlops_platform.k8s.delivery_stack import FLAGGER_NAMESPACE, KEDA_NAMESPACE, DeliveryStack, DeliveryStackArgs
from mlops_platform.k8s.gateway_tls import GatewayTlsArgs
from mlops_platform.k8s.gpu import GPU_NAMESPACE, GpuEnablement, GpuEnablementArgs
from mlops_platform.k8s.image_source import image_source_policy, injected_images, project_prefix
from mlops_platform.k8s.karpenter import Karpenter, KarpenterArgs, NodeClassInputs
from mlops_platform.k8s.kueue import Kueue, KueueArgs
from mlops_platform.k8s.lb_controller import LoadBalancerController, LoadBalancerControllerArgs
from mlops_platform.k8s.manifests import PROJECT_LABEL
from mlops_platform.k8s.monitoring import MONITORING_NAMESPACE, PROMETHEUS_SERVICE, Monitoring, MonitoringArgs
from mlops_platform.k8s.netpol import PlatformPeers
from mlops_platform.k8s.opencost import OPENCOST_NAMESPACE, CostAllocation, CostAllocationArgs, SpotFeed
from mlops_platform.k8s.opencost import SERVICE_ACCOUNT as OPENCOST_SA
from mlops_platform.k8s.pipelines import Pipelines, PipelinesArgs
from mlops_platform.k8s.provider import ClusterAccess, ClusterAccessArgs, k8s_opts
from mlops_platform.k8s.service_isolation import service_type_policy
from mlops_platform.k8s.serving import (
    CERT_MANAGER_NAMESPACE,
    GATEWAY_NAMESPACE,
    KSERVE_NAMESPACE,
    ServingStack,
    ServingStackArgs,
)
from mlops_platform.k8s.storage import encrypted_storage_class
from mlops_platform.k8s.tracking import PORT as TRACKING_PORT
from mlops_platform.k8s.tracking import TRACKING_NAMESPACE, Tracking, TrackingArgs
from mlops_platform.k8s.training import TRAINING_NAMESPACE, Training, TrainingArgs
from mlops_platform.k8s.workload_identity import workload_identity_policy
from mlops_platform.programs.common import environment_mirror, installed_charts, tracking_on


@dataclass(frozen=True, kw_only=True)
class ClusterLayerOutputs:
    """What the program exports from the in-cluster layer ('' when a component is off): the fields of
    `contract.ClusterLayerOutputs`."""

    mlflow_url: str | pulumi.Output[str]
    prometheus_url: str | pulumi.Output[str]
    serving_ingress_domain: str | pulumi.Output[str]
    tracking_logins: dict[str, pulumi.Output[str]]
    """Project -> its MLflow password, for the tenants layer only (exported as a secret)."""

    def exports(self) -> dict[str, Any]:
        return {"mlflow_url": self.mlflow_url, "prometheus_url": self.prometheus_url,
                "serving_ingress_domain": self.serving_ingress_domain,
                "tracking_logins": pulumi.Output.secret(self.tracking_logins)}


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
        tracking_namespace=TRACKING_NAMESPACE if tracking_on(cfg) else None,
        tracking_port=TRACKING_PORT,
        # Flagger calls the project's Canary webhooks (its loadtester) from flagger-system
        hook_caller_namespace=FLAGGER_NAMESPACE if delivery_namespaces(cfg) else None)


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
        self.provider = cluster_provider(name, aws_layer, cfg.environment.region, self)
        child = pulumi.ResourceOptions(parent=self)
        storage = encrypted_storage_class(f"{name}-storage-class", aws_layer.kms_key_arns["ebs"], cfg.is_prod,
                                          k8s_opts(self, self.provider))
        monitoring = self._monitoring(name, cfg, aws_layer, storage, child)
        self._capacity(name, cfg, aws_layer, monitoring, child)
        domain = self._serving_and_delivery(name, cfg, aws_layer, monitoring, child)
        tracking = self._tracking(name, cfg, aws_layer, child)
        self._batch(name, cfg, monitoring, child)
        # CI runs project workloads only as the project's own identities
        workload_identity_policy(name, self, self.provider)
        # no ExternalName alias turns a name of the namespace into another (Canary webhooks, route backends)
        service_type_policy(name, self, self.provider)
        # project pods run the project's own ECR images and the images the platform injects (M5)
        mirror = environment_mirror(cfg) if cfg.mirroring else None
        image_source_policy(name, self, self.provider, prefix=project_prefix(
            ecr_registry(cfg.environment.account_id, cfg.environment.region), cfg.cluster_name),
            injected=injected_images(installed_charts(cfg), mirror))
        mlflow_url = tracking.url if tracking else ""
        self.outputs = ClusterLayerOutputs(
            mlflow_url=mlflow_url, prometheus_url=monitoring.prometheus_url if monitoring else "",
            serving_ingress_domain=domain, tracking_logins=tracking.credentials if tracking else {})
        self.register_outputs({"mlflow_url": mlflow_url, "serving_ingress_domain": domain})

    def _capacity(self, name: str, cfg: PlatformConfig, aws_layer: AwsLayer, monitoring: Monitoring | None,
                  opts: pulumi.ResourceOptions) -> None:
        """Cost allocation (on the monitoring stack), GPU enablement and Karpenter, each when configured."""
        if monitoring and cfg.cost_allocation_on:
            cost_allocation(name, cfg, aws_layer, self.provider, monitoring, opts)
        if cfg.node_pools.gpu:
            env = cfg.environment
            GpuEnablement(f"{name}-gpu", GpuEnablementArgs(
                cluster_name=cfg.cluster_name, k8s_version=cfg.cluster.version, region=env.region,
                account_id=env.account_id, oidc_provider_arn=aws_layer.oidc_provider_arn,
                oidc_issuer_host=aws_layer.oidc_issuer_host, tags=cfg.base_tags, provider=self.provider,
                sharing=pool_sharing(cfg), efa=has_efa_pool(cfg),
                monitoring_namespace=MONITORING_NAMESPACE if monitoring else None,
                depends_on=(monitoring.release,) if monitoring else ()), opts)
        if cfg.karpenter:
            karpenter(name, cfg, aws_layer, self.provider, monitoring, opts)

    def _serving_and_delivery(self, name: str, cfg: PlatformConfig, aws_layer: AwsLayer,
                              monitoring: Monitoring | None, opts: pulumi.ResourceOptions) -> str:
        """Serving, and with monitoring its delivery controllers; returns the ingress domain ('' when off)."""
        if not cfg.component_enabled(cfg.serving):
            return ""
        serving = self._serving(name, cfg, aws_layer, opts)
        if monitoring:
            self._delivery(name, cfg, monitoring, serving)
        return serving.ingress_domain

    def _batch(self, name: str, cfg: PlatformConfig, monitoring: Monitoring | None,
               opts: pulumi.ResourceOptions) -> None:
        """Training (KubeRay), quota-fair queueing (Kueue) and pipelines (Argo), each when configured."""
        if cfg.component_enabled(cfg.training):
            Training(f"{name}-training", TrainingArgs(k8s_version=cfg.cluster.version, provider=self.provider),
                     opts)
        if cfg.queueing.enabled:
            q = cfg.queueing
            Kueue(f"{name}-kueue", KueueArgs(
                k8s_version=cfg.cluster.version, provider=self.provider, project_label=PROJECT_LABEL,
                pods_ready_timeout_minutes=q.pods_ready_timeout_minutes, fair_sharing=q.cohort_borrowing,
                replicas=cfg.queueing_replicas, prometheus_namespace=MONITORING_NAMESPACE if monitoring else None,
                depends_on=(monitoring.release,) if monitoring else ()), opts)
        if cfg.component_enabled(cfg.pipelines):
            Pipelines(f"{name}-pipelines", PipelinesArgs(
                k8s_version=cfg.cluster.version, provider=self.provider, replicas=cfg.pipelines_replicas,
                service_monitor=monitoring is not None), opts)

    def _serving(self, name: str, cfg: PlatformConfig, aws_layer: AwsLayer,
                 opts: pulumi.ResourceOptions) -> ServingStack:
        """The LB controller, then the serving stack whose gateway Service the controller turns into an NLB."""
        env = cfg.environment
        controller = LoadBalancerController(f"{name}-lb-controller", LoadBalancerControllerArgs(
            cluster_name=aws_layer.cluster_name, region=env.region, vpc_id=aws_layer.vpc_id,
            role_arn=aws_layer.lb_controller_role_arn, provider=self.provider, replicas=2 if cfg.is_prod else 1),
            opts)
        tls = serving_tls(cfg)
        role = acme_dns_role(f"{name}-cert-manager-dns01", cluster_name=cfg.cluster_name,
                             zone_id=tls.acme_hosted_zone_id, oidc_provider_arn=aws_layer.oidc_provider_arn,
                             oidc_issuer_host=aws_layer.oidc_issuer_host, namespace=CERT_MANAGER_NAMESPACE,
                             tags=cfg.base_tags, opts=pulumi.ResourceOptions(parent=self)) \
            if tls.source is CertificateSource.ACME else None
        return ServingStack(f"{name}-serving", ServingStackArgs(
            k8s_version=cfg.cluster.version, ingress_domain=cfg.serving.ingress_domain, provider=self.provider,
            tls=tls, env_name=env.name, load_balancer_controller=controller.release, cert_manager_role_arn=role),
            opts)

    def _delivery(self, name: str, cfg: PlatformConfig, monitoring: Monitoring, serving: ServingStack) -> None:
        """Flagger and KEDA read Prometheus, so they come with monitoring; Flagger routes through the gateway."""
        DeliveryStack(f"{name}-delivery", DeliveryStackArgs(
            k8s_version=cfg.cluster.version, prometheus_url=monitoring.prometheus_url, provider=self.provider,
            vpc_cidr=cfg.network.cidr, replicas=2 if cfg.is_prod else 1,
            allow_external_webhooks=cfg.serving.delivery.allow_external_webhooks),
            pulumi.ResourceOptions(parent=self, depends_on=[monitoring.release, serving]))

    def _monitoring(self, name: str, cfg: PlatformConfig, aws_layer: AwsLayer, storage: pulumi.Resource,
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
            gpu_namespace=GPU_NAMESPACE if cfg.node_pools.gpu else None, depends_on=(storage,),
            project_routes=retrain_cooldown(cfg) is not None, query_namespaces=query_namespaces(cfg)), opts)

    def _tracking(self, name: str, cfg: PlatformConfig, aws_layer: AwsLayer,
                  opts: pulumi.ResourceOptions) -> Tracking | None:
        if not tracking_on(cfg):
            return None
        t = cfg.tracking
        return Tracking(f"{name}-tracking", TrackingArgs(
            cluster_name=cfg.cluster_name, k8s_version=cfg.cluster.version, vpc_id=aws_layer.vpc_id,
            private_subnet_ids=aws_layer.private_subnet_ids,
            cluster_security_group_id=aws_layer.cluster_security_group_id, models_bucket=aws_layer.buckets["models"],
            db_key_arn=aws_layer.kms_key_arns["rds"], oidc_provider_arn=aws_layer.oidc_provider_arn,
            oidc_issuer_host=aws_layer.oidc_issuer_host, image=mirrored_image(aws_layer, "mlflow"),
            projects=tracking_users(cfg), db_instance_class=t.db_instance_class, db_storage_gib=t.db_storage_gib,
            backup_days=cfg.tracking_backup_days, multi_az=cfg.tracking_multi_az,
            deletion_protection=cfg.deletion_protection, tags=cfg.base_tags, provider=self.provider,
            replicas=2 if cfg.is_prod else 1, client_label=PROJECT_LABEL,
            monitoring_namespace=peers(cfg).monitoring_namespace), opts)


def cost_allocation(name: str, cfg: PlatformConfig, aws_layer: AwsLayer, provider: Any, monitoring: Monitoring,
                    opts: pulumi.ResourceOptions) -> CostAllocation:
    """OpenCost on the monitoring stack's Prometheus (each project's dashboard comes with its tenant), and with
    a spot feed its reader role, made here and handed over as an ARN."""
    feed, role_arn = spot_feed(cfg), None
    if feed is not None:
        # the role lived under CostAllocation (`<name>-cost`) before the aws package made it: same names, and
        # an alias to that parent, so the move is no replacement
        old_parent = pulumi.create_urn(f"{name}-cost", "mlops:k8s:CostAllocation", parent=opts.parent)
        role_arn = spot_feed_reader(
            f"{name}-cost-opencost", cluster_name=cfg.cluster_name, bucket=feed.bucket, prefix=feed.prefix,
            oidc_provider_arn=aws_layer.oidc_provider_arn, oidc_issuer_host=aws_layer.oidc_issuer_host,
            namespace=OPENCOST_NAMESPACE, service_account=OPENCOST_SA, tags=cfg.base_tags,
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(parent=old_parent)])))
    return CostAllocation(f"{name}-cost", CostAllocationArgs(
        cluster_name=cfg.cluster_name, k8s_version=cfg.cluster.version, prometheus_service=PROMETHEUS_SERVICE,
        provider=provider, account_id=cfg.environment.account_id, spot_feed=feed, spot_feed_role_arn=role_arn,
        depends_on=(monitoring.release,)), opts)


def spot_feed(cfg: PlatformConfig) -> SpotFeed | None:
    """The Spot Instance Data Feed OpenCost reads, when the environment names one."""
    feed = cfg.cost_allocation.spot_data_feed
    if feed is None:
        return None
    return SpotFeed(bucket=feed.bucket, prefix=feed.prefix, region=feed.region or cfg.environment.region)


def query_namespaces(cfg: PlatformConfig) -> tuple[str, ...]:
    """Namespaces Prometheus admits to its port: the delivery controllers', and OpenCost's."""
    return delivery_namespaces(cfg) + ((OPENCOST_NAMESPACE,) if cfg.cost_allocation_on else ())


def serving_tls(cfg: PlatformConfig) -> GatewayTlsArgs:
    """The gateway's HTTPS settings: the config's certificate source and its issuer's settings (no project
    list: each project's listener and certificate are the tenants layer's, project_gateway.py)."""
    tls = cfg.serving.tls
    return GatewayTlsArgs(
        source=tls.source, domain=cfg.serving.ingress_domain, cert_manager_namespace=CERT_MANAGER_NAMESPACE,
        region=cfg.environment.region, acme_email=tls.acme_email or "", acme_server=tls.acme_server,
        acme_hosted_zone_id=tls.acme_hosted_zone_id or "", acm_certificate_arns=tuple(tls.acm_certificate_arns))


def delivery_namespaces(cfg: PlatformConfig) -> tuple[str, ...]:
    """Namespaces of the delivery controllers, which come with serving and monitoring both on."""
    on = cfg.component_enabled(cfg.serving) and cfg.component_enabled(cfg.monitoring)
    return (FLAGGER_NAMESPACE, KEDA_NAMESPACE) if on else ()


def karpenter(name: str, cfg: PlatformConfig, aws_layer: AwsLayer, provider: Any, monitoring: Monitoring | None,
              opts: pulumi.ResourceOptions) -> Karpenter:
    """Karpenter and a NodePool + EC2NodeClass per GPU pool (the aws layer made its IAM, queue and tags)."""
    gpu_types = {p.name: (t.value if (t := pool_gpu_type(p)) else "unknown") for p in cfg.node_pools.gpu}
    return Karpenter(f"{name}-karpenter", KarpenterArgs(
        pools=list(cfg.node_pools.gpu), gpu_types=gpu_types, node_class=NodeClassInputs(
            cluster_name=cfg.cluster_name, k8s_version=cfg.cluster.version,
            node_role=aws_layer.karpenter_node_role, volume_key_arn=aws_layer.kms_key_arns["ebs"],
            tags={k: v for k, v in cfg.base_tags.items() if k in contract.STABLE_NODE_TAG_KEYS},
            instance_profile=aws_layer.karpenter_instance_profile if cfg.air_gapped else None),
        interruption_queue=aws_layer.karpenter_interruption_queue, system_pool=cfg.node_pools.system.name,
        prod=cfg.is_prod, provider=provider, service_monitor=monitoring is not None, isolated_vpc=cfg.air_gapped,
        depends_on=(monitoring.release,) if monitoring else ()), opts)


def tracking_users(cfg: PlatformConfig) -> tuple[str, ...]:
    """One MLflow user per project, named like its namespace: the first name it was ever given
    (`tenants_layer.physical_name`), so a renamed project keeps its experiments and models."""
    return tuple(p.previous_names[0] if p.previous_names else p.name for p in cfg.projects)


def mirrored_image(aws_layer: AwsLayer, key: str) -> pulumi.Output[str]:
    """`<platform ECR>/mirror/<name>:<tag>` of a MIRRORED_IMAGES entry (the aws layer creates the repository)."""
    image = MIRRORED_IMAGES[key]
    return pulumi.Output.concat(aws_layer.registry_urls[image.repository], ":", image.tag)


def cluster_provider(name: str, aws_layer: AwsLayer, region: str, parent: pulumi.Resource) -> Any:
    """A layer's Kubernetes provider. Its kubeconfig reads the `aws` layer's endpoint, which that layer
    publishes only once every deployer's access entry is associated (aws.layer_outputs.AwsLayer);
    node groups exist before: the `aws` layer is applied first."""
    return ClusterAccess(f"{name}-access", ClusterAccessArgs(
        cluster_name=aws_layer.cluster_name, endpoint=aws_layer.cluster_endpoint, ca_data=aws_layer.cluster_ca_data,
        region=region), pulumi.ResourceOptions(parent=parent)).provider


def deploy_cluster_layer(cfg: PlatformConfig, aws_layer: AwsLayer, opts: pulumi.ResourceOptions) -> ClusterLayerOutputs:
    """Build the in-cluster layer of one environment on top of the AWS layer; air-gapped when the environment
    mirrors its images (k8s/air_gap.py: every child's images from the account's ECR, charts from the runner)."""
    if cfg.mirroring:
        gap = AirGap(mirror=environment_mirror(cfg), chart_directory=cfg.registry.mirror.chart_directory)
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(transformations=[air_gap_transformation(gap)]))
    return ClusterLayer(f"{cfg.environment.name}-k8s", ClusterLayerArgs(config=cfg, aws_layer=aws_layer), opts).outputs


def retrain_cooldown(cfg: PlatformConfig) -> int | None:
    """Minutes between drift-triggered retrains of a project; None when there is no pipeline engine."""
    return cfg.pipelines.retrain_cooldown_minutes if cfg.component_enabled(cfg.pipelines) else None
