"""What `mlplat destroy` must do or refuse beyond `pulumi destroy` itself.

- A forced destroy of a deletion-protected environment: `pulumi state unprotect` lifts Pulumi's protect only.
  EKS refuses DeleteCluster while the cluster's own deletion protection is on, so it is turned off first
  (UpdateClusterConfig deletionProtection=false) and the cluster waited for until ACTIVE again.
  https://docs.aws.amazon.com/eks/latest/userguide/deletion-protection.html
- The aws layer is never destroyed under the in-cluster layers: their resources (load balancers, volumes,
  the tracking database, tenants' roles) would be orphaned and block the VPC's deletion.
- Nor while a load balancer of the AWS Load Balancer Controller remains: Envoy Gateway deletes the gateway's
  Service asynchronously once the cluster layer deleted the Gateway, and the controller deletes the NLB after
  that; the subnets cannot go before it (DependencyViolation). Such load balancers carry the controller's tag
  `elbv2.k8s.aws/cluster: <cluster>` (aws-load-balancer-controller v3.5.0 docs/guide/service/nlb.md, tags).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from mlops_platform.core.errors import UsageError
from mlops_platform.core.layers import Layer
from mlops_platform.ops._aws import Aws, AwsFailure, error_code

if TYPE_CHECKING:
    from mlops_platform.config import PlatformConfig

#: Resources of an exported state that are no cloud object (a destroyed stack keeps none of the others).
_BOOKKEEPING = ("pulumi:pulumi:Stack", "pulumi:providers:")


def live_resources(deployment: Mapping[str, Any] | None) -> int:
    """Resources of an exported stack state that exist in the cloud (not the stack or its providers)."""
    return sum(1 for r in (deployment or {}).get("resources") or []
               if not str(r.get("type", "")).startswith(_BOOKKEEPING))


def refuse_aws_under_upper_layers(cfg: PlatformConfig, held: Callable[[Layer], int],
                                  upper: Iterable[Layer] = (Layer.TENANTS, Layer.CLUSTER)) -> None:
    """UsageError when a layer above aws still holds resources (`held(layer)`: their count, 0 if no stack)."""
    env = cfg.environment.name
    busy = [(layer, n) for layer in upper if (n := held(layer))]
    if busy:
        listed = ", ".join(f"{layer.value} ({n} resource(s))" for layer, n in busy)
        raise UsageError(f"refusing to destroy the aws layer of {env}: {listed} still hold resources in its "
                         f"cluster and VPC — fix: destroy them first (`mlplat destroy {env}` walks tenants → "
                         f"cluster → aws; from outside the VPC, start the runner with MLPLAT_OPERATION=destroy)")


def lift_cluster_deletion_protection(cfg: PlatformConfig, aws: Aws, on_output: Callable[[str], Any]) -> None:
    """Turn off EKS deletion protection of the environment's cluster (no-op when it does not exist or is off)."""
    name = cfg.cluster_name
    try:
        cluster = aws.eks.describe_cluster(name=name)["cluster"]
    except AwsFailure as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return
        raise
    if not cluster.get("deletionProtection"):
        return
    on_output(f"turning off EKS deletion protection of {name} (forced destroy)\n")
    aws.eks.update_cluster_config(name=name, deletionProtection=False)
    aws.eks.get_waiter("cluster_active").wait(name=name)


#: Tag the AWS Load Balancer Controller puts on every load balancer it makes, valued the cluster's name.
CONTROLLER_CLUSTER_TAG = "elbv2.k8s.aws/cluster"


def controller_load_balancers(aws: Aws, cluster_name: str) -> list[str]:
    """ARNs of the load balancers the controller made for `cluster_name` that still exist."""
    arns = [lb["LoadBalancerArn"] for page in aws.elbv2.get_paginator("describe_load_balancers").paginate()
            for lb in page["LoadBalancers"]]
    found = []
    for i in range(0, len(arns), 20):  # DescribeTags takes at most 20 ARNs
        for described in aws.elbv2.describe_tags(ResourceArns=arns[i:i + 20])["TagDescriptions"]:
            if {"Key": CONTROLLER_CLUSTER_TAG, "Value": cluster_name} in described.get("Tags", []):
                found.append(described["ResourceArn"])
    return found


def await_controller_load_balancers(cfg: PlatformConfig, aws: Aws, on_output: Callable[[str], Any], *,
                                    timeout: float = 300, poll: float = 10,
                                    sleep: Callable[[float], Any] = time.sleep) -> None:
    """Wait (up to `timeout` seconds) until the controller's load balancers of the cluster are gone; a
    UsageError naming them when they stay, before the aws layer's subnets are touched."""
    deadline = time.monotonic() + timeout
    while left := controller_load_balancers(aws, cfg.cluster_name):
        if time.monotonic() >= deadline:
            raise UsageError(f"refusing to destroy the aws layer of {cfg.environment.name}: the AWS Load Balancer "
                             f"Controller's load balancer(s) {', '.join(left)} still exist and hold its subnets — "
                             f"fix: destroy the cluster layer first (`mlplat destroy {cfg.environment.name} --layer "
                             "cluster`), or delete them (`aws elbv2 delete-load-balancer --load-balancer-arn ARN`)")
        on_output(f"waiting for {len(left)} load balancer(s) of the AWS Load Balancer Controller to go\n")
        sleep(poll)
