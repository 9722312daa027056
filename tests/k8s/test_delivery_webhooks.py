"""Canary webhooks (Flagger calls them from its own pod: docs.flagger.app/usage/webhooks): one URL rule
(core.webhook_urls) held the same by the project's config check, the cluster's admission CEL (evaluated by
cel-python) and the planned Canary; negative tests match the messages a user reads."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlops_platform.core import webhook_urls
from mlops_platform.core.errors import ConfigError
from mlops_platform.core.webhook_urls import url_problem
from mlops_platform.engine import Plan
from mlops_platform.k8s.delivery import CanaryWebhook, WebhookType, webhook_issues
from mlops_platform.k8s.metric_isolation import canary_refs_expression, flagger_policy, webhook_expression
from mlops_platform.k8s.monitoring import PROMETHEUS_URL
from mlops_platform.policy.config import PolicySettings
from mlops_platform.policy.rules.delivery_webhooks import NO_NAMESPACE, k8s_canary_webhooks
from mlops_platform.policy.sdk.graph import Res

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
#: the platform's serving.delivery.allow_external_webhook_hosts in the tests that list some
HOSTS = ("hooks.example.com", "ci.example.org")
#: external-looking names Flagger's resolver completes into in-cluster Services (search list
#: `<ns>.svc.cluster.local svc.cluster.local cluster.local`, ndots:5), a listed host's subdomain and an
#: unlisted public host: refused even with HOSTS listed
UNLISTED = ["https://kubernetes.default/api/v1/secrets", "https://grafana.monitoring/", "https://model.risk:8443/",
            "https://evil.hooks.example.com/", "https://hooks.example.com.evil.net/", "https://example.net/",
            "https://hooks-example.com/", "https://hooksxexample.com/"]


def canary(*urls: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "Canary", "spec": {"analysis": {"webhooks": [
        {"name": f"h{i}", "url": url, **extra} for i, url in enumerate(urls)]}}}


@pytest.mark.parametrize("hosts", [(), HOSTS])
def test_own_namespace_services_are_allowed_by_config_and_admission(hosts: tuple[str, ...]) -> None:
    expression = webhook_expression(external_hosts=hosts)
    for url in OWN:
        assert url_problem(url, namespace=NS, external_hosts=hosts) is None, url
        assert admits(expression, canary(url), NS), url
        assert not admits(expression, canary(url), "risk"), url  # the same URL from another namespace


@pytest.mark.parametrize("hosts", [(), HOSTS])
@pytest.mark.parametrize("url", NEVER + UNLISTED)
def test_metadata_loopback_api_server_and_other_tenants_are_always_refused(url: str, hosts: tuple[str, ...]) -> None:
    assert url_problem(url, namespace=NS, external_hosts=hosts) is not None
    assert not admits(webhook_expression(external_hosts=hosts), canary(url), NS)


def test_short_cluster_names_are_refused_naming_the_listed_hosts() -> None:
    """REVIEW: `https://kubernetes.default/` has the shape of a public name yet is the API server to Flagger's
    resolver; only an exact listed host passes, so it is refused with or without a list."""
    assert url_problem(UNLISTED[0], namespace=NS) == (
        "is not a Service of namespace 'fraud', and its host is not one of the platform's external webhook hosts "
        "(none); a short name like kubernetes.default or <service>.<namespace> resolves inside the cluster")
    assert "external webhook hosts (hooks.example.com, ci.example.org)" in str(
        url_problem(UNLISTED[1], namespace=NS, external_hosts=HOSTS))


def test_external_https_hooks_need_their_host_listed_and_verified_tls() -> None:
    for url in EXTERNAL:
        assert url_problem(url, namespace=NS) is not None
        assert not admits(webhook_expression(), canary(url), NS)
        assert url_problem(url, namespace=NS, external_hosts=HOSTS) is None
        assert admits(webhook_expression(external_hosts=HOSTS), canary(url), NS)
        assert not admits(webhook_expression(external_hosts=HOSTS), canary(url, disableTLS=True), NS)
    assert url_problem("http://hooks.example.com/", namespace=NS, external_hosts=HOSTS) is not None
    # listing one host admits that host only
    assert admits(webhook_expression(external_hosts=HOSTS[:1]), canary(EXTERNAL[0]), NS)
    assert not admits(webhook_expression(external_hosts=HOSTS[:1]), canary(EXTERNAL[1]), NS)
    # a Canary without webhooks, and the other kinds the policy judges, are not this check's business
    assert admits(webhook_expression(), {"kind": "Canary", "spec": {"analysis": {}}}, NS)
    assert admits(webhook_expression(), {"kind": "MetricTemplate", "spec": {}}, NS)


_PIECES = st.sampled_from(["http://", "https://", "x", "fraud", "risk", ".", ".svc", ".cluster.local", ":8080",
                           "/", "@", "169.254.169.254", "[fd00:ec2::254]", "example.com", "?a=b", "#", "\\",
                           "\n", " ", "-", "kubernetes.default", ".internal", "A", "hooks.example.com", "evil.",
                           '"', "'", "<", ">", "\x00", "\x0b", "\x7f", "\u00a0"])


@settings(max_examples=150, deadline=None)
@given(st.lists(_PIECES, min_size=1, max_size=8).map("".join), st.sampled_from([(), HOSTS]))
def test_the_admission_cel_and_the_config_check_agree_on_any_url(url: str, hosts: tuple[str, ...]) -> None:
    """The CEL copy of the rule admits exactly what the Python check allows."""
    allowed = url_problem(url, namespace=NS, external_hosts=hosts) is None
    assert admits(webhook_expression(external_hosts=hosts), canary(url), NS) is allowed


def test_a_refused_canary_reads_the_rule_and_the_fix() -> None:
    (_, check, _) = flagger_policy(PROMETHEUS_URL)["validations"]
    assert message(check["messageExpression"], canary(NEVER[0]), NS) == (
        "Canary webhooks call Services of this namespace only, http(s)://<service>.<namespace>.svc.cluster.local/"
        "... (external ones need their host in serving.delivery.allow_external_webhook_hosts) "
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
           "http://flagger-loadtester.fraud.svc.cluster.local/); an external https hook needs its host listed in the " \
           "platform's serving.delivery.allow_external_webhook_hosts" in text
    assert "webhooks[2].type: unknown choice (got 'on-friday')" in text


def test_model_serving_args_refuse_the_review_injection_probe() -> None:
    """A quote closes a generated program's string literal (REVIEW-deploy L1): refused like any foreign URL."""
    probe = 'http://x.fraud.svc.cluster.local/"+__import__("os").system("id")+"'
    with pytest.raises(ConfigError) as caught:
        args(namespace=NS, webhooks=(CanaryWebhook(name="load", url=probe),))
    (issue,) = caught.value.issues
    assert (issue.path, issue.value) == ("webhooks[0].url", probe)
    assert issue.message.startswith("is not a Service of namespace 'fraud'")


