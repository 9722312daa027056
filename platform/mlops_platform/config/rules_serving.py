"""Rules of the models' gateway config (`serving.tls`, `serving.auth`), as pure functions: each source or
mode names the fields it needs, and fields of another source are refused rather than silently ignored.
Registered in `rules.RULES`; documented in docs/configuration.md like every rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mlops_platform.config.sections import PlatformSections
from mlops_platform.config.sections_serving import ACM_CERTIFICATE_ARN, CertificateSource, InferenceAuthMode
from mlops_platform.core.errors import ConfigIssue

#: Gateway API v1 `GatewaySpec.listeners`: maxItems 64 (gateway.networking.k8s.io_gateways.yaml, v1.3.0). The
#: gateway has one HTTP (redirect) listener and one HTTPS listener per project.
MAX_LISTENERS = 64


def _issue(path: str, message: str, value: object = None, fix: str = "") -> ConfigIssue:
    return ConfigIssue(path=path, message=message, value=value, fix=fix)


def serving_rules(cfg: PlatformSections) -> Iterator[ConfigIssue]:
    if not (cfg.serving.enabled is None or cfg.serving.enabled):
        return
    yield from _tls_rules(cfg)
    yield from _auth_rules(cfg)
    if len(cfg.projects) + 1 > MAX_LISTENERS:
        yield _issue("projects", "more projects than the models' gateway has HTTPS listeners", len(cfg.projects),
                     f"at most {MAX_LISTENERS - 1} projects per environment with serving on")


def _tls_rules(cfg: PlatformSections) -> Iterator[ConfigIssue]:
    tls = cfg.serving.tls
    if tls.source is CertificateSource.ACME:
        for field in ("acme_email", "acme_hosted_zone_id"):
            if getattr(tls, field) is None:
                yield _issue(f"serving.tls.{field}", "required with source=acme", None,
                             "set it, or choose source platform_ca or acm")
    elif tls.acme_email or tls.acme_hosted_zone_id:
        yield _issue("serving.tls.source", "acme_* fields only apply with source=acme", tls.source.value,
                     "set source: acme, or drop acme_email and acme_hosted_zone_id")
    if tls.source is CertificateSource.ACM:
        if not tls.acm_certificate_arns:
            yield _issue("serving.tls.acm_certificate_arns", "required with source=acm", [],
                         "list the ACM certificate ARNs that cover *.<project>.<ingress_domain>")
        yield from _acm_arn_rules(cfg)
    elif tls.acm_certificate_arns:
        yield _issue("serving.tls.source", "acm_certificate_arns only apply with source=acm", tls.source.value,
                     "set source: acm, or drop acm_certificate_arns")


def _acm_arn_rules(cfg: PlatformSections) -> Iterator[ConfigIssue]:
    """An NLB TLS listener takes certificates of its own account and region only (ELB: "the certificate must
    be in the same Region as the load balancer")."""
    env = cfg.environment
    for i, arn in enumerate(cfg.serving.tls.acm_certificate_arns):
        match = re.match(ACM_CERTIFICATE_ARN, arn)
        if match is None:
            yield _issue(f"serving.tls.acm_certificate_arns[{i}]", "not an ACM certificate ARN", arn,
                         "copy the ARN from ACM: arn:aws:acm:<region>:<account>:certificate/<id>")
        elif match.group(2) != env.region or arn.split(":")[4] != env.account_id:
            yield _issue(f"serving.tls.acm_certificate_arns[{i}]", "certificate is not in this environment's "
                         "account and region", arn, f"import or request it in {env.account_id} / {env.region}")


def _auth_rules(cfg: PlatformSections) -> Iterator[ConfigIssue]:
    auth = cfg.serving.auth
    if auth.mode is InferenceAuthMode.JWT:
        for field in ("jwt_issuer", "jwt_jwks_uri"):
            if getattr(auth, field) is None:
                yield _issue(f"serving.auth.{field}", "required with mode=jwt", None,
                             "set it from the identity provider's discovery document, or use mode: api_key")
    elif auth.jwt_issuer or auth.jwt_jwks_uri or auth.jwt_audiences:
        yield _issue("serving.auth.mode", "jwt_* fields only apply with mode=jwt", auth.mode.value,
                     "set mode: jwt, or drop the jwt_* fields")
