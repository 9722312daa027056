"""HTTPS on the models' gateway: the cluster-wide cert-manager issuers, the HTTP→HTTPS redirect, ACM.

Certificate strategy: model hosts are `<model>.<project>.<domain>`, and a TLS wildcard covers exactly one
label (RFC 6125 §6.4.3), so `*.<domain>` covers none of them. Each project has its own Gateway in its
namespace with one HTTPS listener `*.<project>.<domain>` and its own wildcard certificate (tenants layer,
project_gateway.py): an ACME order that fails blocks one project, not all; a new project never touches the
cluster layer. The cluster layer keeps the platform Gateway with the port-80 redirect and the issuers below.

Sources (`serving.tls.source`):
- `platform_ca`: a self-signed root (its key in a Secret of cert-manager's namespace, where a ClusterIssuer
  reads CA secrets) signs the CA ClusterIssuer that issues the projects' certificates. Clients trust the root.
- `acme`: an ACME ClusterIssuer solving DNS-01 in a Route53 zone (wildcards need DNS-01) with cert-manager's
  IRSA role (`aws.service_roles.acme_dns_role`, made by the cluster layer).
- `acm`: ACM certificates attach to the NLB's TLS listener on 443 (LB controller annotations `ssl-cert`,
  `ssl-ports`); the NLB terminates TLS and forwards plain HTTP, so the projects' 443 listeners speak HTTP and
  cert-manager issues nothing for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.config.sections_serving import CertificateSource
from mlops_platform.k8s.manifests import meta
from mlops_platform.k8s.provider import k8s_opts

CERT_MANAGER_GROUP = "cert-manager.io"
SELF_SIGNED_ISSUER = "mlops-selfsigned"
PLATFORM_CA_ISSUER = "mlops-platform-ca"
ACME_ISSUER = "mlops-acme"
#: Secret of the platform root CA (cert-manager's namespace: a ClusterIssuer's `ca.secretName` is read there).
ROOT_CA_SECRET = "mlops-platform-root-ca"
HTTPS_PORT = 443
REDIRECT_LISTENER = "http"
#: Modern TLS only on the NLB (ELB security policy names; TLS 1.3 and 1.2).
NLB_TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


@dataclass(frozen=True, kw_only=True)
class GatewayTlsArgs:
    """HTTPS settings of the gateway: what the issuer and annotation helpers read."""

    source: CertificateSource
    """Where certificates come from. Required."""
    domain: str
    """The models' ingress domain. Required."""
    cert_manager_namespace: str
    """cert-manager's namespace (the root CA's Secret lives there). Required."""
    region: str = ""
    """AWS region of the Route53 API (acme). Default: ''."""
    acme_email: str = ""
    """ACME account email (acme). Default: ''."""
    acme_server: str = ""
    """ACME directory URL (acme). Default: ''."""
    acme_hosted_zone_id: str = ""
    """Route53 zone of `domain` (acme). Default: ''."""
    acm_certificate_arns: tuple[str, ...] = ()
    """ACM certificates of the NLB's TLS listener (acm). Default: none."""


def redirect_listener(domain: str) -> dict[str, Any]:
    """Port 80 admits only the platform's redirect route (its own namespace): no project serves plain HTTP."""
    return {"name": REDIRECT_LISTENER, "protocol": "HTTP", "port": 80, "hostname": f"*.{domain}",
            "allowedRoutes": {"namespaces": {"from": "Same"}}}


def redirect_route_spec(gateway: str, domain: str) -> dict[str, Any]:
    """HTTPRoute on the HTTP listener answering every request with a 301 to the same URL over https
    (Gateway API `RequestRedirect`: no port given, so the scheme's default, 443)."""
    return {"parentRefs": [{"name": gateway, "sectionName": REDIRECT_LISTENER}], "hostnames": [f"*.{domain}"],
            "rules": [{"filters": [{"type": "RequestRedirect",
                                    "requestRedirect": {"scheme": "https", "statusCode": 301}}]}]}


def issuer_name(source: CertificateSource) -> str | None:
    """The ClusterIssuer of the projects' certificates; None with ACM (nothing issued in the cluster)."""
    return {CertificateSource.PLATFORM_CA: PLATFORM_CA_ISSUER, CertificateSource.ACME: ACME_ISSUER}.get(source)


