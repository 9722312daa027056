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

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

import pulumi
from pydantic import BaseModel

from mlops_platform import contract


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


@dataclass(frozen=True)
class BucketRef:
    name: pulumi.Output[str]
    arn: pulumi.Output[str]


@dataclass(frozen=True)
class AwsLayer:
    """What the `aws` layer hands the layers above (built from resources in the `aws` stack, from a
    StackReference above it). Field names are those of `contract.AwsLayerOutputs`."""

    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]
    cluster_name: pulumi.Output[str]
    cluster_arn: pulumi.Output[str]
    #: Resolves only once every deployer's access entry is associated: readers of the endpoint (the
    #: Kubernetes providers) therefore wait for cluster access.
    cluster_endpoint: pulumi.Output[str]
    cluster_ca_data: pulumi.Output[str]
    cluster_security_group_id: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer_url: pulumi.Output[str]  # https://oidc.eks.<region>.amazonaws.com/id/…
    node_role_arn: pulumi.Output[str]
    github_oidc_provider_arn: pulumi.Output[str]
    deployer_project: pulumi.Output[str]  # CodeBuild project of the in-VPC runner ('' when off)
    buckets: dict[str, BucketRef]
    kms_key_arns: dict[str, pulumi.Output[str]]
    registry_urls: dict[str, pulumi.Output[str]]

    @property
    def oidc_issuer_host(self) -> pulumi.Output[str]:
        """The issuer URL without https:// (IAM condition keys use it)."""
        return self.oidc_issuer_url.apply(lambda url: url.removeprefix("https://"))

    def exports(self) -> dict[str, Any]:
        """Stack outputs of the `aws` layer (the `contract.AwsLayerOutputs` fields this bundle holds)."""
        values: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "buckets"}
        values["buckets"] = {role: {"name": b.name, "arn": b.arn} for role, b in self.buckets.items()}
        return values


def _field(typed: pulumi.Output[Any], name: str) -> pulumi.Output[Any]:
    return typed.apply(lambda model: getattr(model, name))


def _validated(reference: pulumi.StackReference, model: type[BaseModel], name: str) -> pulumi.Output[Any]:
    def check(outputs: dict[str, Any]) -> Any:
        if not outputs:
            raise ValueError(f"stack {name} has no outputs — fix: apply the lower layer first "
                             f"(`mlplat up <env> --layer ...`, see docs/operations.md)")
        return model.model_validate({k: v for k, v in outputs.items() if k in model.model_fields})
    return reference.outputs.apply(check)


def aws_layer_from(reference: pulumi.StackReference, name: str, *, bucket_roles: list[str],
                   key_roles: list[str], repositories: list[str]) -> AwsLayer:
    """The `aws` layer read back from its stack, validated against `contract.AwsLayerOutputs`.
    Dict keys are known from config (programs branch on them), their values come from the stack."""
    typed = _validated(reference, contract.AwsLayerOutputs, name)
    plain = {f.name: _field(typed, f.name) for f in fields(AwsLayer)
             if f.name not in ("buckets", "kms_key_arns", "registry_urls")}
    buckets = {r: BucketRef(typed.apply(lambda m, r=r: m.buckets[r].name),
                            typed.apply(lambda m, r=r: m.buckets[r].arn)) for r in bucket_roles}
    keys = {k: typed.apply(lambda m, k=k: m.kms_key_arns[k]) for k in key_roles}
    repos = {r: typed.apply(lambda m, r=r: m.registry_urls[r]) for r in repositories}
    return AwsLayer(buckets=buckets, kms_key_arns=keys, registry_urls=repos, **plain)


def cluster_layer_from(reference: pulumi.StackReference, name: str) -> pulumi.Output[contract.ClusterLayerOutputs]:
    """The `cluster` layer's outputs, validated against `contract.ClusterLayerOutputs`."""
    return _validated(reference, contract.ClusterLayerOutputs, name)
