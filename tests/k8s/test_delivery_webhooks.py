"""Canary webhooks (Flagger calls them from its own pod: docs.flagger.app/usage/webhooks): one URL rule
(core.webhook_urls) held the same by the project's config check, the cluster's admission CEL (evaluated by
cel-python) and the planned Canary; negative tests match the messages a user reads."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlops_platform.core.errors import ConfigError
from mlops_platform.core.webhook_urls import url_problem
from mlops_platform.engine import Plan
from mlops_platform.k8s.delivery import CanaryWebhook, WebhookType, webhook_issues
from mlops_platform.k8s.metric_isolation import canary_refs_expression, flagger_policy, webhook_expression
from mlops_platform.k8s.monitoring import PROMETHEUS_URL
from mlops_platform.policy.config import PolicySettings

from .k8s_cel import admits, message
from .test_serving_args import args

NS = "fraud"
OWN = ["http://flagger-loadtester.fraud.svc.cluster.local/", "http://flagger-loadtester.fraud.svc/",
       "https://smoke.fraud.svc.cluster.local:8443/check?model=v2", "http://gate.fraud.svc.cluster.local"]
#: refused whatever the platform allows: a platform pod must never be sent there
NEVER = [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",  # EC2 instance metadata (IMDS)
    "http://[fd00:ec2::254]/latest/api/token",  # IMDS over IPv6
    "http://169.254.170.23/v1/credentials",  # EKS Pod Identity agent (link-local)
    "https://169.254.169.254/", "https://[fd00:ec2::254]/", "https://2852039166/",  # IMDS as one decimal number
    "http://127.0.0.1:8080/", "https://localhost/", "http://[::1]/", "https://0.0.0.0/",
    "https://kubernetes.default.svc/api/v1/secrets", "https://kubernetes.default.svc.cluster.local/",
    "https://kubernetes/", "https://10.100.0.1/",  # the API server's Service, by name and by ClusterIP
    "http://model.risk.svc.cluster.local/", "https://model.risk.svc/",  # another tenant
    "http://prometheus-operated.monitoring.svc.cluster.local:9090/",  # a platform namespace
    "http://flagger-loadtester.fraud/",  # short form: the resolver's search list falls through to public DNS
    "http://flagger-loadtester/",  # one label: resolved in Flagger's own namespace
    "http://flagger-loadtester.fraud.svc.cluster.local@169.254.169.254/",  # user info: the host is the IP
    "http://x.fraud.svc.cluster.local\\@169.254.169.254/", "http://x.fraud.svc.cluster.local/\n",
    "https://metadata.google.internal/", "https://ip-10-0-0-1.ec2.internal/", "https://printer.local/",
    "https://x.fraud.svc/#@evil.example.com", "file:///etc/passwd", "gopher://x.fraud.svc.cluster.local/",
    "HTTP://X.FRAUD.SVC.CLUSTER.LOCAL/", "", "x.fraud.svc.cluster.local",
    # quotes, angle brackets and control characters (REVIEW-deploy L1: a quote closed the generated program's
    # string literal); blanks Python's `\s` and RE2's disagree on (L2: \x0b, NBSP, U+2028)
    'http://x.fraud.svc.cluster.local/"+__import__("os").system("id")+"', "http://x.fraud.svc.cluster.local/'",
    "http://x.fraud.svc.cluster.local/<script>", "http://x.fraud.svc.cluster.local/\x00",
    "http://x.fraud.svc.cluster.local/\x7f", "http://x.fraud.svc.cluster.local/\x0b",
    "http://x.fraud.svc.cluster.local/a\u00a0b", "http://x.fraud.svc.cluster.local/\u2028", "https://hooks.example.com/\x0b",
]
EXTERNAL = ["https://hooks.example.com/release", "https://ci.example.org:8443/approve?release=v2"]


def canary(*urls: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "Canary", "spec": {"analysis": {"webhooks": [
        {"name": f"h{i}", "url": url, **extra} for i, url in enumerate(urls)]}}}


@pytest.mark.parametrize("allow_external", [False, True])
def test_own_namespace_services_are_allowed_by_config_and_admission(allow_external: bool) -> None:
    expression = webhook_expression(allow_external=allow_external)
    for url in OWN:
        assert url_problem(url, namespace=NS, allow_external=allow_external) is None, url
        assert admits(expression, canary(url), NS), url
        assert not admits(expression, canary(url), "risk"), url  # the same URL from another namespace


@pytest.mark.parametrize("allow_external", [False, True])
@pytest.mark.parametrize("url", NEVER)
def test_metadata_loopback_api_server_and_other_tenants_are_always_refused(url: str, allow_external: bool) -> None:
    assert url_problem(url, namespace=NS, allow_external=allow_external) is not None
    assert not admits(webhook_expression(allow_external=allow_external), canary(url), NS)


def test_external_https_hooks_need_the_platforms_opt_out_and_verified_tls() -> None:
    for url in EXTERNAL:
        assert url_problem(url, namespace=NS, allow_external=False) == \
            "is an external URL, and the platform does not allow external webhooks"
        assert not admits(webhook_expression(allow_external=False), canary(url), NS)
        assert url_problem(url, namespace=NS, allow_external=True) is None
        assert admits(webhook_expression(allow_external=True), canary(url), NS)
        assert not admits(webhook_expression(allow_external=True), canary(url, disableTLS=True), NS)
    assert url_problem("http://hooks.example.com/", namespace=NS, allow_external=True) is not None
    # a Canary without webhooks, and the other kinds the policy judges, are not this check's business
    assert admits(webhook_expression(allow_external=False), {"kind": "Canary", "spec": {"analysis": {}}}, NS)
    assert admits(webhook_expression(allow_external=False), {"kind": "MetricTemplate", "spec": {}}, NS)


_PIECES = st.sampled_from(["http://", "https://", "x", "fraud", "risk", ".", ".svc", ".cluster.local", ":8080",
                           "/", "@", "169.254.169.254", "[fd00:ec2::254]", "example.com", "?a=b", "#", "\\",
                           "\n", " ", "-", "kubernetes.default", ".internal", "A",
                           '"', "'", "<", ">", "\x00", "\x0b", "\x7f", "\u00a0"])


@settings(max_examples=150, deadline=None)
@given(st.lists(_PIECES, min_size=1, max_size=8).map("".join), st.booleans())
def test_the_admission_cel_and_the_config_check_agree_on_any_url(url: str, allow_external: bool) -> None:
    """The CEL copy of the rule admits exactly what the Python check allows."""
    allowed = url_problem(url, namespace=NS, allow_external=allow_external) is None
    assert admits(webhook_expression(allow_external=allow_external), canary(url), NS) is allowed


def test_a_refused_canary_reads_the_rule_and_the_fix() -> None:
    (_, check, _) = flagger_policy(PROMETHEUS_URL)["validations"]
    assert message(check["messageExpression"], canary(NEVER[0]), NS) == (
        "Canary webhooks call Services of this namespace only, http(s)://<service>.<namespace>.svc.cluster.local/"
        "... (external ones need serving.delivery.allow_external_webhooks: true in the platform config) "
        "(namespace fraud)")


def test_bad_webhooks_fail_model_serving_args_all_at_once_naming_field_value_and_fix() -> None:
    hooks = (CanaryWebhook(name="imds", url=NEVER[0]),
             CanaryWebhook(name="imds", url=EXTERNAL[0], timeout_seconds=0),
             CanaryWebhook(name="gate", url=OWN[0], type="on-friday", metadata={"n": 1}))  # type: ignore[arg-type,dict-item]
    with pytest.raises(ConfigError) as caught:
        args(namespace=NS, webhooks=hooks)
    assert [i.path for i in caught.value.issues] == [
        "webhooks[0].url", "webhooks[0].name", "webhooks[1].url", "webhooks[1].name", "webhooks[1].timeout_seconds",
        "webhooks[2].type", "webhooks[2].metadata"]
    text = caught.value.render()
    assert ("webhooks[0].url: is not a Service of namespace 'fraud' (Flagger would call it from the platform's "
            "network position") in text and "(got 'http://169.254.169.254/latest/meta-data/iam/security-" in text
    assert "— fix: use http://<service>.fraud.svc.cluster.local[:port]/path (e.g. the Flagger loadtester " \
           "http://flagger-loadtester.fraud.svc.cluster.local/); external https hooks need the platform's " \
           "serving.delivery.allow_external_webhooks: true" in text
    assert "webhooks[2].type: unknown choice (got 'on-friday')" in text


def test_model_serving_args_refuse_the_review_injection_probe() -> None:
    """A quote closes a generated program's string literal (REVIEW-deploy L1): refused like any foreign URL."""
    probe = 'http://x.fraud.svc.cluster.local/"+__import__("os").system("id")+"'
    with pytest.raises(ConfigError) as caught:
        args(namespace=NS, webhooks=(CanaryWebhook(name="load", url=probe),))
    (issue,) = caught.value.issues
    assert (issue.path, issue.value) == ("webhooks[0].url", probe)
    assert issue.message.startswith("is not a Service of namespace 'fraud'")


