"""Rules of the models' gateway config (`serving.tls`, `serving.auth`), as pure functions: each source or
mode names the fields it needs, and fields of another source are refused rather than silently ignored.
Registered in `rules.RULES`; documented in docs/configuration.md like every rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mlops_platform.config.issues import issue
from mlops_platform.config.sections import PlatformSections
from mlops_platform.config.sections_serving import ACM_CERTIFICATE_ARN, CertificateSource, InferenceAuthMode
from mlops_platform.core.errors import ConfigIssue


def serving_rules(cfg: PlatformSections) -> Iterator[ConfigIssue]:
    if not (cfg.serving.enabled is None or cfg.serving.enabled):
        return
    yield from _tls_rules(cfg)
    yield from _auth_rules(cfg)


def _choice_fields(section: object, path: str, *, selector: str, choice: str, chosen: bool,
                   required: tuple[str, ...], others: tuple[str, ...] = (), fields_named: str,
                   fix_missing: str, fix_stray: str) -> Iterator[ConfigIssue]:
    """Fields that belong to one choice of `selector`: each of `required` must be set when it is chosen, and
    none of them (nor `others`) may be set when it is not — refused rather than silently ignored."""
    if chosen:
        for field in required:
            if not getattr(section, field):
                yield issue(f"{path}.{field}", f"required with {selector}={choice}", getattr(section, field),
                            fix_missing)
    elif any(getattr(section, field) for field in (*required, *others)):
        current = getattr(section, selector)
        yield issue(f"{path}.{selector}", f"{fields_named} only apply with {selector}={choice}",
                    current.value, fix_stray)


def _tls_rules(cfg: PlatformSections) -> Iterator[ConfigIssue]:
    tls = cfg.serving.tls
    yield from _choice_fields(tls, "serving.tls", selector="source", choice="acme",
                              chosen=tls.source is CertificateSource.ACME,
                              required=("acme_email", "acme_hosted_zone_id"), fields_named="acme_* fields",
                              fix_missing="set it, or choose source platform_ca or acm",
                              fix_stray="set source: acme, or drop acme_email and acme_hosted_zone_id")
    yield from _choice_fields(tls, "serving.tls", selector="source", choice="acm",
                              chosen=tls.source is CertificateSource.ACM, required=("acm_certificate_arns",),
                              fields_named="acm_certificate_arns",
                              fix_missing="list the ACM certificate ARNs that cover *.<project>.<ingress_domain>",
                              fix_stray="set source: acm, or drop acm_certificate_arns")
    if tls.source is CertificateSource.ACM:
        yield from _acm_arn_rules(cfg)


def _acm_arn_rules(cfg: PlatformSections) -> Iterator[ConfigIssue]:
    """An NLB TLS listener takes certificates of its own account and region only (ELB: "the certificate must
    be in the same Region as the load balancer")."""
    env = cfg.environment
    for i, arn in enumerate(cfg.serving.tls.acm_certificate_arns):
        match = re.match(ACM_CERTIFICATE_ARN, arn)
        if match is None:
            yield issue(f"serving.tls.acm_certificate_arns[{i}]", "not an ACM certificate ARN", arn,
                        "copy the ARN from ACM: arn:aws:acm:<region>:<account>:certificate/<id>")
        elif match.group(2) != env.region or arn.split(":")[4] != env.account_id:
            yield issue(f"serving.tls.acm_certificate_arns[{i}]", "certificate is not in this environment's "
                        "account and region", arn, f"import or request it in {env.account_id} / {env.region}")


def _auth_rules(cfg: PlatformSections) -> Iterator[ConfigIssue]:
    auth = cfg.serving.auth
    yield from _choice_fields(auth, "serving.auth", selector="mode", choice="jwt",
                              chosen=auth.mode is InferenceAuthMode.JWT, required=("jwt_issuer", "jwt_jwks_uri"),
                              others=("jwt_audiences",), fields_named="jwt_* fields",
                              fix_missing="set it from the identity provider's discovery document, or use "
                                          "mode: api_key",
                              fix_stray="set mode: jwt, or drop the jwt_* fields")
