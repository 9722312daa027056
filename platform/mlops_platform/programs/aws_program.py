"""The `aws` layer program: network, EKS, node pools, S3, ECR, KMS, budget, account prerequisites, cluster
access and the in-VPC deploy runner. Needs no access to the Kubernetes API."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from mlops_platform.aws.account import AccountPrerequisites, AccountPrerequisitesArgs
from mlops_platform.aws.artifacts import ArtifactStore, ArtifactStoreArgs
from mlops_platform.aws.budget import CostBudget, CostBudgetArgs
from mlops_platform.aws.cluster import Cluster, ClusterArgs
from mlops_platform.aws.deployer import DeployerAccess, DeployerAccessArgs, InVpcRunner, InVpcRunnerArgs
from mlops_platform.aws.ecr import Repository, RepositoryArgs
from mlops_platform.aws.keys import PlatformKeys, PlatformKeysArgs
from mlops_platform.aws.layer_outputs import AwsLayer
from mlops_platform.aws.network import Network, NetworkArgs
from mlops_platform.aws.nodepools import NodePools, NodePoolsArgs
from mlops_platform.config import PlatformConfig
from mlops_platform.core import naming
from mlops_platform.core.layers import Layer
from mlops_platform.programs.common import aws_provider, provider_opts


def deployer_principals(cfg: PlatformConfig) -> list[str]:
    """Deployer roles that need their own access entry (admins already have one: EKS allows one entry
    per principal)."""
    admins = set(cfg.cluster.admin_principal_arns)
    return [arn for arn in dict.fromkeys(cfg.cluster.deployer_role_arns) if arn not in admins]


def build_aws_layer(cfg: PlatformConfig, opts: pulumi.ResourceOptions) -> AwsLayer:
    env, tags, name = cfg.environment, cfg.base_tags, cfg.environment.name
    account = AccountPrerequisites(f"{name}-account", AccountPrerequisitesArgs(
        github_oidc_provider_arn=cfg.ci.github_oidc_provider_arn,
        create_autoscaling_role=cfg.account.create_autoscaling_service_role, tags=tags), opts)
    role_deps = (account.autoscaling_role,) if account.autoscaling_role else ()
    keys = PlatformKeys(f"{name}-keys", PlatformKeysArgs(name, env.account_id, env.region, tags,
                                                         cfg.deletion_protection, role_dependencies=role_deps), opts)
    network = Network(f"{name}-network", NetworkArgs(cfg.network, env.region, cfg.cluster_name, tags,
                                                     keys.arns["logs"]), opts)
    store = ArtifactStore(f"{name}-artifacts", ArtifactStoreArgs(cfg.artifacts, env, keys.arns["s3"],
                                                                 cfg.is_prod, tags), opts)
    repos = {r: Repository(f"{name}-ecr-{r.replace('/', '-')}",
                           RepositoryArgs(naming.ecr_repository(cfg.cluster_name, r), keys.arns["ecr"], tags, cfg.registry.keep_tagged_images,
                                          cfg.registry.untagged_expiry_days, cfg.is_prod), opts)
             for r in cfg.registry.repositories}
    cluster = Cluster(f"{name}-cluster", ClusterArgs(cfg.cluster, cfg.cluster_name, network.private_subnet_ids,
                                                     keys.arns["eks"], keys.arns["logs"], cfg.deletion_protection,
                                                     tags), opts)
    pools = NodePools(f"{name}-nodes", NodePoolsArgs(cluster.cluster.name, cfg.cluster_name,
                                                     network.private_subnet_ids, cfg.node_pools.system,
                                                     list(cfg.node_pools.gpu), keys.arns["ebs"], tags,
                                                     depends_on=list(cluster.pre_node_addons)), opts)
    cluster.post_node_addons([pools.system], keys.arns["ebs"])
    CostBudget(f"{name}-budget", CostBudgetArgs(
        f"mlops-{name}", cfg.budget.monthly_usd, [*env.owners, *cfg.budget.notify], ("environment", name),
        tuple(cfg.budget.alert_thresholds_pct), tags), opts)
    sg_id = cluster.cluster.vpc_config.apply(lambda v: v.cluster_security_group_id or "")
    access = [*cluster.admin_associations, *DeployerAccess(f"{name}-deployers", DeployerAccessArgs(
        cluster_name=cluster.cluster.name, principal_arns=deployer_principals(cfg), tags=tags), opts).associations]
    runner_project: pulumi.Output[str] = pulumi.Output.from_input("")
    if cfg.in_vpc_deployer:
        runner = InVpcRunner(f"{name}-runner", InVpcRunnerArgs(
            env_name=name, runner_name=naming.deploy_runner_name(cfg.cluster_name), account_id=env.account_id,
            region=env.region,
            vpc_id=network.vpc_id, private_subnet_ids=network.private_subnet_ids,
            cluster_name=cluster.cluster.name, cluster_arn=cluster.cluster.arn, cluster_security_group_id=sg_id,
            state_bucket=naming.bucket_name(env, "pulumi-state"), logs_key_arn=keys.arns["logs"],
            deployer_role_arns=list(cfg.cluster.deployer_role_arns), log_retention_days=cfg.cluster.log_retention_days,
            tags=tags), opts)
        access.append(runner.association)
        runner_project = runner.project.name
    return AwsLayer(
        vpc_id=network.vpc_id, private_subnet_ids=network.private_subnet_ids, cluster_name=cluster.cluster.name,
        cluster_arn=cluster.cluster.arn, cluster_endpoint=after(cluster.cluster.endpoint, access),
        cluster_ca_data=cluster.cluster.certificate_authority.apply(lambda ca: ca.data or ""),
        cluster_security_group_id=sg_id, oidc_provider_arn=cluster.oidc_provider.arn,
        oidc_issuer_url=cluster.oidc_issuer_url, node_role_arn=pools.node_role.arn,
        github_oidc_provider_arn=account.github_oidc_provider_arn, deployer_project=runner_project,
        buckets=store.buckets, kms_key_arns=keys.arns, registry_urls={r: repo.url for r, repo in repos.items()})


def after(value: pulumi.Output[str], resources: list[aws.eks.AccessPolicyAssociation]) -> pulumi.Output[str]:
    """`value`, resolved only once every resource exists: the endpoint is published (and so read by the
    layers above) only once every deployer can use it."""
    return pulumi.Output.all(value, *[r.id for r in resources]).apply(lambda v: str(v[0]))


def main(cfg: PlatformConfig) -> None:
    provider = aws_provider(cfg, Layer.AWS)
    layer = build_aws_layer(cfg, provider_opts(provider))
    for key, value in layer.exports().items():
        pulumi.export(key, value)
