"""The `tenants` layer of one environment: every onboarded project's namespace, identities, repository
and budget, on top of the `aws` layer (read through its stack). Adding or changing a project touches
this layer only."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from mlops_platform.aws.layer_outputs import AwsLayer, output_field
from mlops_platform.config.rules_gpu import shared_resources
from mlops_platform.config.schema import PlatformConfig
from mlops_platform.config.sections import ProjectConfig
from mlops_platform.k8s.inference_auth import InferenceAuthSettings
from mlops_platform.k8s.kueue import COHORT
from mlops_platform.k8s.project_gateway import ProjectGatewayArgs
from mlops_platform.k8s.project_queue import QueueSettings
from mlops_platform.k8s.tenancy import PlatformFacts, ProjectTenant, ProjectTenantArgs, TenantOutputs
from mlops_platform.programs.cluster_layer import cluster_provider, peers, retrain_cooldown
from mlops_platform.programs.common import tracking_on


def tracking_logins(cfg: PlatformConfig, cluster_layer: pulumi.Output[Any] | None,
                    projects: Sequence[ProjectConfig]) -> dict[str, pulumi.Output[str]]:
    """Each project's MLflow password from the cluster layer's secret `tracking_logins` output (by physical name)."""
    if cluster_layer is None or not tracking_on(cfg):
        return {}
    logins = output_field(cluster_layer, "tracking_logins")
    return {physical_name(p): pulumi.Output.secret(logins.apply(_login_of(physical_name(p)))) for p in projects}


def _login_of(user: str) -> Callable[[Any], str]:
    def pick(logins: Any) -> str:
        return str((logins or {})[user])
    return pick


def platform_facts(cfg: PlatformConfig, aws_layer: AwsLayer, provider: Any,
                   cluster_layer: pulumi.Output[Any] | None, projects: Sequence[ProjectConfig]) -> PlatformFacts:
    """What every tenant of this stack shares; MLflow logins are read for `projects` (the stack's) only."""
    return PlatformFacts(
        env_name=cfg.environment.name, cluster_name=cfg.cluster_name, k8s_version=cfg.cluster.version,
        tags=cfg.base_tags, cluster_arn=aws_layer.cluster_arn, eks_cluster_name=aws_layer.cluster_name,
        oidc_provider_arn=aws_layer.oidc_provider_arn, oidc_issuer_host=aws_layer.oidc_issuer_host,
        github_oidc_provider_arn=aws_layer.github_oidc_provider_arn, buckets=aws_layer.buckets,
        s3_key_arn=aws_layer.kms_key_arns["s3"], ecr_key_arn=aws_layer.kms_key_arns["ecr"],
        untagged_expiry_days=cfg.registry.untagged_expiry_days,
        budget_thresholds_pct=tuple(cfg.budget.alert_thresholds_pct), protect=cfg.is_prod, provider=provider,
        force_delete_repositories=cfg.artifacts.allow_force_destroy,
        peers=peers(cfg), github=cfg.github, tracking_credentials=tracking_logins(cfg, cluster_layer, projects),
        tracking_url=output_field(cluster_layer, "mlflow_url") if cluster_layer is not None else "",
        pipelines_cooldown_minutes=retrain_cooldown(cfg), shared_gpu_resources=tuple(sorted(shared_resources(cfg))),
        queueing=queue_settings(cfg), inference_auth=inference_auth(cfg),
        gateway=project_gateway(cfg, provider), cost_dashboards=cfg.cost_allocation_on)


def queue_settings(cfg: PlatformConfig) -> QueueSettings | None:
    """The environment's quota-fair scheduling as tenants read it (None: Kueue off)."""
    q = cfg.queueing
    if not q.enabled:
        return None
    return QueueSettings(cohort=COHORT if q.cohort_borrowing else None, borrowing_limit_pct=q.borrowing_limit_pct)


def inference_auth(cfg: PlatformConfig) -> InferenceAuthSettings | None:
    """How every project's inference routes authenticate; None when serving is off or
    `serving.auth.allow_unauthenticated_inference` is in effect (dev's default)."""
    if not (cfg.component_enabled(cfg.serving) and cfg.inference_auth_required):
        return None
    auth = cfg.serving.auth
    return InferenceAuthSettings(mode=auth.mode, api_key_header=auth.api_key_header,
                                 jwt_issuer=auth.jwt_issuer or "", jwt_jwks_uri=auth.jwt_jwks_uri or "",
                                 jwt_audiences=tuple(auth.jwt_audiences))


def project_gateway(cfg: PlatformConfig, provider: Any) -> ProjectGatewayArgs | None:
    """Each project's Gateway + certificate (namespace filled per tenant); None when serving is off. A project
    added or removed changes this layer only: the cluster layer holds no project list for the gateway."""
    if not cfg.component_enabled(cfg.serving):
        return None
    return ProjectGatewayArgs(namespace="", domain=cfg.serving.ingress_domain, source=cfg.serving.tls.source,
                              provider=provider)


@dataclass(frozen=True, kw_only=True)
class TenantsLayerArgs:
    """Arguments of `TenantsLayer`."""

    config: PlatformConfig
    """The environment's validated stack configuration: its projects. Required."""
    aws_layer: AwsLayer
    """The `aws` layer read back through its stack: cluster, OIDC providers, buckets, keys. Required."""
    cluster_layer: pulumi.Output[Any] | None = None
    """The `cluster` layer's validated outputs (`contract.ClusterLayerOutputs`): the MLflow URL and each
    project's MLflow login. Default: none (no tracking logins)."""
    projects: tuple[str, ...] | None = None
    """Names of the projects this stack holds (a tenant shard's, `core.shards.in_shard`). Default: every
    project of `config`."""


class TenantsLayer(pulumi.ComponentResource):
    """Root of an environment's tenants (`projects` maps each to its `contract.ProjectOutput` fields)."""

    projects: dict[str, TenantOutputs]

    def __init__(self, name: str, args: TenantsLayerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:TenantsLayer", name, None, opts)
        cfg = args.config
        provider = cluster_provider(name, args.aws_layer, cfg.environment.region, self)
        held = [p for p in cfg.projects if args.projects is None or p.name in args.projects]
        facts = platform_facts(cfg, args.aws_layer, provider, args.cluster_layer, held)
        self.projects = {p.name: self._tenant(name, p, facts) for p in held}
        self.register_outputs({"projects": list(self.projects)})

    def _tenant(self, name: str, project: ProjectConfig, facts: PlatformFacts) -> TenantOutputs:
        """A renamed project moves: its tenant is aliased to each former name (the engine aliases every child
        named after it), and keeps the physical names it was created with — namespace, role and repository
        names cannot change in place (Kubernetes metadata.name, IAM RoleName, ECR repositoryName)."""
        aliases = [pulumi.Alias(name=f"{name}-project-{old}") for old in project.previous_names]
        return ProjectTenant(f"{name}-project-{project.name}", ProjectTenantArgs(
            project=project.model_copy(update={"name": physical_name(project)}), facts=facts),
            pulumi.ResourceOptions(parent=self, aliases=aliases)).outputs


def physical_name(project: ProjectConfig) -> str:
    """The name a project's namespace, roles and repository carry: the first it was ever given."""
    return project.previous_names[0] if project.previous_names else project.name
