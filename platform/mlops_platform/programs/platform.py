"""The platform program: validate the stack's config, then build the layer this Pulumi project runs
(`aws`, `cluster` or `tenants`, see core.layers). `platform/__main__.py` calls `main()`; so does the
offline engine, once per layer."""

from __future__ import annotations

import importlib

import pulumi

from mlops_platform.core.layers import Layer, layer_of_project
from mlops_platform.programs.common import current_config

#: Module of each layer's program. Only the running layer's is imported: the aws layer's stack (a budget
#: change, `--layer aws`) then never loads pulumi_kubernetes and the in-cluster components (~1 s of imports).
PROGRAMS = {Layer.AWS: "mlops_platform.programs.aws_program", Layer.CLUSTER: "mlops_platform.programs.cluster_program",
            Layer.TENANTS: "mlops_platform.programs.tenants_program"}


def main() -> None:
    layer = layer_of_project(pulumi.get_project())
    importlib.import_module(PROGRAMS[layer]).main(current_config())
