"""The `tenants` layer program (Pulumi project `mlops-platform`): per-project tenancy on the `aws` and
`cluster` layers, and the environment's whole outputs contract (`contract.PlatformOutputs`), which
project stacks read as `<org>/mlops-platform/<env>`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from mlops_platform import __version__
from mlops_platform.aws.layer_outputs import AwsLayer, cluster_layer_from, output_field
from mlops_platform.aws.nodepools import pool_spec
from mlops_platform.aws.training_placement import efa_interface_count
from mlops_platform.config import PlatformConfig
from mlops_platform.config.gpu_provisioning import gpu_limit
from mlops_platform.core import contract
from mlops_platform.core.errors import UsageError
from mlops_platform.core.layers import Layer
from mlops_platform.core.shards import in_shard, shard_problem, split_stack
from mlops_platform.k8s.tenancy import TenantOutputs
from mlops_platform.programs.common import aws_provider, provider_opts, read_aws_layer, reference
from mlops_platform.programs.tenants_layer import TenantsLayer, TenantsLayerArgs


def gpu_pool_outputs(cfg: PlatformConfig) -> dict[str, dict[str, Any]]:
    """`contract.GpuPoolOutput` of every GPU pool: what its nodes are labelled and sized as (the same labels
    under either provisioner; a Karpenter pool's GPU limit is max_nodes × gpus_per_node)."""
    out = {}
    for pool in cfg.node_pools.gpu:
        spec = pool_spec(pool)
        out[pool.name] = contract.GpuPoolOutput(
            gpu_type=spec.labels[contract.GPU_TYPE_LABEL], instance_types=spec.instance_types,
            gpus_per_node=spec.gpus_per_node, max_nodes=spec.max_size, capacity=pool.capacity.value,
            provisioner=cfg.gpu.provisioner.value, max_gpus=gpu_limit(pool), resources=spec.advertised,
            efa_per_node=efa_interface_count(spec.instance_types) if contract.EFA_LABEL in spec.labels else 0,
        ).model_dump()
    return out


def platform_exports(cfg: PlatformConfig, aws_layer: AwsLayer, cluster: pulumi.Output[Any],
                     projects: Mapping[str, TenantOutputs]) -> dict[str, Any]:
    """Exactly the fields of `contract.PlatformOutputs`."""
    env = cfg.environment
    values: dict[str, Any] = {
        "platform_version": __version__, "environment": env.name, "tier": cfg.tier.value, "region": env.region,
        "account_id": env.account_id, "cluster_version": cfg.cluster.version, "tags": cfg.base_tags,
        "allow_external_webhooks": cfg.serving.delivery.allow_external_webhooks,
        "gpu_pools": gpu_pool_outputs(cfg), "projects": {name: tenant.to_dict() for name, tenant in projects.items()},
        "buckets": {role: {"name": b.name, "arn": b.arn} for role, b in aws_layer.buckets.items()},
        "registry_urls": aws_layer.registry_urls, "kms_key_arns": aws_layer.kms_key_arns,
    }
    values |= {k: getattr(aws_layer, k) for k in ("vpc_id", "private_subnet_ids", "cluster_name", "cluster_endpoint",
                                                  "cluster_ca_data", "oidc_issuer_url", "oidc_provider_arn")}
    values |= {k: output_field(cluster, k) for k in contract.ClusterLayerOutputs.model_fields
               if k not in contract.CLUSTER_LAYER_PRIVATE}
    return values


def stack_projects(cfg: PlatformConfig, stack: str) -> list[str]:
    """The projects this stack holds: all of them, or its shard's when `tenants.shards` > 1."""
    problem = shard_problem(stack, cfg.environment.name, cfg.tenants.shards)
    if problem is not None:
        raise UsageError(problem)
    return in_shard((p.name for p in cfg.projects), split_stack(stack)[1], cfg.tenants.shards)


def main(cfg: PlatformConfig) -> None:
    held = stack_projects(cfg, pulumi.get_stack())  # refuses a wrong stack before any resource exists
    aws_layer = read_aws_layer(cfg)
    ref, name = reference(cfg, Layer.CLUSTER)
    cluster = cluster_layer_from(ref, name)
    tenants = TenantsLayer(f"{cfg.environment.name}-tenants", TenantsLayerArgs(
        config=cfg, aws_layer=aws_layer, cluster_layer=cluster, projects=tuple(held)),
        provider_opts(aws_provider(cfg, Layer.TENANTS)))
    for key, value in platform_exports(cfg, aws_layer, cluster, tenants.projects).items():
        pulumi.export(key, value)