def test_external_hooks_pass_with_the_opt_out_and_hooks_need_progressive_delivery() -> None:
    external = (CanaryWebhook(name="approve", url=EXTERNAL[0], type=WebhookType.CONFIRM_PROMOTION),)
    assert args(namespace=NS, webhooks=external, allow_external_webhooks=True).webhooks == external
    with pytest.raises(ConfigError, match=r"webhooks: delivery instant runs no analysis to call them \(got 1\) — "
                                          r"fix: use canary, blue-green or mirror, or drop webhooks"):
        args(namespace=NS, delivery="instant", webhooks=(CanaryWebhook(name="l", url=OWN[0]),))
    assert webhook_issues((CanaryWebhook(name="l", url=OWN[0]),), namespace=NS, allow_external=False) == []


def test_the_planned_canary_carries_the_load_test_hook_with_tls_verified(serving_plan: Plan) -> None:
    """tests/k8s/programs/model_serving gives the blue-green `pricer` the namespace's loadtester; the CRD
    schema check of test_model_serving covers the entry's shape."""
    (pricer,) = [r for r in serving_plan.of_type("kubernetes:flagger.app/v1beta1:Canary")
                 if r.get("metadata.name") == "pricer"]
    (hook,) = pricer.get("spec.analysis.webhooks")
    assert hook["url"] == "http://flagger-loadtester.fraud-detector.svc.cluster.local/"
    assert (hook["type"], hook["timeout"], "disableTLS" in hook) == ("rollout", "30s", False)
    others = [r for r in serving_plan.of_type("kubernetes:flagger.app/v1beta1:Canary") if r is not pricer]
    assert others and all(r.get("spec.analysis.webhooks") is None for r in others)


