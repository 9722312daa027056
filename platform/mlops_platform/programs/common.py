"""What every layer program shares: the validated config, the explicit AWS provider, references below."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi.runtime.config import CONFIG, get_config_env

from mlops_platform.aws.artifacts import LOG_BUCKET_ROLE
from mlops_platform.aws.keys import KEY_PURPOSES
from mlops_platform.aws.layer_outputs import AwsLayer, aws_layer_from
from mlops_platform.config import PlatformConfig, load_from_pulumi_config
from mlops_platform.config.rules_gpu import has_efa_pool, has_mig_pool
from mlops_platform.config.sections import BucketRole
from mlops_platform.core.chart_images import manual_copies
from mlops_platform.core.image_mirror import Mirror, ecr_registry
from mlops_platform.core.layers import Layer, layer_of_project, reference_name
from mlops_platform.core.shards import split_stack
from mlops_platform.core.versions import MIRRORED_IMAGES


def current_config() -> PlatformConfig:
    """The validated config of the running stack (raises ConfigError listing every problem)."""
    values: dict[str, Any] = {**get_config_env(), **CONFIG.get()}
    return load_from_pulumi_config(values, config_stack(pulumi.get_project(), pulumi.get_stack()))


def config_stack(project: str, stack: str) -> str:
    """The stack whose configuration a stack runs: its own, except that a tenant shard (`prod-tenants-2`,
    docs/scale-out.md) runs its environment's (`pulumi up --config-file stacks/Pulumi.prod.yaml`)."""
    env, shard = split_stack(stack)
    return env if shard is not None and layer_of_project(project) is Layer.TENANTS else stack


def aws_provider(cfg: PlatformConfig, layer: Layer) -> aws.Provider:
    """Explicit provider: pinned region, and `allowed_account_ids` so prod can never land in another account.
    Named per layer (`aws-dev`, `aws-dev-cluster`, ...) so an environment's layers never share a name."""
    env = cfg.environment
    name = f"aws-{env.name}" if layer is Layer.AWS else f"aws-{env.name}-{layer.value}"
    return aws.Provider(name, region=env.region, allowed_account_ids=[env.account_id],
                        default_tags=aws.ProviderDefaultTagsArgs(tags=cfg.base_tags))


def provider_opts(provider: aws.Provider) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(providers={"aws": provider})


def reference(cfg: PlatformConfig, layer: Layer) -> tuple[pulumi.StackReference, str]:
    """StackReference to a lower layer of the same environment, and its name."""
    name = reference_name(pulumi.get_organization(), layer, cfg.environment.name)
    return pulumi.StackReference(f"{cfg.environment.name}-{layer.value}-layer", stack_name=name), name


def read_aws_layer(cfg: PlatformConfig) -> AwsLayer:
    """The `aws` layer of this environment, read back through its stack (validated outputs)."""
    ref, name = reference(cfg, Layer.AWS)
    buckets = [LOG_BUCKET_ROLE, *(b.value for b in cfg.artifacts.buckets)]
    return aws_layer_from(ref, name, bucket_roles=buckets, key_roles=list(KEY_PURPOSES),
                          repositories=[*cfg.registry.repositories, *mirror_repositories(cfg)])


def tracking_on(cfg: PlatformConfig) -> bool:
    """Whether the environment runs MLflow: tracking enabled and a `models` bucket for its artifacts. Every
    layer asks this one question, so the cluster layer's logins and the tenants reading them always agree."""
    return cfg.component_enabled(cfg.tracking) and BucketRole.MODELS in cfg.artifacts.buckets


def mirror_repositories(cfg: PlatformConfig) -> list[str]:
    """Platform ECR repositories an operator fills (`mlplat mirror ENV`): the upstream images the in-cluster
    layer runs outside charts (versions.MIRRORED_IMAGES) and, when mirroring, the chart images no pull-through
    cache serves (nvcr.io), named like every platform repository (`naming.ecr_repository`)."""
    own = [MIRRORED_IMAGES["mlflow"].repository] if tracking_on(cfg) else []
    if not cfg.mirroring:
        return own
    return [*own, *(c.repository for c in manual_copies(installed_charts(cfg), environment_mirror(cfg)))]


def environment_mirror(cfg: PlatformConfig) -> Mirror:
    """The account's registry as this environment's air-gapped cluster pulls from it."""
    return Mirror(ecr_registry(cfg.environment.account_id, cfg.environment.region), cfg.cluster_name)


def installed_charts(cfg: PlatformConfig) -> list[str]:
    """Keys (core/chart_images.py) of every chart the cluster layer installs for this config, in install
    order; tests/k8s/test_air_gapped.py checks it against the releases of planned stacks."""
    on, gpu = cfg.component_enabled, bool(cfg.node_pools.gpu)
    monitoring, serving = on(cfg.monitoring), on(cfg.serving)
    groups = [(monitoring, ["kube-prometheus-stack"]), (cfg.cost_allocation_on, ["opencost"]),
              (gpu, ["nvidia-device-plugin", "dcgm-exporter"]), (has_efa_pool(cfg), ["aws-efa-k8s-device-plugin"]),
              (has_mig_pool(cfg), ["gpu-operator"]), (gpu, ["cluster-autoscaler"]),
              (cfg.karpenter, ["karpenter-crd", "karpenter"]),
              (serving, ["aws-load-balancer-controller", "cert-manager", "envoy-gateway", "kserve-crd", "kserve"]),
              (serving and monitoring, ["flagger", "keda"]), (on(cfg.training), ["kuberay-operator"]),
              (cfg.queueing.enabled, ["kueue"]), (on(cfg.pipelines), ["argo-workflows", "argo-events"])]
    return [chart for wanted, charts in groups if wanted for chart in charts]
