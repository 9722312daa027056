"""The serving stack: KServe (CRDs + controller, RawDeployment mode) behind the platform's ingress, an
Envoy Gateway (Gateway API) on an internal NLB that the AWS Load Balancer Controller owns, and cert-manager
(KServe's webhook, and the gateway's HTTPS certificates: gateway_tls.py).

Models are routed as `<name>.<namespace>.<ingress_domain>`: a DNS label cannot hold a dot, so no project's
model name can spell another project's host (with `<name>-<namespace>`, model `model-risk` in `fraud` was
`model` in `risk-fraud`). Each project has its own Gateway in its namespace (tenants layer, project_gateway.py)
with one HTTPS listener `*.<namespace>.<ingress_domain>` admitting its namespace's routes only; the EnvoyProxy
merges every Gateway of the class onto one Envoy fleet and one NLB. The platform Gateway here has only port
80, which redirects to HTTPS. Routes may reach their own namespace's Services
only (route_isolation.py). RawDeployment keeps serving on plain Deployments + HPA (no Knative), so GPU pods
scale like any workload. Projects deploy models with `ModelServing` (model_serving.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.k8s._helm import helm_release, namespace
from mlops_platform.k8s.admission import Check, policy_spec, project_admission
from mlops_platform.k8s.gateway_tls import (
    GatewayIssuers,
    GatewayIssuersArgs,
    GatewayTlsArgs,
    acm_annotations,
    redirect_listener,
    redirect_route_spec,
)
from mlops_platform.k8s.lb_controller import envoy_proxy_spec
from mlops_platform.k8s.manifests import meta
from mlops_platform.k8s.project_gateway import GATEWAY_CLASS
from mlops_platform.k8s.provider import k8s_opts
from mlops_platform.k8s.route_isolation import ROUTES, route_backend_policy

KSERVE_NAMESPACE = "kserve"
GATEWAY_NAMESPACE = "envoy-gateway-system"  # the Envoy data plane runs here, next to its controller
CERT_MANAGER_NAMESPACE = "cert-manager"
GATEWAY_NAME = "kserve-ingress-gateway"
#: EnvoyProxy of the GatewayClass: how Envoy Gateway makes the data plane's Service (an LB-controller NLB).
ENVOY_PROXY = "mlops-models-proxy"


@dataclass(frozen=True, kw_only=True)
class ServingStackArgs:
    """Arguments of `ServingStack`."""

    k8s_version: str
    """Kubernetes minor version of the namespaces' PSA labels. Required."""
    ingress_domain: str
    """Domain KServe serves model endpoints under. Required."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster. Required."""
    tls: GatewayTlsArgs
    """HTTPS of the gateway: certificate source and its issuer's settings. Required."""
    env_name: str
    """Environment name (the platform root CA's common name). Required."""
    load_balancer_controller: pulumi.Resource | None = None
    """The AWS Load Balancer Controller's release: the gateway objects depend on it, so `destroy` deletes
    the NLB's Service while the controller still runs to delete the NLB. Default: none."""
    cert_manager_role_arn: pulumi.Input[str] | None = None
    """IRSA role of cert-manager (ACME DNS-01 in Route53). Default: none (no cloud access)."""


#: KServe's host for an InferenceService (Go template over Name, Namespace, IngressDomain). Dots, not dashes,
#: between the parts: the namespace is then a DNS label of its own, so hosts of different namespaces cannot collide.
DOMAIN_TEMPLATE = "{{ .Name }}.{{ .Namespace }}.{{ .IngressDomain }}"


def kserve_values(domain: str) -> dict[str, Any]:
    """KServe's config. `kserveGateway` is one global Gateway (KServe v0.15), so it can name no project's own;
    it names the platform Gateway, which no model route uses: every InferenceService is cluster-local
    (model_serving.inference_service) and its route is Flagger's or ModelServing's, on the project's Gateway."""
    return {"kserve": {"controller": {
        "deploymentMode": "RawDeployment",
        # urlScheme: the InferenceService's status URL says https, the only scheme the gateway serves models on
        "gateway": {"domain": domain, "domainTemplate": DOMAIN_TEMPLATE, "urlScheme": "https",
                    "ingressGateway": {"enableGatewayApi": True,
                                       "kserveGateway": f"{KSERVE_NAMESPACE}/{GATEWAY_NAME}",
                                       "createGateway": False}}}}}


def gateway_spec(tls: GatewayTlsArgs) -> dict[str, Any]:
    """The platform Gateway: the redirecting HTTP listener only. Projects' HTTPS listeners are on their own
    Gateways (project_gateway.py), merged with this one; it is the only Gateway of the class on port 80."""
    return {"gatewayClassName": GATEWAY_CLASS, "listeners": [redirect_listener(tls.domain)]}


def gateway_class_spec() -> dict[str, Any]:
    """Envoy Gateway's class, parametrized by the EnvoyProxy that makes its Service an internal NLB."""
    return {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller",
            "parametersRef": {"group": "gateway.envoyproxy.io", "kind": "EnvoyProxy", "name": ENVOY_PROXY,
                              "namespace": GATEWAY_NAMESPACE}}


