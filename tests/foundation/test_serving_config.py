"""`serving.tls` and `serving.auth`: each certificate source and auth mode names what it needs, fields of
another choice are refused, and the tier decides whether inference authenticates (no file, no engine)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from mlops_platform.apps.bench import synthetic_stack
from mlops_platform.config import PlatformConfig
from mlops_platform.config.loader import load_stack_file
from mlops_platform.k8s.serving import gateway_spec
from mlops_platform.programs.cluster_layer import serving_tls

from .stackfiles import ACCOUNT, issue_at, issues_of, sections

ARN = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/0123abcd-0123-4567-89ab-0123456789ab"


def serving(**over: Any) -> dict[str, Any]:
    return {"serving": over}


# (override, dotted path of the issue, regex its message must match, the offending value)
VIOLATIONS = [
    pytest.param(serving(tls={"source": "acme", "acme_email": "pki@example.com"}), "serving.tls.acme_hosted_zone_id",
                 "required with source=acme", None, id="acme-needs-zone"),
    pytest.param(serving(tls={"source": "acme", "acme_hosted_zone_id": "Z0123456789ABC"}), "serving.tls.acme_email",
                 "required with source=acme", None, id="acme-needs-email"),
    pytest.param(serving(tls={"acme_email": "pki@example.com"}), "serving.tls.source",
                 "acme_\\* fields only apply with source=acme", "platform_ca", id="acme-fields-need-acme"),
    pytest.param(serving(tls={"source": "acm"}), "serving.tls.acm_certificate_arns", "required with source=acm", [],
                 id="acm-needs-certificates"),
    pytest.param(serving(tls={"source": "acm", "acm_certificate_arns": [ARN.replace("us-east-1", "eu-west-1")]}),
                 "serving.tls.acm_certificate_arns[0]", "not in this environment's account and region",
                 ARN.replace("us-east-1", "eu-west-1"), id="acm-same-region"),
    pytest.param(serving(tls={"source": "acm", "acm_certificate_arns": [ARN.replace(ACCOUNT, "210987654321")]}),
                 "serving.tls.acm_certificate_arns[0]", "account and region", ARN.replace(ACCOUNT, "210987654321"),
                 id="acm-same-account"),
    pytest.param(serving(tls={"source": "acm", "acm_certificate_arns": ["arn:aws:iam::1:server-certificate/x"]}),
                 "serving.tls.acm_certificate_arns[0]", "not an ACM certificate ARN",
                 "arn:aws:iam::1:server-certificate/x", id="acm-arn-shape"),
    pytest.param(serving(tls={"acm_certificate_arns": [ARN]}), "serving.tls.source",
                 "only apply with source=acm", "platform_ca", id="acm-arns-need-acm"),
    pytest.param(serving(auth={"mode": "jwt", "jwt_jwks_uri": "https://idp.example.com/jwks"}),
                 "serving.auth.jwt_issuer", "required with mode=jwt", None, id="jwt-needs-issuer"),
    pytest.param(serving(auth={"mode": "jwt", "jwt_issuer": "https://idp.example.com"}),
                 "serving.auth.jwt_jwks_uri", "required with mode=jwt", None, id="jwt-needs-jwks"),
    pytest.param(serving(auth={"jwt_issuer": "https://idp.example.com"}), "serving.auth.mode",
                 "jwt_\\* fields only apply with mode=jwt", "api_key", id="jwt-fields-need-jwt"),
]


@pytest.mark.parametrize(("over", "path", "message", "value"), VIOLATIONS)
def test_each_bad_serving_config_is_one_clear_issue(over: dict[str, Any], path: str, message: str,
                                                    value: Any) -> None:
    issue = issue_at(issues_of(sections("staging", over)), path)
    assert issue.value == value
    assert re.search(message, issue.message), issue.message
    assert issue.fix


@pytest.mark.parametrize("bad", [{"tls": {"source": "letsencrypt"}}, {"auth": {"mode": "oauth"}},
                                 {"tls": {"acme_hosted_zone_id": "zone-1"}}, {"auth": {"jwt_issuer": "http://idp"}},
                                 {"auth": {"allow_unauthenticated": True}}])
def test_unknown_choices_formats_and_keys_are_refused(bad: dict[str, Any]) -> None:
    assert any(i.path.startswith("serving.") for i in issues_of(sections("dev", {"serving": bad})))


@pytest.mark.parametrize("count", [100, 500])
def test_a_prod_environment_with_hundreds_of_projects_validates_with_serving_on(count: int) -> None:
    """Issue #12 benches 100 and 500 tenants in prod with serving on. Each project's HTTPS listener is on its
    own Gateway (tenants layer), so the 64-listener cap of one Gateway (Gateway API v1.3.0) bounds nothing,
    and the cluster layer's gateway does not change with the project list."""
    projects = [{"name": f"p{i:03d}", "owners": ["a@example.com"], "github_repo": f"example-org/p{i:03d}",
                 "monthly_budget_usd": 1} for i in range(count)]
    doc = sections("prod", {"projects": projects, **serving(enabled=True)})
    assert issues_of(doc) == []
    cfg = PlatformConfig.model_validate(doc)
    few = PlatformConfig.model_validate(sections("prod", {"projects": projects[:1], **serving(enabled=True)}))
    assert gateway_spec(serving_tls(cfg)) == gateway_spec(serving_tls(few))
    assert len(gateway_spec(serving_tls(cfg))["listeners"]) == 1


