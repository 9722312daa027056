"""The AWS Load Balancer Controller (chart aws-load-balancer-controller 3.5.0 = controller v3.5.0) and what
the gateway's data-plane Service carries so that this controller, not the legacy in-tree one, owns its NLB.

Why: the in-tree controller makes a Classic LB that ignores most annotations and that Pulumi never sees; the
LB controller makes an NLB per `type: LoadBalancer` Service with `loadBalancerClass: service.k8s.aws/nlb`, and
deletes it (finalizer `service.k8s.aws/resources`) when the Service goes. So the Service must be deleted
while the controller still runs: the gateway objects depend on this release, and Pulumi deletes dependents
first (ServingStack).

Upstream facts (kubernetes-sigs/aws-load-balancer-controller v3.5.0, docs/guide/service/nlb.md and
annotations.md): `spec.loadBalancerClass: service.k8s.aws/nlb` hands the Service to the controller (the
in-tree one ignores Services with a class); `aws-load-balancer-type: external` keeps the in-tree one off too;
`aws-load-balancer-nlb-target-type: ip` registers pod IPs (no NodePort hop); `aws-load-balancer-scheme:
internal` (the default, stated anyway); the controller picks subnets tagged `kubernetes.io/role/internal-elb`.
The chart's values are checked against tests/fixtures/upstream/values/aws-load-balancer-controller-3.5.0.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.aws.lb_controller import NAMESPACE, SERVICE_ACCOUNT
from mlops_platform.k8s._helm import helm_release
from mlops_platform.k8s.manifests import irsa_annotation
from mlops_platform.k8s.provider import k8s_opts

NLB_CLASS = "service.k8s.aws/nlb"
_PREFIX = "service.beta.kubernetes.io/aws-load-balancer-"
#: The annotations of an internal, IP-target NLB that the LB controller owns.
NLB_ANNOTATIONS = {f"{_PREFIX}type": "external", f"{_PREFIX}nlb-target-type": "ip",
                   f"{_PREFIX}scheme": "internal"}


def envoy_proxy_spec(extra_annotations: dict[str, str]) -> dict[str, Any]:
    """EnvoyProxy (gateway.envoyproxy.io/v1alpha1) of the models' GatewayClass: the data-plane Service is an
    internal NLB of the LB controller (`provider.kubernetes.envoyService`, Envoy Gateway v1.4.2 CRD), and
    `mergeGateways`: every Gateway of the class (the platform's, one per project) shares one Envoy fleet and
    that one Service, so projects add listeners, never load balancers (Envoy Gateway v1.4 docs,
    tasks/operations/deployment-mode, "Merged Gateways onto a single EnvoyProxy fleet")."""
    return {"mergeGateways": True, "provider": {"type": "Kubernetes", "kubernetes": {"envoyService": {
        "type": "LoadBalancer", "loadBalancerClass": NLB_CLASS,
        "annotations": {**NLB_ANNOTATIONS, **extra_annotations}}}}}


def controller_values(*, cluster_name: Any, region: str, vpc_id: Any, role_arn: Any,
                      replicas: int) -> dict[str, Any]:
    """Chart values: cluster, region and VPC given (so the controller needs no IMDS), its IRSA role,
    Ingress handling off (the platform routes through the Gateway, not Ingress), and the Service mutator
    webhook off: chart 3.5.0 enables it with failurePolicy Fail for every Service CREATE in the cluster, so
    while the controller is not ready (first `up`, an outage) no release could create a Service. The
    platform sets `loadBalancerClass` itself, which is all that webhook would add."""
    return {"clusterName": cluster_name, "region": region, "vpcId": vpc_id, "replicaCount": replicas,
            "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT, "annotations": irsa_annotation(role_arn)},
            "createIngressClassResource": False, "enableServiceMutatorWebhook": False}


@dataclass(frozen=True, kw_only=True)
class LoadBalancerControllerArgs:
    """Arguments of `LoadBalancerController`."""

    cluster_name: pulumi.Input[str]
    """EKS cluster name (tags and discovery). Required."""
    region: str
    """AWS region. Required."""
    vpc_id: pulumi.Input[str]
    """The cluster's VPC. Required."""
    role_arn: pulumi.Input[str]
    """The controller's IRSA role, made by the aws layer. Required."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster. Required."""
    replicas: int = 1
    """Controller replicas (leader election). Default: 1."""


class LoadBalancerController(pulumi.ComponentResource):
    """The controller's Helm release (child `<name>-release`, in kube-system)."""

    def __init__(self, name: str, args: LoadBalancerControllerArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:LoadBalancerController", name, None, opts)
        self.release = helm_release(f"{name}-release", "aws-load-balancer-controller", "aws-load-balancer-controller",
                                    NAMESPACE, controller_values(
                                        cluster_name=args.cluster_name, region=args.region, vpc_id=args.vpc_id,
                                        role_arn=args.role_arn, replicas=args.replicas),
                                    k8s_opts(self, args.provider))
        self.register_outputs({"release": self.release.name})
