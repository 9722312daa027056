"""The platform program: validate the stack's config, then build the layer this Pulumi project runs
(`aws`, `cluster` or `tenants`, see mlops_platform.layers). `platform/__main__.py` calls `main()`; so does
the offline engine, once per layer."""

from __future__ import annotations

import pulumi

from mlops_platform.layers import Layer, layer_of_project
from mlops_platform.programs import aws, cluster, tenants
from mlops_platform.programs.common import current_config

PROGRAMS = {Layer.AWS: aws.main, Layer.CLUSTER: cluster.main, Layer.TENANTS: tenants.main}


def main() -> None:
    layer = layer_of_project(pulumi.get_project())
    PROGRAMS[layer](current_config())
