"""A project's own Gateway on the models' gateway class: one HTTPS listener `*.<project>.<domain>` and the
wildcard certificate it serves, both in the project's namespace (tenants layer).

Why per-project Gateways: a Gateway holds at most 64 listeners (Gateway API v1.3.0 `GatewaySpec.listeners`
maxItems), so one shared Gateway with a listener per project capped an environment at 63 projects, and every
project added or removed changed the cluster layer. The models' EnvoyProxy sets `mergeGateways: true`
(lb_controller.envoy_proxy_spec): Envoy Gateway then runs every Gateway of the class on one Envoy fleet behind
one Service (one NLB), merging their listeners; the tuple (port, protocol, hostname) must be unique across all
merged listeners (Envoy Gateway v1.4 docs, tasks/operations/deployment-mode, "Merged Gateways onto a single
EnvoyProxy fleet"). Each project's hostname is its own, and only the platform Gateway listens on port 80.

The listener admits routes of its own namespace only (`from: Same`) and its certificate Secret lives beside it
(a certificateRef without namespace is the Gateway's own: no ReferenceGrant). With ACM the NLB has ended TLS,
so the listener speaks HTTP on 443 and cert-manager issues nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.config.sections_serving import CertificateSource
from mlops_platform.k8s.gateway_tls import CERT_MANAGER_GROUP, HTTPS_PORT, issuer_name
from mlops_platform.k8s.manifests import meta
from mlops_platform.k8s.provider import k8s_opts

#: Name of every project's Gateway (in the project's namespace); routes name it as their parentRef.
PROJECT_GATEWAY = "models"
#: The Secret of the project's wildcard certificate, next to its Gateway.
CERTIFICATE_SECRET = "models-tls"
#: The GatewayClass the cluster layer installs (serving.GATEWAY_CLASS; kept here so tenants need no serving import).
GATEWAY_CLASS = "mlops-models"
HTTPS_LISTENER = "https"


@dataclass(frozen=True, kw_only=True)
class ProjectGatewayArgs:
    """Arguments of `ProjectGateway`."""

    namespace: str
    """The project's namespace (filled per tenant). Required."""
    domain: str
    """The models' ingress domain. Required."""
    source: CertificateSource
    """Where the certificate comes from (`serving.tls.source`). Required."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster. Required."""
    depends_on: tuple[pulumi.Resource, ...] = ()
    """What must exist first (the namespace). Default: none."""


def project_host(namespace: str, domain: str) -> str:
    """The wildcard every model host of the project falls under (`<model>.<namespace>.<domain>`)."""
    return f"*.{namespace}.{domain}"


def project_listener(namespace: str, domain: str, source: CertificateSource) -> dict[str, Any]:
    """The project's HTTPS listener: its own wildcard host, its own certificate, its own namespace's routes."""
    listener: dict[str, Any] = {"name": HTTPS_LISTENER, "port": HTTPS_PORT, "hostname": project_host(namespace, domain),
                                "allowedRoutes": {"namespaces": {"from": "Same"}}}
    if source is CertificateSource.ACM:
        return {**listener, "protocol": "HTTP"}
    return {**listener, "protocol": "HTTPS", "tls": {"mode": "Terminate", "certificateRefs": [
        {"group": "", "kind": "Secret", "name": CERTIFICATE_SECRET}]}}


def project_gateway_spec(namespace: str, domain: str, source: CertificateSource) -> dict[str, Any]:
    return {"gatewayClassName": GATEWAY_CLASS, "listeners": [project_listener(namespace, domain, source)]}


def certificate_spec(namespace: str, domain: str, issuer: str) -> dict[str, Any]:
    """The project's wildcard certificate; ECDSA P-256, rotated key, renewed a third before expiry."""
    return {"secretName": CERTIFICATE_SECRET, "dnsNames": [project_host(namespace, domain)],
            "issuerRef": {"group": CERT_MANAGER_GROUP, "kind": "ClusterIssuer", "name": issuer},
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            "duration": "2160h", "renewBefore": "720h"}


def parent_ref(namespace: str) -> dict[str, str]:
    """parentRef of a route (or Flagger's gatewayRefs entry) on the project's Gateway."""
    return {"name": PROJECT_GATEWAY, "namespace": namespace}


class ProjectGateway(pulumi.ComponentResource):
    """The project's Certificate (`<name>-cert`, none with ACM) and Gateway (`<name>-gateway`)."""

    def __init__(self, name: str, args: ProjectGatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:ProjectGateway", name, None, opts)
        after = list(args.depends_on)
        issuer = issuer_name(args.source)
        if issuer is not None:
            after.append(k8s.apiextensions.CustomResource(
                f"{name}-cert", api_version=f"{CERT_MANAGER_GROUP}/v1", kind="Certificate",
                metadata=meta(CERTIFICATE_SECRET, args.namespace),
                spec=certificate_spec(args.namespace, args.domain, issuer),
                opts=k8s_opts(self, args.provider, list(args.depends_on))))
        k8s.apiextensions.CustomResource(
            f"{name}-gateway", api_version="gateway.networking.k8s.io/v1", kind="Gateway",
            metadata=meta(PROJECT_GATEWAY, args.namespace),
            spec=project_gateway_spec(args.namespace, args.domain, args.source),
            opts=k8s_opts(self, args.provider, after))
        self.register_outputs({"gateway": PROJECT_GATEWAY})
