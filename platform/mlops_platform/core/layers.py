"""The layers of one environment and what each hands the next.

An environment is three Pulumi stacks, applied in this order and destroyed in reverse:

| layer     | Pulumi project           | holds                                                              |
|-----------|--------------------------|--------------------------------------------------------------------|
| `aws`     | `mlops-platform-aws`     | network, EKS, node pools, S3, ECR, KMS, budget, IAM, deploy runner |
| `cluster` | `mlops-platform-cluster` | everything in the cluster: GPU, serving, monitoring, tracking, ... |
| `tenants` | `mlops-platform`         | per-project tenancy; exports the whole outputs contract            |

Every layer's stack is named after the environment (`dev`), and all three read the same stack file
(`stacks/Pulumi.<env>.yaml`, `stackConfigDir`). A layer reads the layers below through
StackReferences (`<org>/<project>/<env>`), validated against `contract.AwsLayerOutputs` /
`contract.ClusterLayerOutputs`. So a budget change only touches the `aws` stack (no API access
needed) and a chart bump only the `cluster` stack (never the VPC). The top layer keeps the project
name `mlops-platform`, so project stacks keep reading `<org>/mlops-platform/<env>`.
"""

from __future__ import annotations

from enum import StrEnum


class Layer(StrEnum):
    AWS = "aws"
    CLUSTER = "cluster"
    TENANTS = "tenants"


#: Apply order; destroy runs it backwards.
LAYER_ORDER = (Layer.AWS, Layer.CLUSTER, Layer.TENANTS)
#: Pulumi project of each layer (the Pulumi.yaml under `LAYER_DIRS`).
LAYER_PROJECTS = {Layer.AWS: "mlops-platform-aws", Layer.CLUSTER: "mlops-platform-cluster",
                  Layer.TENANTS: "mlops-platform"}
#: Directory of each layer's Pulumi.yaml, relative to the repository root.
LAYER_DIRS = {Layer.AWS: "platform/layers/aws", Layer.CLUSTER: "platform/layers/cluster", Layer.TENANTS: "."}


def layer_of_project(project: str) -> Layer:
    """The layer a Pulumi project name runs (the program dispatches on it)."""
    for layer, name in LAYER_PROJECTS.items():
        if name == project:
            return layer
    raise ValueError(f"Pulumi project {project!r} is no platform layer — use one of "
                     f"{', '.join(LAYER_PROJECTS.values())}")


def layers_for(selected: Layer | None, *, reverse: bool = False) -> tuple[Layer, ...]:
    """The layers one command runs: the selected one, or all in apply (or destroy) order."""
    order = (selected,) if selected else LAYER_ORDER
    return tuple(reversed(order)) if reverse else order


def reference_name(organization: str, layer: Layer, env: str) -> str:
    """Fully qualified StackReference name of an environment's layer stack (self-managed backends
    name every stack `organization/<project>/<stack>`)."""
    return f"{organization}/{LAYER_PROJECTS[layer]}/{env}"
