"""The serving stack: KServe (CRDs + controller, RawDeployment mode) behind the platform's ingress, an
Envoy Gateway (Gateway API) on an internal load balancer, and cert-manager for KServe's webhook.

Models are routed as `<name>.<namespace>.<ingress_domain>`: a DNS label cannot hold a dot, so no project's
model name can spell another project's host (with `<name>-<namespace>`, model `model-risk` in `fraud` was
`model` in `risk-fraud`). Only project namespaces may attach routes to the gateway. RawDeployment keeps serving on plain
Deployments + HPA (no Knative), so GPU pods scale like any workload. Projects deploy models with
`ModelServing` (model_serving.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.k8s._helm import helm_release, namespace
from mlops_platform.k8s.manifests import meta
from mlops_platform.k8s.provider import k8s_opts
from mlops_platform.k8s.tenancy import PROJECT_LABEL

KSERVE_NAMESPACE = "kserve"
GATEWAY_NAMESPACE = "envoy-gateway-system"  # the Envoy data plane runs here, next to its controller
CERT_MANAGER_NAMESPACE = "cert-manager"
GATEWAY_CLASS = "mlops-models"
GATEWAY_NAME = "kserve-ingress-gateway"
#: Keeps the gateway's load balancer inside the VPC (no public endpoint for models).
INTERNAL_LB_ANNOTATIONS = {"service.beta.kubernetes.io/aws-load-balancer-internal": "true",
                           "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}


@dataclass(frozen=True, kw_only=True)
class ServingStackArgs:
    """Arguments of `ServingStack`."""

    k8s_version: str
    """Kubernetes minor version of the namespaces' PSA labels. Required."""
    ingress_domain: str
    """Domain KServe serves model endpoints under. Required."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster. Required."""


#: KServe's host for an InferenceService (Go template over Name, Namespace, IngressDomain). Dots, not dashes,
#: between the parts: the namespace is then a DNS label of its own, so hosts of different namespaces cannot collide.
DOMAIN_TEMPLATE = "{{ .Name }}.{{ .Namespace }}.{{ .IngressDomain }}"


def kserve_values(domain: str) -> dict[str, Any]:
    return {"kserve": {"controller": {
        "deploymentMode": "RawDeployment",
        "gateway": {"domain": domain, "domainTemplate": DOMAIN_TEMPLATE,
                    "ingressGateway": {"enableGatewayApi": True,
                                       "kserveGateway": f"{KSERVE_NAMESPACE}/{GATEWAY_NAME}",
                                       "createGateway": False}}}}}


def gateway_spec(domain: str) -> dict[str, Any]:
    return {"gatewayClassName": GATEWAY_CLASS,
            "infrastructure": {"annotations": dict(INTERNAL_LB_ANNOTATIONS)},
            "listeners": [{"name": "http", "protocol": "HTTP", "port": 80, "hostname": f"*.{domain}",
                           "allowedRoutes": allowed_routes()}]}


def allowed_routes() -> dict[str, Any]:
    """Only HTTPRoutes from project namespaces (labelled by tenancy) attach to the models' listener: `All` would let
    any namespace, a third-party chart's included, claim a model host. Gateway API `AllowedRoutes.namespaces`:
    `from: Selector` admits the namespaces the label selector matches."""
    return {"namespaces": {"from": "Selector",
                           "selector": {"matchExpressions": [{"key": PROJECT_LABEL, "operator": "Exists"}]}}}


#: Route kinds whose hostnames the admission policy checks (the ones the models' HTTP listener admits).
ROUTE_RESOURCES = ("httproutes", "grpcroutes")


def covering_wildcards(domain: str) -> list[str]:
    """Route hostnames that take every host under `domain`: `*.<domain>` and `*.<each parent of domain>`
    (Gateway API: a wildcard is a suffix match, and of two wildcards the more specific one is the match)."""
    labels = domain.split(".")
    return [f"*.{'.'.join(labels[i:])}" for i in range(len(labels))]


def route_host_expression(domain: str) -> str:
    """CEL (ValidatingAdmissionPolicy, `namespaceObject` = the route's namespace): a project's route names
    hosts (Gateway API: a route with none takes every host of the listener), and each is under
    `<namespace>.<domain>`, or outside `domain` without covering it (those never meet the `*.<domain>`
    listener)."""
    own = f"('.' + namespaceObject.metadata.name + '.{domain}')"
    covering = ", ".join(f"'{w}'" for w in covering_wildcards(domain))
    return (f"has(object.spec.hostnames) && size(object.spec.hostnames) > 0 && object.spec.hostnames.all(h, "
            f"h.endsWith({own}) || (!h.endsWith('.{domain}') && !(h in [{covering}])))")


