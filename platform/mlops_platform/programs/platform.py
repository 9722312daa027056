"""The platform program: validate the stack's config, then build the layer this Pulumi project runs
(`aws`, `cluster` or `tenants`, see core.layers). `platform/__main__.py` calls `main()`; so does the
offline engine, once per layer."""

from __future__ import annotations

import pulumi

from mlops_platform.core.layers import Layer, layer_of_project
from mlops_platform.programs import aws_program, cluster_program, tenants_program
from mlops_platform.programs.common import current_config

PROGRAMS = {Layer.AWS: aws_program.main, Layer.CLUSTER: cluster_program.main, Layer.TENANTS: tenants_program.main}


def main() -> None:
    layer = layer_of_project(pulumi.get_project())
    PROGRAMS[layer](current_config())