def root_ca_spec(env_name: str) -> dict[str, Any]:
    """The platform root: self-signed, ten years, key kept (rotating it would invalidate every client trust)."""
    return {"isCA": True, "commonName": f"mlops-platform {env_name} models root CA", "secretName": ROOT_CA_SECRET,
            "duration": "87600h", "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Never"},
            "issuerRef": {"group": CERT_MANAGER_GROUP, "kind": "ClusterIssuer", "name": SELF_SIGNED_ISSUER}}


def acme_issuer_spec(args: GatewayTlsArgs) -> dict[str, Any]:
    """ACME with DNS-01 in the Route53 zone; credentials are ambient (cert-manager's IRSA role)."""
    return {"acme": {"server": args.acme_server, "email": args.acme_email,
                     "privateKeySecretRef": {"name": f"{ACME_ISSUER}-account"},
                     "solvers": [{"selector": {"dnsZones": [args.domain]},
                                  "dns01": {"route53": {"region": args.region,
                                                        "hostedZoneID": args.acme_hosted_zone_id}}}]}}


def acm_annotations(args: GatewayTlsArgs) -> dict[str, str]:
    """LB controller annotations of the gateway Service that put the ACM certificates on a TLS listener
    on 443 (aws-load-balancer-controller v3.5.0 docs/guide/service/annotations.md, `ssl-cert`, `ssl-ports`,
    `ssl-negotiation-policy`); port 80 stays TCP for the redirect."""
    if args.source is not CertificateSource.ACM:
        return {}
    prefix = "service.beta.kubernetes.io/aws-load-balancer-"
    return {f"{prefix}ssl-cert": ",".join(args.acm_certificate_arns), f"{prefix}ssl-ports": str(HTTPS_PORT),
            f"{prefix}ssl-negotiation-policy": NLB_TLS_POLICY}


@dataclass(frozen=True, kw_only=True)
class GatewayIssuersArgs:
    """Arguments of `GatewayIssuers`."""

    tls: GatewayTlsArgs
    """Source and domain. Required."""
    env_name: str
    """Environment name (in the root CA's common name). Required."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster. Required."""
    depends_on: tuple[pulumi.Resource, ...] = ()
    """What the issuers wait for (cert-manager's release: its CRDs and webhook). Default: none."""


class GatewayIssuers(pulumi.ComponentResource):
    """The ClusterIssuers of the chosen source (none with ACM); each project's Certificate names one
    (project_gateway.py)."""

    def __init__(self, name: str, args: GatewayIssuersArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:GatewayIssuers", name, None, opts)
        issuer = issuer_name(args.tls.source)
        if issuer is not None:
            self._issuers(name, args)
        self.register_outputs({"issuer": issuer or ""})

    def _issuers(self, name: str, args: GatewayIssuersArgs) -> pulumi.Resource:
        tls, provider = args.tls, args.provider
        opts = k8s_opts(self, provider, list(args.depends_on))
        if tls.source is CertificateSource.ACME:
            return _custom(f"{name}-acme", "ClusterIssuer", meta(ACME_ISSUER), acme_issuer_spec(tls), opts)
        self_signed = _custom(f"{name}-selfsigned", "ClusterIssuer", meta(SELF_SIGNED_ISSUER), {"selfSigned": {}},
                              opts)
        root = _custom(f"{name}-root-ca", "Certificate", meta(ROOT_CA_SECRET, tls.cert_manager_namespace),
                       root_ca_spec(args.env_name), k8s_opts(self, provider, [self_signed]))
        return _custom(f"{name}-platform-ca", "ClusterIssuer", meta(PLATFORM_CA_ISSUER),
                       {"ca": {"secretName": ROOT_CA_SECRET}}, k8s_opts(self, provider, [root]))


def _custom(name: str, kind: str, metadata: dict[str, Any], spec: dict[str, Any],
            opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
    return k8s.apiextensions.CustomResource(name, api_version=f"{CERT_MANAGER_GROUP}/v1", kind=kind,
                                            metadata=metadata, spec=spec, opts=opts)
