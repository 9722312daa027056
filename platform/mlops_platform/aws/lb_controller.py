"""The AWS Load Balancer Controller's IAM role (IRSA), created in the `aws` layer; the chart itself is
installed by the `cluster` layer (k8s/lb_controller.py), which reads the role's ARN from this layer's outputs.

The permissions are the controller's own published policy at the pinned release (`lb_controller_policy.json`
= kubernetes-sigs/aws-load-balancer-controller v3.5.0 `docs/install/iam_policy.json`; the test
tests/foundation/test_lb_controller.py asserts it equals the recorded upstream fixture). Its write actions are
scoped by the controller's `elbv2.k8s.aws/cluster` resource tag conditions, which is why they read `*`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import pulumi
import pulumi_aws as aws

from mlops_platform.aws._base import child_opts
from mlops_platform.core.iam import irsa_trust, to_json

#: Where the chart's ServiceAccount lives and what it is called (the cluster layer installs it so).
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"
#: The controller release whose policy `lb_controller_policy.json` is (the chart 3.5.0 ships app v3.5.0).
APP_VERSION = "v3.5.0"


@cache
def controller_policy() -> dict[str, Any]:
    """The controller's published IAM policy document at `APP_VERSION`."""
    text = resources.files("mlops_platform.aws").joinpath("lb_controller_policy.json").read_text()
    doc: dict[str, Any] = json.loads(text)
    return doc


@dataclass(frozen=True, kw_only=True)
class LoadBalancerControllerRoleArgs:
    """Arguments of `LoadBalancerControllerRole`."""

    oidc_provider_arn: pulumi.Input[str]
    """The cluster's IRSA OIDC provider. Required."""
    oidc_issuer_host: pulumi.Input[str]
    """The issuer URL without https:// (IAM condition keys use it). Required."""
    tags: dict[str, str]
    """Tags of the role. Required."""


class LoadBalancerControllerRole(pulumi.ComponentResource):
    """The controller's role (child `<name>-role`, trusted by `kube-system/aws-load-balancer-controller` only)
    and its inline policy (`<name>-policy`)."""

    def __init__(self, name: str, args: LoadBalancerControllerRoleArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:LoadBalancerControllerRole", name, None, opts)
        trust = irsa_trust(args.oidc_provider_arn, args.oidc_issuer_host, NAMESPACE, SERVICE_ACCOUNT)
        role = aws.iam.Role(f"{name}-role", assume_role_policy=to_json(trust), tags=args.tags,
                            opts=child_opts(self))
        aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=json.dumps(controller_policy()),
                           opts=child_opts(self))
        self.role_arn = role.arn
        self.register_outputs({"roleArn": role.arn})
