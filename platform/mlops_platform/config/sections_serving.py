"""Config of the models' gateway (`mlops-platform:serving.tls`, `.auth`): where HTTPS
certificates come from and how inference requests authenticate.
Cross-field rules (a source's required fields, ACM's region) live in `rules.serving_rules`.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from mlops_platform.config.section_types import Email, _Section

#: An HTTPS URL (the IdP's issuer and JWKS endpoint; the ACME directory).
HTTPS_URL = r"^https://[A-Za-z0-9.-]+(:\d+)?(/[^\s]*)?$"
#: Route53 hosted zone ids: `Z` + upper-case letters and digits.
HOSTED_ZONE_ID = r"^Z[A-Z0-9]{1,32}$"
#: An ACM certificate ARN (`arn:<partition>:acm:<region>:<account>:certificate/<uuid>`).
ACM_CERTIFICATE_ARN = r"^arn:aws(-[a-z]+)?:acm:([a-z]{2}(-gov)?-[a-z]+-\d):\d{12}:certificate/[0-9a-f-]{36}$"
LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"


class CertificateSource(StrEnum):
    """Where the gateway's HTTPS certificates come from."""

    PLATFORM_CA = "platform_ca"  # cert-manager: a self-signed root → CA ClusterIssuer; clients trust the root
    ACME = "acme"  # cert-manager: ACME (Let's Encrypt by default), DNS-01 in a Route53 zone via IRSA
    ACM = "acm"  # AWS Certificate Manager: TLS ends at the NLB's TLS listener, Envoy's 443 speaks plain HTTP


class InferenceAuthMode(StrEnum):
    """How callers of a project's inference routes authenticate (Envoy Gateway SecurityPolicy)."""

    API_KEY = "api_key"  # per-project keys in a Secret of the project's namespace (`apiKeyAuth`)
    JWT = "jwt"  # tokens of the organisation's identity provider (issuer + JWKS)


class ServingTlsConfig(_Section):
    """`mlops-platform:serving.tls` — HTTPS on the models' gateway (HTTP only redirects to HTTPS)."""

    source: CertificateSource = Field(
        default=CertificateSource.PLATFORM_CA,
        description="Where certificates come from; platform_ca is a private CA whose root clients install.")
    acme_email: Email | None = Field(default=None,
                                     description="ACME account email. Unset: none; Required when source=acme.")
    acme_hosted_zone_id: str | None = Field(
        default=None, pattern=HOSTED_ZONE_ID,
        description="Route53 hosted zone of serving.ingress_domain (DNS-01). Unset: none; Required when source=acme.")
    acme_server: str = Field(default=LETS_ENCRYPT, pattern=HTTPS_URL,
                             description="ACME directory (Let's Encrypt production unless set).")
    acm_certificate_arns: list[str] = Field(
        default_factory=list,
        description="ACM certificates (same account and region) covering `*.<project>.<ingress_domain>` of "
                    "every project; Required when source=acm.")


class InferenceAuthConfig(_Section):
    """`mlops-platform:serving.auth` — authentication of inference routes."""

    mode: InferenceAuthMode = Field(default=InferenceAuthMode.API_KEY,
                                    description="How callers authenticate; api_key gives each project its own key.")
    allow_unauthenticated_inference: bool | None = Field(
        default=None, description="Serve inference routes without authentication. Unset: true in dev, false in "
                                  "staging and prod (setting true there is an explicit, reported opt-out).")
    jwt_issuer: str | None = Field(default=None, pattern=HTTPS_URL,
                                   description="The IdP's issuer (`iss`). Unset: none; Required when mode=jwt.")
    jwt_jwks_uri: str | None = Field(default=None, pattern=HTTPS_URL,
                                     description="The IdP's JWKS endpoint. Unset: none; Required when mode=jwt.")
    jwt_audiences: list[str] = Field(default_factory=list, max_length=8,
                                     description="Accepted `aud` values; empty accepts any audience.")
    api_key_header: str = Field(default="x-api-key", pattern=r"^[a-z0-9-]{1,64}$",
                                description="Header carrying the API key.")



class DeliveryConfig(_Section):
    """`mlops-platform:serving.delivery` — what projects' Flagger Canaries may call."""

    allow_external_webhooks: bool = Field(
        default=False,
        description="Canary webhooks may call external https URLs (DNS names, never IP addresses) besides "
                    "Services of the project's own namespace. Flagger calls them from its own pod, and an "
                    "external name can resolve to an internal address, so this is an explicit opt-out.")