def cert_manager_values(role_arn: pulumi.Input[str] | None) -> dict[str, Any]:
    """CRDs with the chart; with ACME, the controller's IRSA role (ambient credentials of ClusterIssuers)."""
    values: dict[str, Any] = {"crds": {"enabled": True}}
    if role_arn is not None:
        values["serviceAccount"] = {"annotations": {"eks.amazonaws.com/role-arn": role_arn}}
    return values


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
    return policy_spec([ROUTES], [Check(
        expression=route_host_expression(domain),
        message=f"'route hostnames must be set and lie under ' + namespaceObject.metadata.name + "
                f"'.{domain} (this namespace)'")])


class ServingStack(pulumi.ComponentResource):
    """cert-manager, Envoy Gateway + an internal Gateway, KServe CRDs and controller."""

    def __init__(self, name: str, args: ServingStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:ServingStack", name, None, opts)
        p, v = args.provider, args.k8s_version
        cm_ns = namespace(f"{name}-cert-manager-ns", CERT_MANAGER_NAMESPACE, "restricted", v, k8s_opts(self, p),
                          open_ports=(10250,))  # admission webhook
        cert_manager = helm_release(f"{name}-cert-manager", "cert-manager", "cert-manager", CERT_MANAGER_NAMESPACE,
                                    cert_manager_values(args.cert_manager_role_arn), k8s_opts(self, p, [cm_ns]))
        # Third-party controllers whose pod specs the charts own: baseline (no host access) is enforced;
        # restricted would reject them on any chart-side change to their security context.
        gw_ns = namespace(f"{name}-gateway-ns", GATEWAY_NAMESPACE, "baseline", v, k8s_opts(self, p),
                          open_ports=(10080, 10443, 9443))  # data plane behind the internal LB, webhook
        envoy = helm_release(f"{name}-envoy-gateway", "envoy-gateway", "envoy-gateway", GATEWAY_NAMESPACE, {},
                             k8s_opts(self, p, [gw_ns]))
        ks_ns = namespace(f"{name}-kserve-ns", KSERVE_NAMESPACE, "baseline", v, k8s_opts(self, p),
                          open_ports=(9443,))  # admission webhook
        GatewayIssuers(f"{name}-tls", GatewayIssuersArgs(
            tls=args.tls, env_name=args.env_name, provider=p, depends_on=(cert_manager, ks_ns)),
            pulumi.ResourceOptions(parent=self))
        gateway = self._gateway(name, args, envoy, [ks_ns])
        crds = helm_release(f"{name}-kserve-crd", "kserve-crd", "kserve-crd", KSERVE_NAMESPACE, {},
                            k8s_opts(self, p, [ks_ns]))
        self.kserve = helm_release(f"{name}-kserve", "kserve", "kserve", KSERVE_NAMESPACE,
                                   kserve_values(args.ingress_domain),
                                   k8s_opts(self, p, [crds, cert_manager, gateway]))
        self._route_hosts(name, args)
        route_backend_policy(name, self, p)
        self.ingress_domain = args.ingress_domain
        self.register_outputs({"ingress_domain": args.ingress_domain})

    def _gateway(self, name: str, args: ServingStackArgs, envoy: pulumi.Resource,
                 after: list[pulumi.Resource]) -> pulumi.Resource:
        """EnvoyProxy, GatewayClass, Gateway and the HTTP→HTTPS redirect. All depend on the LB controller's
        release: on destroy Pulumi deletes dependents first, so the Gateway (whose Service owns the NLB) goes
        while the controller that deletes the NLB still runs."""
        p = args.provider
        controller = [args.load_balancer_controller] if args.load_balancer_controller else []
        proxy = k8s.apiextensions.CustomResource(
            f"{name}-envoy-proxy", api_version="gateway.envoyproxy.io/v1alpha1", kind="EnvoyProxy",
            metadata=meta(ENVOY_PROXY, GATEWAY_NAMESPACE), spec=envoy_proxy_spec(acm_annotations(args.tls)),
            opts=k8s_opts(self, p, [envoy, *controller]))
        gw_class = k8s.apiextensions.CustomResource(
            f"{name}-gateway-class", api_version="gateway.networking.k8s.io/v1", kind="GatewayClass",
            metadata=meta(GATEWAY_CLASS), spec=gateway_class_spec(), opts=k8s_opts(self, p, [proxy, *controller]))
        gateway = k8s.apiextensions.CustomResource(
            f"{name}-gateway", api_version="gateway.networking.k8s.io/v1", kind="Gateway",
            metadata=meta(GATEWAY_NAME, KSERVE_NAMESPACE), spec=gateway_spec(args.tls),
            opts=k8s_opts(self, p, [gw_class, *after, *controller]))
        k8s.apiextensions.CustomResource(
            f"{name}-https-redirect", api_version="gateway.networking.k8s.io/v1", kind="HTTPRoute",
            metadata=meta("https-redirect", KSERVE_NAMESPACE),
            spec=redirect_route_spec(GATEWAY_NAME, args.ingress_domain), opts=k8s_opts(self, p, [gateway]))
        return gateway

    def _route_hosts(self, name: str, args: ServingStackArgs) -> None:
        project_admission(f"{name}-route-hosts", "mlops-route-hosts", route_host_policy(args.ingress_domain), self,
                          args.provider)
