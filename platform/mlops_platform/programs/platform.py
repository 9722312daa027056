"""The platform program: validate the stack's config, then build the AWS layer, the in-cluster layer
and export the outputs contract. `platform/__main__.py` calls `main()`; so does the offline engine."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi.runtime.config import CONFIG, get_config_env

from mlops_platform import __version__
from mlops_platform.aws.artifacts import ArtifactStore, ArtifactStoreArgs
from mlops_platform.aws.budget import CostBudget, CostBudgetArgs
from mlops_platform.aws.cluster import Cluster, ClusterArgs
from mlops_platform.aws.cluster_addons import ClusterAddons, ClusterAddonsArgs, MovedFrom
from mlops_platform.aws.ecr import Repository, RepositoryArgs
from mlops_platform.aws.keys import PlatformKeys, PlatformKeysArgs
from mlops_platform.aws.layer_outputs import AwsLayer
from mlops_platform.aws.network import Network, NetworkArgs
from mlops_platform.aws.nodepools import NodePools, NodePoolsArgs, pool_spec
from mlops_platform.config import PlatformConfig, load_from_pulumi_config
from mlops_platform.core import contract
from mlops_platform.programs.cluster_layer import ClusterLayerOutputs, deploy_cluster_layer


def current_config() -> PlatformConfig:
    """The validated config of the running stack (raises ConfigError listing every problem)."""
    values: dict[str, Any] = {**get_config_env(), **CONFIG.get()}
    return load_from_pulumi_config(values, pulumi.get_stack())


def aws_provider(cfg: PlatformConfig) -> aws.Provider:
    """Explicit provider: pinned region, and `allowed_account_ids` so prod can never land in another account."""
    env = cfg.environment
    return aws.Provider(f"aws-{env.name}", region=env.region, allowed_account_ids=[env.account_id],
                        default_tags=aws.ProviderDefaultTagsArgs(tags=cfg.base_tags))


def build_aws_layer(cfg: PlatformConfig) -> AwsLayer:
    env, tags, name = cfg.environment, cfg.base_tags, cfg.environment.name
    provider = aws_provider(cfg)
    opts = pulumi.ResourceOptions(providers={"aws": provider})
    keys = PlatformKeys(f"{name}-keys", PlatformKeysArgs(
        env_name=name, account_id=env.account_id, region=env.region, tags=tags, protect=cfg.deletion_protection),
        opts)
    network = Network(f"{name}-network", NetworkArgs(
        config=cfg.network, region=env.region, cluster_name=cfg.cluster_name, tags=tags,
        flow_log_key_arn=keys.arns["logs"]), opts)
    store = ArtifactStore(f"{name}-artifacts", ArtifactStoreArgs(
        config=cfg.artifacts, environment=env, kms_key_arn=keys.arns["s3"], protect=cfg.is_prod, tags=tags), opts)
    repos = {r: Repository(f"{name}-ecr-{r.replace('/', '-')}", RepositoryArgs(
        repository=r, kms_key_arn=keys.arns["ecr"], tags=tags, keep_tagged=cfg.registry.keep_tagged_images,
        untagged_days=cfg.registry.untagged_expiry_days, protect=cfg.is_prod), opts)
             for r in cfg.registry.repositories}
    cluster = Cluster(f"{name}-cluster", ClusterArgs(
        config=cfg.cluster, cluster_name=cfg.cluster_name, subnet_ids=network.private_subnet_ids,
        secrets_key_arn=keys.arns["eks"], logs_key_arn=keys.arns["logs"],
        deletion_protection=cfg.deletion_protection, tags=tags), opts)
    pools = NodePools(f"{name}-nodes", NodePoolsArgs(
        cluster_name=cluster.cluster.name, cluster_name_plain=cfg.cluster_name, subnet_ids=network.private_subnet_ids,
        system=cfg.node_pools.system, gpu=list(cfg.node_pools.gpu), ebs_key_arn=keys.arns["ebs"], tags=tags,
        depends_on=list(cluster.pre_node_addons)), opts)
    ClusterAddons(f"{name}-cluster-addons", ClusterAddonsArgs(
        cluster_name=cluster.cluster.name, oidc_provider_arn=cluster.oidc_provider.arn,
        oidc_issuer_host=cluster.oidc_issuer_host, ebs_key_arn=keys.arns["ebs"], nodes=[pools.system], tags=tags,
        moved_from=MovedFrom(parent=cluster, prefix=f"{name}-cluster")), opts)
    CostBudget(f"{name}-budget", CostBudgetArgs(
        budget_name=f"mlops-{name}", monthly_usd=cfg.budget.monthly_usd,
        emails=[*env.owners, *cfg.budget.notify], tag_filter=("environment", name),
        thresholds_pct=tuple(cfg.budget.alert_thresholds_pct), tags=tags), opts)
    return AwsLayer(
        aws_provider=provider, vpc_id=network.vpc_id, private_subnet_ids=network.private_subnet_ids,
        cluster=cluster.cluster, cluster_name=cluster.cluster.name, cluster_endpoint=cluster.cluster.endpoint,
        cluster_ca_data=cluster.cluster.certificate_authority.apply(lambda ca: ca.data or ""),
        cluster_security_group_id=cluster.cluster.vpc_config.apply(lambda v: v.cluster_security_group_id or ""),
        oidc_provider_arn=cluster.oidc_provider.arn, oidc_issuer_url=cluster.oidc_issuer_url,
        oidc_issuer_host=cluster.oidc_issuer_host, node_role_arn=pools.node_role.arn,
        node_groups=[pools.system, *pools.gpu], buckets=store.buckets, kms_key_arns=keys.arns,
        registry_urls={r: repo.url for r, repo in repos.items()})


def gpu_pool_outputs(cfg: PlatformConfig) -> dict[str, dict[str, Any]]:
    """`contract.GpuPoolOutput` of every GPU pool: what its node group is labelled and sized as."""
    out = {}
    for pool in cfg.node_pools.gpu:
        spec = pool_spec(pool)
        out[pool.name] = contract.GpuPoolOutput(
            gpu_type=spec.labels[contract.GPU_TYPE_LABEL], instance_types=spec.instance_types,
            gpus_per_node=spec.gpus_per_node, max_nodes=spec.max_size, capacity=pool.capacity.value).model_dump()
    return out


def export_outputs(cfg: PlatformConfig, layer: AwsLayer, k8s: ClusterLayerOutputs) -> None:
    """Export exactly the fields of `contract.PlatformOutputs`."""
    env = cfg.environment
    values: dict[str, Any] = {
        "platform_version": __version__, "environment": env.name, "tier": cfg.tier.value, "region": env.region,
        "account_id": env.account_id, "vpc_id": layer.vpc_id, "private_subnet_ids": layer.private_subnet_ids,
        "cluster_name": layer.cluster_name, "cluster_endpoint": layer.cluster_endpoint,
        "cluster_version": cfg.cluster.version, "cluster_ca_data": layer.cluster_ca_data,
        "oidc_issuer_url": layer.oidc_issuer_url,
        "oidc_provider_arn": layer.oidc_provider_arn,
        "buckets": {role: {"name": b.name, "arn": b.arn} for role, b in layer.buckets.items()},
        "registry_urls": layer.registry_urls, "kms_key_arns": layer.kms_key_arns, "tags": cfg.base_tags,
        "gpu_pools": gpu_pool_outputs(cfg),
    }
    values |= {"mlflow_url": k8s.mlflow_url, "prometheus_url": k8s.prometheus_url,
               "serving_ingress_domain": k8s.serving_ingress_domain,
               "projects": {name: tenant.to_dict() for name, tenant in k8s.projects.items()}}
    for key, value in values.items():
        pulumi.export(key, value)


def main() -> None:
    cfg = current_config()
    layer = build_aws_layer(cfg)
    cluster_layer = deploy_cluster_layer(cfg, layer, pulumi.ResourceOptions(providers={"aws": layer.aws_provider}))
    export_outputs(cfg, layer, cluster_layer)