def test_external_hooks_pass_when_listed_and_hooks_need_progressive_delivery() -> None:
    external = (CanaryWebhook(name="approve", url=EXTERNAL[0], type=WebhookType.CONFIRM_PROMOTION),)
    assert args(namespace=NS, webhooks=external, allow_external_webhook_hosts=HOSTS).webhooks == external
    with pytest.raises(ConfigError, match=r"allow_external_webhook_hosts: not a tuple of host names \(got True\)"):
        args(namespace=NS, webhooks=external, allow_external_webhook_hosts=True)
    with pytest.raises(ConfigError, match=r"allow_external_webhook_hosts\[0\]: must be a public DNS name; it ends in "
                                          r"'default'.* \(got 'kubernetes.default'\)"):
        args(namespace=NS, webhooks=external, allow_external_webhook_hosts=("kubernetes.default",))
    # checked before its length is read: no TypeError from len(5)
    with pytest.raises(ConfigError, match=r"webhooks: not a tuple \(got 5\)"):
        args(namespace=NS, delivery="instant", webhooks=5)
    with pytest.raises(ConfigError, match=r"webhooks: delivery instant runs no analysis to call them \(got 1\) — "
                                          r"fix: use canary, blue-green or mirror, or drop webhooks"):
        args(namespace=NS, delivery="instant", webhooks=(CanaryWebhook(name="l", url=OWN[0]),))
    assert webhook_issues((CanaryWebhook(name="l", url=OWN[0]),), namespace=NS) == []


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


def test_the_review_judges_a_canary_without_namespace_by_its_providers_or_refuses_it() -> None:
    """pulumi-kubernetes puts an object without metadata.namespace in its provider's `namespace`, else in the
    kubeconfig context's (not in the plan): the review never assumes "default"."""
    def outcomes(url: str, provider: dict[str, Any]) -> list[Any]:
        spec = {"analysis": {"webhooks": [{"name": "load", "url": url}]}}
        res = Res("urn:x", "kubernetes:flagger.app/v1beta1:Canary", "c", {"metadata": {}, "spec": spec},
                  provider=provider)
        return list(k8s_canary_webhooks(res, PolicySettings()))

    default_hook = "http://flagger-loadtester.default.svc.cluster.local/"
    assert outcomes(default_hook, {}) == [NO_NAMESPACE]
    assert outcomes(OWN[0], {"namespace": NS}) == []
    (refused,) = outcomes(default_hook, {"namespace": NS})
    assert "is not a Service of namespace 'fraud'" in refused


def test_a_pod_name_is_never_an_external_host() -> None:
    """CoreDNS answers `<a-b-c-d>.<ns>.pod.cluster.local` with that address (EKS's `pods insecure`), and the
    search list completes `<ip>.<ns>.pod` to it: listed, it would reach instance metadata."""
    assert webhook_urls.host_problem("169-254-169-254.x.pod", namespaces=()) is not None


@pytest.mark.parametrize("hosts", [("hooks(.example.com",), ("(.*)",), ("a|b.example.com",)])
def test_hosts_a_review_reads_unchecked_never_widen_or_break_the_match(hosts: tuple[str, ...]) -> None:
    """Policy config and stack outputs were never checked by host_problem: regex characters match nothing."""
    for url in ("https://hooks.example.com/", "https://evil.example.net/", "https://b.example.com/"):
        assert not webhook_urls.is_listed_external(url, hosts)
    assert webhook_urls.is_listed_external("https://b.example.com/", (*hosts, "b.example.com"))