def test_the_review_policy_knows_the_platform_prometheus_the_admission_pins() -> None:
    """`metrics_server_url`'s default (policy settings carry platform facts without importing the k8s layer) is
    the address ModelServing's templates use and `mlops-flagger-metrics` admits."""
    assert PolicySettings().metrics_server_url == PROMETHEUS_URL


def _refs(spec: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "Canary", "spec": spec}


def test_a_canary_keeps_metrics_server_templates_and_alert_providers_to_the_platform_and_its_namespace() -> None:
    """REVIEW-deploy M1: Flagger sends the builtin checks to `spec.metricsServer` from its pod, and would read a
    MetricTemplate or AlertProvider (and its Secret) of the namespace a reference names."""
    expression = canary_refs_expression(PROMETHEUS_URL)
    own = {"metrics": [{"name": "e", "templateRef": {"name": "error-rate", "namespace": NS}},
                       {"name": "request-success-rate", "thresholdRange": {"min": 99}}],
           "alerts": [{"name": "team", "providerRef": {"name": "slack"}}]}
    for spec in ({}, {"metricsServer": PROMETHEUS_URL, "analysis": own}, {"analysis": {"webhooks": []}}):
        assert admits(expression, _refs(spec), NS), spec
    for spec in ({"metricsServer": "http://169.254.169.254/"},
                 {"metricsServer": "http://prometheus.risk.svc.cluster.local:9090"},
                 {"analysis": {"metrics": [{"name": "e", "templateRef": {"name": "x", "namespace": "risk"}}]}},
                 {"analysis": {"alerts": [{"name": "a", "providerRef": {"name": "x", "namespace": "monitoring"}}]}}):
        assert not admits(expression, _refs(spec), NS), spec
    assert admits(expression, {"kind": "MetricTemplate", "spec": {"metricsServer": "x"}}, NS)
    (*_, check) = flagger_policy(PROMETHEUS_URL)["validations"]
    assert message(check["messageExpression"], _refs({"metricsServer": "http://x/"}), NS) == (
        f"Canary spec.metricsServer is absent or {PROMETHEUS_URL}, and its metric templateRefs and alert "
        "providerRefs name no other namespace (namespace fraud)")
