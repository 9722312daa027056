"""The AWS Load Balancer Controller owns the models' load balancer: its role is the upstream policy at the
pinned release, its chart knows the cluster, the gateway's Service carries what the controller honours, and
`destroy` removes the load balancer before the controller and before the subnets.

Upstream facts relied on:
- kubernetes-sigs/aws-load-balancer-controller v3.5.0 `docs/install/iam_policy.json` (recorded with its commit in
  tests/fixtures/upstream/iam/) and `docs/guide/service/nlb.md`: `spec.loadBalancerClass: service.k8s.aws/nlb`
  (the controller's default class) hands a Service to the controller; `aws-load-balancer-type: external` keeps
  the in-tree controller off; `aws-load-balancer-nlb-target-type: ip` targets pod IPs; internal NLBs go to
  subnets tagged `kubernetes.io/role/internal-elb: 1` (docs/deploy/subnet_discovery.md).
- aws/eks-charts aws-load-balancer-controller 3.5.0 values.yaml (tests/fixtures/upstream/values): clusterName,
  region, vpcId, serviceAccount.annotations.
- IAM: an inline role policy is at most 10,240 characters
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
- Pulumi deletes a resource's dependents before the resource
  (https://www.pulumi.com/docs/iac/concepts/options/dependson/); `mlplat destroy` walks tenants → cluster → aws.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlops_platform.aws.lb_controller import APP_VERSION, controller_policy
from mlops_platform.config import PlatformConfig
from mlops_platform.core.layers import Layer, layers_for
from mlops_platform.core.versions import CHARTS
from mlops_platform.engine import Plan, Resource

FIXTURE = Path(__file__).parents[1] / "fixtures" / "upstream" / "iam" / "aws-load-balancer-controller-v3.5.0.json"
RELEASE = "kubernetes:helm.sh/v3:Release"
PREFIX = "service.beta.kubernetes.io/aws-load-balancer-"


def only(plan: Plan, type_: str, name_suffix: str) -> Resource:
    found = [r for r in plan.resources if r.type == type_ and r.name.endswith(name_suffix)]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def test_the_policy_is_the_controllers_published_one_at_the_pinned_release() -> None:
    upstream = json.loads(FIXTURE.read_text())
    assert upstream["source"]["tag"] == APP_VERSION == f"v{CHARTS['aws-load-balancer-controller'].version}"
    assert controller_policy() == upstream["policy"]


def test_the_role_is_trusted_by_the_controllers_service_account_only(plan: Plan) -> None:
    role = only(plan, "aws:iam/role:Role", "-lb-controller-role")
    [stmt] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert stmt["Action"] == ["sts:AssumeRoleWithWebIdentity"]
    subjects = [v for k, v in stmt["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    assert subjects == ["system:serviceaccount:kube-system:aws-load-balancer-controller"]
    policy = only(plan, "aws:iam/rolePolicy:RolePolicy", "-lb-controller-policy").inputs["policy"]
    assert json.loads(policy) == controller_policy()
    assert len(json.dumps(controller_policy(), separators=(",", ":"))) < 10_240


def test_the_chart_knows_cluster_region_vpc_and_its_role(plan: Plan, cfg: PlatformConfig) -> None:
    release = only(plan, RELEASE, "-lb-controller-release").inputs
    assert (release["chart"], release["version"], release["namespace"]) == \
        ("aws-load-balancer-controller", "3.5.0", "kube-system")
    values = release["values"]
    assert values["region"] == cfg.environment.region
    assert values["clusterName"] and values["vpcId"]
    account = values["serviceAccount"]
    assert account["name"] == "aws-load-balancer-controller" and account["create"] is True
    assert set(account["annotations"]) == {"eks.amazonaws.com/role-arn"}


def test_the_service_webhook_that_would_gate_every_service_is_off(plan: Plan) -> None:
    """Chart 3.5.0 defaults `enableServiceMutatorWebhook: true` with `serviceMutatorWebhookConfig.failurePolicy:
    Fail` (aws/eks-charts values.yaml, keys in the values fixture): every Service CREATE in the cluster would
    fail while the controller is not ready, i.e. during the first `up` and any controller outage. The gateway's
    Service names `loadBalancerClass` itself, so the webhook adds nothing."""
    values = only(plan, RELEASE, "-lb-controller-release").inputs["values"]
    assert values["enableServiceMutatorWebhook"] is False


def test_the_gateway_service_is_an_internal_ip_target_nlb_of_the_controller(plan: Plan) -> None:
    proxy = only(plan, "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy", "-envoy-proxy").inputs
    service = proxy["spec"]["provider"]["kubernetes"]["envoyService"]
    assert service["type"] == "LoadBalancer" and service["loadBalancerClass"] == "service.k8s.aws/nlb"
    assert service["annotations"] == {f"{PREFIX}type": "external", f"{PREFIX}nlb-target-type": "ip",
                                      f"{PREFIX}scheme": "internal"}
    gw_class = only(plan, "kubernetes:gateway.networking.k8s.io/v1:GatewayClass", "-gateway-class").inputs["spec"]
    assert gw_class["parametersRef"] == {"group": "gateway.envoyproxy.io", "kind": "EnvoyProxy",
                                         "name": proxy["metadata"]["name"],
                                         "namespace": proxy["metadata"]["namespace"]}
    gateway = only(plan, "kubernetes:gateway.networking.k8s.io/v1:Gateway", "-serving-gateway").inputs["spec"]
    assert "infrastructure" not in gateway, "no in-tree LB annotations beside the EnvoyProxy's"


def test_destroy_deletes_the_load_balancers_service_before_the_controller(plan: Plan) -> None:
    """The EnvoyProxy, GatewayClass and Gateway (whose Service owns the NLB) depend on the controller's
    release directly, so Pulumi deletes them first and the controller is still there to delete the NLB."""
    release = only(plan, RELEASE, "-lb-controller-release")
    for type_, suffix in (("kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy", "-envoy-proxy"),
                          ("kubernetes:gateway.networking.k8s.io/v1:GatewayClass", "-gateway-class"),
                          ("kubernetes:gateway.networking.k8s.io/v1:Gateway", "-serving-gateway")):
        assert release.urn in only(plan, type_, suffix).dependencies, suffix


def test_the_cluster_layer_goes_before_the_aws_layer_removes_subnets(plan: Plan) -> None:
    order = layers_for(None, reverse=True)
    assert order.index(Layer.CLUSTER) < order.index(Layer.AWS)
    subnets = [r for r in plan.resources if r.type == "aws:ec2/subnet:Subnet"]
    private = [s for s in subnets if s.inputs["tags"].get("mlops.io/subnet-tier") == "private"]
    assert private, "the managed network has private subnets"
    assert all(s.inputs["tags"].get("kubernetes.io/role/internal-elb") == "1" for s in private)
    assert not any("kubernetes.io/role/internal-elb" in s.inputs["tags"] for s in subnets if s not in private)