def route_host_policy(domain: str) -> dict[str, Any]:
    """Spec of the ValidatingAdmissionPolicy that keeps each project's routes under its own namespace's
    hosts: KServe's hosts comply by construction; an HTTPRoute a project or its controllers write must."""
    return {"failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{"apiGroups": ["gateway.networking.k8s.io"], "apiVersions": ["*"],
                                                    "operations": ["CREATE", "UPDATE"],
                                                    "resources": list(ROUTE_RESOURCES)}]},
            "validations": [{"expression": route_host_expression(domain),
                             "messageExpression": f"'route hostnames must be set and lie under ' + "
                                                  f"namespaceObject.metadata.name + '.{domain} (this namespace)'",
                             "reason": "Forbidden"}]}


def route_host_binding(policy_name: str) -> dict[str, Any]:
    """Binds the policy, denying, in the namespaces tenancy labels as projects."""
    return {"policyName": policy_name, "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchExpressions": [
                {"key": PROJECT_LABEL, "operator": "Exists"}]}}}


class ServingStack(pulumi.ComponentResource):
    """cert-manager, Envoy Gateway + an internal Gateway, KServe CRDs and controller."""

    def __init__(self, name: str, args: ServingStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:ServingStack", name, None, opts)
        p, v = args.provider, args.k8s_version
        cm_ns = namespace(f"{name}-cert-manager-ns", CERT_MANAGER_NAMESPACE, "restricted", v, k8s_opts(self, p),
                          open_ports=(10250,))  # admission webhook
        cert_manager = helm_release(f"{name}-cert-manager", "cert-manager", "cert-manager", CERT_MANAGER_NAMESPACE,
                                    {"crds": {"enabled": True}}, k8s_opts(self, p, [cm_ns]))
        # Third-party controllers whose pod specs the charts own: baseline (no host access) is enforced;
        # restricted would reject them on any chart-side change to their security context.
        gw_ns = namespace(f"{name}-gateway-ns", GATEWAY_NAMESPACE, "baseline", v, k8s_opts(self, p),
                          open_ports=(10080, 10443, 9443))  # data plane behind the internal LB, webhook
        envoy = helm_release(f"{name}-envoy-gateway", "envoy-gateway", "envoy-gateway", GATEWAY_NAMESPACE, {},
                             k8s_opts(self, p, [gw_ns]))
        ks_ns = namespace(f"{name}-kserve-ns", KSERVE_NAMESPACE, "baseline", v, k8s_opts(self, p),
                          open_ports=(9443,))  # admission webhook
        gw_class = k8s.apiextensions.CustomResource(
            f"{name}-gateway-class", api_version="gateway.networking.k8s.io/v1", kind="GatewayClass",
            metadata=meta(GATEWAY_CLASS), spec={"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"},
            opts=k8s_opts(self, p, [envoy]))
        gateway = k8s.apiextensions.CustomResource(
            f"{name}-gateway", api_version="gateway.networking.k8s.io/v1", kind="Gateway",
            metadata=meta(GATEWAY_NAME, KSERVE_NAMESPACE), spec=gateway_spec(args.ingress_domain),
            opts=k8s_opts(self, p, [gw_class, ks_ns]))
        crds = helm_release(f"{name}-kserve-crd", "kserve-crd", "kserve-crd", KSERVE_NAMESPACE, {},
                            k8s_opts(self, p, [ks_ns]))
        self.kserve = helm_release(f"{name}-kserve", "kserve", "kserve", KSERVE_NAMESPACE,
                                   kserve_values(args.ingress_domain),
                                   k8s_opts(self, p, [crds, cert_manager, gateway]))
        self._route_hosts(name, args)
        self.ingress_domain = args.ingress_domain
        self.register_outputs({"ingress_domain": args.ingress_domain})

    def _route_hosts(self, name: str, args: ServingStackArgs) -> None:
        policy_name = "mlops-route-hosts"
        policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{name}-route-hosts", metadata=meta(policy_name), spec=route_host_policy(args.ingress_domain),
            opts=k8s_opts(self, args.provider))
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{name}-route-hosts-binding", metadata=meta(policy_name), spec=route_host_binding(policy_name),
            opts=k8s_opts(self, args.provider, [policy]))
