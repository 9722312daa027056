"""The `cluster` layer program: everything inside the cluster (GPU enablement, serving, monitoring,
tracking, training), on the `aws` layer read through its stack. A chart bump touches this stack only."""

from __future__ import annotations

import pulumi

from mlops_platform.config import PlatformConfig
from mlops_platform.core.layers import Layer
from mlops_platform.programs.cluster_layer import deploy_cluster_layer
from mlops_platform.programs.common import aws_provider, provider_opts, read_aws_layer


def main(cfg: PlatformConfig) -> None:
    aws_layer = read_aws_layer(cfg)
    outputs = deploy_cluster_layer(cfg, aws_layer, provider_opts(aws_provider(cfg, Layer.CLUSTER)))
    for key, value in outputs.exports().items():
        pulumi.export(key, value)