def test_the_benchs_100_tenant_prod_stack_loads_with_serving_on(tmp_path: Path) -> None:
    """`make bench` plans exactly this file (apps/bench.synthetic_stack); it was a config error at 64+ projects."""
    cfg = load_stack_file(synthetic_stack(tmp_path, 100))
    assert len(cfg.projects) == 100 and cfg.component_enabled(cfg.serving)


@pytest.mark.parametrize(("tier", "opt_out", "required"), [
    ("dev", None, False), ("staging", None, True), ("prod", None, True),
    ("dev", False, True), ("prod", True, False)])
def test_inference_authenticates_by_tier_unless_explicitly_opted_out(tier: str, opt_out: bool | None,
                                                                    required: bool) -> None:
    auth = {} if opt_out is None else {"allow_unauthenticated_inference": opt_out}
    cfg = PlatformConfig.model_validate(sections(tier, serving(auth=auth)))
    assert cfg.inference_auth_required is required


def test_valid_acme_acm_and_jwt_configs_pass() -> None:
    for over in (serving(tls={"source": "acme", "acme_email": "pki@example.com", "acme_hosted_zone_id": "Z0123ABC"}),
                 serving(tls={"source": "acm", "acm_certificate_arns": [ARN]}),
                 serving(auth={"mode": "jwt", "jwt_issuer": "https://idp.example.com",
                               "jwt_jwks_uri": "https://idp.example.com/jwks", "jwt_audiences": ["models"]})):
        assert issues_of(sections("prod", over)) == []


#: each refused external webhook host, with the start of its message: Flagger's resolver completes a name
#: ending in a namespace or the cluster domain into an in-cluster Service (core.webhook_urls)
BAD_HOSTS = [("kubernetes.default", "ends in 'default'"), ("grafana.monitoring", "ends in 'monitoring'"),
             ("api.kserve", "ends in 'kserve'"), ("api.flagger-system", "is not a DNS"),
             ("model.fraud", "ends in 'fraud'"),
             ("x.svc", "is a cluster"), ("kubernetes.default.svc.cluster.local", "is a cluster"),
             ("printer.local", "is a cluster"), ("ip-10-0-0-1.ec2.internal", "is a cluster"),
             ("nas.home.arpa", "is a cluster"), ("box.localdomain", "is a cluster"), ("localhost", "is not a DNS"),
             ("hooks", "is not a DNS"), ("10.0.0.1", "is an IP"), ("[fd00:ec2::254]", "is an IP"),
             ("Hooks.Example.com", "is not lowercase"), ("hooks.example.c0m", "is not a DNS"),
             ("-x.example.com", "is not a DNS"), ("hooks.example.com/x", "is not a DNS"),
             ("x." * 130 + "com", "is not a DNS")]


def test_every_bad_external_webhook_host_is_reported_at_once_naming_it() -> None:
    hosts = [host for host, _ in BAD_HOSTS]
    listed = [*hosts, "hooks.example.com"]
    doc = sections("staging", {"serving": {"delivery": {"allow_external_webhook_hosts": listed}},
                               "projects": [{"name": "fraud", "owners": ["a@example.com"],
                                             "github_repo": "example-org/fraud", "monthly_budget_usd": 1}]})
    issues = issues_of(doc)
    for i, (host, message) in enumerate(BAD_HOSTS):
        issue = issue_at(issues, f"serving.delivery.allow_external_webhook_hosts[{i}]")
        assert issue.value == host
        assert issue.message.startswith(f"must be a public, fully qualified DNS name; it {message}")
        assert issue.fix.startswith("list the public, fully qualified DNS name")
    assert not [i for i in issues if i.path == f"serving.delivery.allow_external_webhook_hosts[{len(BAD_HOSTS)}]"]
    assert PlatformConfig.model_validate(sections("staging", serving(delivery={"allow_external_webhook_hosts": [
        "hooks.example.com"]}))).serving.delivery.allow_external_webhook_hosts == ("hooks.example.com",)
    assert PlatformConfig.model_validate(sections("staging")).serving.delivery.allow_external_webhook_hosts == ()
