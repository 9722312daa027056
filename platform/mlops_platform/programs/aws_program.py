"""The `aws` layer program: network, EKS, node pools, S3, ECR, KMS, budget, account prerequisites, cluster
access and the in-VPC deploy runner. Needs no access to the Kubernetes API."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from mlops_platform.aws.account import AccountPrerequisites, AccountPrerequisitesArgs
from mlops_platform.aws.artifacts import ArtifactStore, ArtifactStoreArgs
from mlops_platform.aws.budget import CostBudget, CostBudgetArgs
from mlops_platform.aws.cluster import Cluster, ClusterArgs
from mlops_platform.aws.cluster_addons import ClusterAddons, ClusterAddonsArgs, MovedFrom
from mlops_platform.aws.deployer import DeployerAccess, DeployerAccessArgs, InVpcRunner, InVpcRunnerArgs
from mlops_platform.aws.ecr import Repository, RepositoryArgs
from mlops_platform.aws.karpenter import KarpenterAccess, KarpenterAccessArgs
from mlops_platform.aws.keys import PlatformKeys, PlatformKeysArgs
from mlops_platform.aws.layer_outputs import AwsLayer
from mlops_platform.aws.lb_controller import LoadBalancerControllerRole, LoadBalancerControllerRoleArgs
from mlops_platform.aws.network import Network, NetworkArgs
from mlops_platform.aws.nodepools import NodePools, NodePoolsArgs
from mlops_platform.aws.registry_cache import RegistryCache, RegistryCacheArgs
from mlops_platform.config import PlatformConfig
from mlops_platform.config.gpu_provisioning import launches_spot_with_karpenter
from mlops_platform.core import naming
from mlops_platform.core.layers import Layer
from mlops_platform.programs.common import aws_provider, environment_mirror, mirror_repositories, provider_opts


def deployer_principals(cfg: PlatformConfig) -> list[str]:
    """Deployer roles that need their own access entry (admins already have one: EKS allows one entry
    per principal)."""
    admins = set(cfg.cluster.admin_principal_arns)
    return [arn for arn in dict.fromkeys(cfg.cluster.deployer_role_arns) if arn not in admins]


def _access(cfg: PlatformConfig, cluster: Cluster, network: Network, keys: PlatformKeys, repos: dict[str, Repository],
            opts: pulumi.ResourceOptions) -> tuple[list[aws.eks.AccessPolicyAssociation], pulumi.Output[str]]:
    """Cluster access of admins, deployers and the in-VPC runner; (associations, runner project name)."""
    env, tags, name = cfg.environment, cfg.base_tags, cfg.environment.name
    access = [*cluster.admin_associations, *DeployerAccess(f"{name}-deployers", DeployerAccessArgs(
        cluster_name=cluster.cluster.name, principal_arns=deployer_principals(cfg), tags=tags), opts).associations]
    if not cfg.in_vpc_deployer:
        return access, pulumi.Output.from_input("")
    runner = InVpcRunner(f"{name}-runner", InVpcRunnerArgs(
        env_name=name, runner_name=naming.deploy_runner_name(cfg.cluster_name), account_id=env.account_id,
        region=env.region, vpc_id=network.vpc_id, private_subnet_ids=network.private_subnet_ids,
        cluster_name=cluster.cluster.name, cluster_arn=cluster.cluster.arn,
        cluster_security_group_id=cluster_security_group(cluster), state_bucket=naming.bucket_name(env, "pulumi-state"),
        state_key_alias=naming.state_key_alias(env),
        github_token_secret=cfg.github.token_secret if cfg.github.manage else None,
        logs_key_arn=keys.arns["logs"], deployer_role_arns=list(cfg.cluster.deployer_role_arns),
        log_retention_days=cfg.cluster.log_retention_days, tags=tags, **runner_image(cfg, repos)), opts)
    return [*access, runner.association], runner.project.name


def runner_image(cfg: PlatformConfig, repos: dict[str, Repository]) -> dict[str, pulumi.Output[str]]:
    """`image` and `image_repository_arn` of the runner when `cluster.deployer_image` names one (config rules
    guarantee its repository is a platform repository)."""
    if cfg.cluster.deployer_image_parts is None:
        return {}
    repository, tag = cfg.cluster.deployer_image_parts
    repo = repos[repository].repository
    return {"image": pulumi.Output.concat(repo.repository_url, ":", tag), "image_repository_arn": repo.arn}


def cluster_security_group(cluster: Cluster) -> pulumi.Output[str]:
    return cluster.cluster.vpc_config.apply(lambda v: v.cluster_security_group_id or "")


def _storage(cfg: PlatformConfig, keys: PlatformKeys,
             opts: pulumi.ResourceOptions) -> tuple[ArtifactStore, dict[str, Repository]]:
    env, tags, name = cfg.environment, cfg.base_tags, cfg.environment.name
    store = ArtifactStore(f"{name}-artifacts", ArtifactStoreArgs(
        config=cfg.artifacts, environment=env, kms_key_arn=keys.arns["s3"], protect=cfg.is_prod, tags=tags), opts)
    repos = {r: Repository(f"{name}-ecr-{r.replace('/', '-')}", RepositoryArgs(
        repository=naming.ecr_repository(cfg.cluster_name, r), kms_key_arn=keys.arns["ecr"], tags=tags,
        untagged_days=cfg.registry.untagged_expiry_days, force_delete=cfg.artifacts.allow_force_destroy,
        protect=cfg.is_prod), opts) for r in [*cfg.registry.repositories, *mirror_repositories(cfg)]}
    return store, repos


def _compute(cfg: PlatformConfig, network: Network, keys: PlatformKeys,
             opts: pulumi.ResourceOptions) -> tuple[Cluster, NodePools, KarpenterAccess | None]:
    tags, name = cfg.base_tags, cfg.environment.name
    cluster = Cluster(f"{name}-cluster", ClusterArgs(
        config=cfg.cluster, cluster_name=cfg.cluster_name, subnet_ids=network.private_subnet_ids,
        secrets_key_arn=keys.arns["eks"], logs_key_arn=keys.arns["logs"],
        deletion_protection=cfg.deletion_protection, tags=tags, upgrade_policy=cfg.upgrade_policy), opts)
    pools = NodePools(f"{name}-nodes", NodePoolsArgs(
        cluster_name=cluster.cluster.name, cluster_name_plain=cfg.cluster_name, subnet_ids=network.private_subnet_ids,
        # With Karpenter, GPU pools are its NodePools (cluster layer); only the system pool is a node group.
        system=cfg.node_pools.system, gpu=[] if cfg.karpenter else list(cfg.node_pools.gpu),
        ebs_key_arn=keys.arns["ebs"], tags=tags, k8s_version=cfg.cluster.version,
        depends_on=list(cluster.pre_node_addons), vpc_id=network.vpc_id,
        cluster_security_group_id=cluster_security_group(cluster),
        availability_zones=tuple(cfg.network.availability_zones)), opts)
    ClusterAddons(f"{name}-cluster-addons", ClusterAddonsArgs(
        cluster_name=cluster.cluster.name, k8s_version=cfg.cluster.version,
        oidc_provider_arn=cluster.oidc_provider.arn, oidc_issuer_host=cluster.oidc_issuer_host,
        ebs_key_arn=keys.arns["ebs"], nodes=[pools.system], tags=tags,
        moved_from=MovedFrom(parent=cluster, prefix=f"{name}-cluster")), opts)
    return cluster, pools, _karpenter(cfg, cluster, keys, opts)


def _karpenter(cfg: PlatformConfig, cluster: Cluster, keys: PlatformKeys,
               opts: pulumi.ResourceOptions) -> KarpenterAccess | None:
    if not cfg.karpenter:
        return None
    env = cfg.environment
    brought = list(cfg.network.existing.private_subnet_ids) if cfg.network.existing else []
    return KarpenterAccess(f"{env.name}-karpenter", KarpenterAccessArgs(
        cluster_name=cluster.cluster.name, cluster_name_plain=cfg.cluster_name, account_id=env.account_id,
        region=env.region, cluster_security_group_id=cluster_security_group(cluster), volume_key_arn=keys.arns["ebs"],
        tags=cfg.base_tags, brought_subnet_ids=brought, instance_profile=cfg.air_gapped), opts)


def lb_controller_role(cfg: PlatformConfig, cluster: Cluster, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
    """The AWS Load Balancer Controller's role when serving is on (its gateway is the cluster's only load
    balancer); '' otherwise. The cluster layer installs the controller with it."""
    if not cfg.component_enabled(cfg.serving):
        return pulumi.Output.from_input("")
    return LoadBalancerControllerRole(f"{cfg.environment.name}-lb-controller", LoadBalancerControllerRoleArgs(
        oidc_provider_arn=cluster.oidc_provider.arn, oidc_issuer_host=cluster.oidc_issuer_host,
        tags=cfg.base_tags), opts).role_arn


def build_aws_layer(cfg: PlatformConfig, opts: pulumi.ResourceOptions) -> AwsLayer:
    env, tags, name = cfg.environment, cfg.base_tags, cfg.environment.name
    account = AccountPrerequisites(f"{name}-account", AccountPrerequisitesArgs(
        github_oidc_provider_arn=cfg.ci.github_oidc_provider_arn,
        create_autoscaling_role=cfg.account.create_autoscaling_service_role,
        create_spot_role=cfg.account.create_spot_service_role and launches_spot_with_karpenter(cfg), tags=tags), opts)
    keys = PlatformKeys(f"{name}-keys", PlatformKeysArgs(
        env_name=name, account_id=env.account_id, region=env.region, tags=tags, protect=cfg.deletion_protection,
        role_dependencies=(account.autoscaling_role,) if account.autoscaling_role else ()), opts)
    network = Network(f"{name}-network", NetworkArgs(
        config=cfg.network, region=env.region, cluster_name=cfg.cluster_name, tags=tags, account_id=env.account_id,
        flow_log_key_arn=keys.arns["logs"], karpenter_discovery=cfg.karpenter), opts)
    store, repos = _storage(cfg, keys, opts)
    cluster, pools, karpenter = _compute(cfg, network, keys, opts)
    if cfg.mirroring:
        registry_cache(cfg, keys, [pools.node_role.name, *([karpenter.node_role.name] if karpenter else [])], opts)
    CostBudget(f"{name}-budget", CostBudgetArgs(
        budget_name=f"mlops-{name}", monthly_usd=cfg.budget.monthly_usd,
        emails=[*env.owners, *cfg.budget.notify], tag_filter=("environment", name),
        thresholds_pct=tuple(cfg.budget.alert_thresholds_pct), tags=tags), opts)
    access, runner_project = _access(cfg, cluster, network, keys, repos, opts)
    return AwsLayer(
        vpc_id=network.vpc_id, private_subnet_ids=network.private_subnet_ids, cluster_name=cluster.cluster.name,
        cluster_arn=cluster.cluster.arn, cluster_endpoint=after(cluster.cluster.endpoint, access),
        cluster_ca_data=cluster.cluster.certificate_authority.apply(lambda ca: ca.data or ""),
        cluster_security_group_id=cluster_security_group(cluster), oidc_provider_arn=cluster.oidc_provider.arn,
        oidc_issuer_url=cluster.oidc_issuer_url, node_role_arn=pools.node_role.arn,
        github_oidc_provider_arn=account.github_oidc_provider_arn, deployer_project=runner_project,
        buckets=store.buckets, kms_key_arns=keys.arns, registry_urls={r: repo.url for r, repo in repos.items()},
        lb_controller_role_arn=lb_controller_role(cfg, cluster, opts),
        karpenter_node_role=karpenter.node_role.name if karpenter else pulumi.Output.from_input(""),
        karpenter_interruption_queue=karpenter.queue.name if karpenter else pulumi.Output.from_input(""),
        karpenter_instance_profile=(karpenter.instance_profile.name if karpenter and karpenter.instance_profile
                                    else pulumi.Output.from_input("")))


def registry_cache(cfg: PlatformConfig, keys: PlatformKeys, node_roles: list[pulumi.Output[str]],
                   opts: pulumi.ResourceOptions) -> RegistryCache:
    """Pull-through cache rules for every registry ECR caches (registry.mirror; docs/air-gapped.md)."""
    env, mirror = cfg.environment, cfg.registry.mirror
    return RegistryCache(f"{env.name}-registry-cache", RegistryCacheArgs(
        mirror=environment_mirror(cfg), account_id=env.account_id, region=env.region,
        credential_arns={host: arn for host, (_, arn) in mirror.credentials().items() if arn},
        kms_key_arn=keys.arns["ecr"],
        node_role_names=list(node_roles), untagged_days=cfg.registry.untagged_expiry_days, tags=cfg.base_tags), opts)


def after(value: pulumi.Output[str], resources: list[aws.eks.AccessPolicyAssociation]) -> pulumi.Output[str]:
    """`value`, resolved only once every resource exists: the endpoint is published (and so read by the
    layers above) only once every deployer can use it."""
    return pulumi.Output.all(value, *[r.id for r in resources]).apply(lambda v: str(v[0]))


def main(cfg: PlatformConfig) -> None:
    provider = aws_provider(cfg, Layer.AWS)
    layer = build_aws_layer(cfg, provider_opts(provider))
    for key, value in layer.exports().items():
        pulumi.export(key, value)
    # not a resource of the layer: the tenant shard count, where project stacks can read it whatever the count
    # (the environment's tenants stack exists only unsharded; docs/scale-out.md)
    pulumi.export("tenant_shards", cfg.tenants.shards)
