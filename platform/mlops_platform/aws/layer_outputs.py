"""What the `aws` layer hands the layers above (see core.layers): built from resources in the `aws` stack,
read back through a StackReference above it and validated against `contract.AwsLayerOutputs`."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import pulumi
from pydantic import BaseModel

from mlops_platform.core import contract


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
    #: IRSA role of the AWS Load Balancer Controller ('' when serving is off).
    lb_controller_role_arn: pulumi.Output[str]
    karpenter_node_role: pulumi.Output[str]  # '' unless gpu.provisioner: karpenter
    karpenter_interruption_queue: pulumi.Output[str]  # '' unless gpu.provisioner: karpenter
    karpenter_instance_profile: pulumi.Output[str]  # '' unless Karpenter runs with network.nat: none

    @property
    def oidc_issuer_host(self) -> pulumi.Output[str]:
        """The issuer URL without https:// (IAM condition keys use it)."""
        return self.oidc_issuer_url.apply(lambda url: url.removeprefix("https://"))

    def exports(self) -> dict[str, Any]:
        """Stack outputs of the `aws` layer (the `contract.AwsLayerOutputs` fields this bundle holds)."""
        values: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "buckets"}
        values["buckets"] = {role: {"name": b.name, "arn": b.arn} for role, b in self.buckets.items()}
        return values


def output_field(typed: pulumi.Output[Any], *path: str) -> pulumi.Output[Any]:
    """The value at `path` (attributes, then dict keys) inside a validated outputs model.

    A StackReference's `outputs` is one Output, secret as soon as any output of the lower stack is (the cluster
    layer's `tracking_logins`): read from it, every field would be secret and re-exported as a secret (a
    `[secret]` MLflow URL in `pulumi stack output`). So a field stays secret only when the contract says it is
    (`contract.SECRET_LAYER_OUTPUTS`); the rest is unsecreted.
    """
    def dig(value: Any) -> Any:
        for part in path:
            value = value[part] if isinstance(value, dict) else getattr(value, part)
        return value
    value = typed.apply(dig)
    return pulumi.Output.secret(value) if path[0] in contract.SECRET_LAYER_OUTPUTS else pulumi.Output.unsecret(value)


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
    plain = {f.name: output_field(typed, f.name) for f in fields(AwsLayer)
             if f.name not in ("buckets", "kms_key_arns", "registry_urls")}
    buckets = {r: BucketRef(output_field(typed, "buckets", r, "name"), output_field(typed, "buckets", r, "arn"))
               for r in bucket_roles}
    keys = {k: output_field(typed, "kms_key_arns", k) for k in key_roles}
    repos = {r: output_field(typed, "registry_urls", r) for r in repositories}
    return AwsLayer(buckets=buckets, kms_key_arns=keys, registry_urls=repos, **plain)


def cluster_layer_from(reference: pulumi.StackReference, name: str) -> pulumi.Output[contract.ClusterLayerOutputs]:
    """The `cluster` layer's outputs, validated against `contract.ClusterLayerOutputs`."""
    return _validated(reference, contract.ClusterLayerOutputs, name)
