"""Fixtures of the policies in `mlops_platform.policy.rules.delivery_webhooks`."""

from __future__ import annotations

from typing import Any

from policy_plans import Add, Patch, U, res

from policy_cases._base import DEFERRED, Case, fail, ok, on, u

CANARY = on("kubernetes:flagger.app/v1beta1:Canary", "fraud-canary")
SERVICE = on("kubernetes:core/v1:Service", "fraud-svc")
TEMPLATE_T = "kubernetes:flagger.app/v1beta1:MetricTemplate"
TEMPLATE = on(TEMPLATE_T, "fraud-error-rate")
PROMETHEUS = "http://kps-prometheus.monitoring.svc.cluster.local:9090"
LOADTESTER = "http://flagger-loadtester.fraud.svc.cluster.local/"


def hooks(*urls: Any, **extra: Any) -> Patch:
    """The reference Canary (namespace fraud) with one rollout webhook per URL."""
    return Patch("fraud-canary", "spec.analysis.webhooks",
                 [{"name": f"hook-{i}", "type": "rollout", "url": url, **extra} for i, url in enumerate(urls)])


def template(**provider: Any) -> Add:
    """The Canary's error-rate MetricTemplate in namespace fraud, its provider `provider` over the platform's."""
    spec = {"provider": {"type": "prometheus", "address": PROMETHEUS, **provider},
            "query": 'sum(rate(x{namespace="{{ namespace }}"}[{{ interval }}]))'}
    return Add(res(TEMPLATE_T, "fraud-error-rate", {"metadata": {"name": "fraud-error-rate", "namespace": "fraud"},
                                                     "spec": spec}, ["fraud-ns"]))


CASES: dict[str, Case] = {
    "k8s-canary-webhooks": Case(
        passing=(ok(), ok(hooks(LOADTESTER, "https://smoke.fraud.svc:8443/check?x=1", "http://gate.fraud.svc/"))),
        failing=(
            # instance metadata (IPv4 and IPv6), link-local, loopback, a bare IP, the API server, another tenant
            fail(CANARY, hooks("http://169.254.169.254/latest/meta-data/iam/security-credentials/")),
            fail(CANARY, hooks("http://[fd00:ec2::254]/latest/api/token")),
            fail(CANARY, hooks("http://169.254.170.23/v1/credentials")),
            fail(CANARY, hooks("http://127.0.0.1:8080/"), allow_external_webhooks=True),
            fail(CANARY, hooks("https://10.0.12.7/"), allow_external_webhooks=True),
            fail(CANARY, hooks("https://kubernetes.default.svc/api/v1/secrets"), allow_external_webhooks=True),
            fail(CANARY, hooks("http://model.risk.svc.cluster.local/")),
            fail(CANARY, hooks("http://flagger-loadtester.fraud/")),  # short form: falls through to public DNS
            fail(CANARY, hooks("http://flagger-loadtester.fraud.svc.cluster.local@169.254.169.254/")),
            # external: refused by default, and with TLS off even when allowed
            fail(CANARY, hooks("https://hooks.example.com/release")),
            fail(CANARY, hooks("https://hooks.example.com/release", disableTLS=True), allow_external_webhooks=True),
            fail(CANARY, hooks("http://hooks.example.com/release"), allow_external_webhooks=True),
        ),
        unknown=u(DEFERRED, hooks(U))),
    "k8s-canary-references": Case(
        passing=(ok(), ok(Patch("fraud-canary", "spec.metricsServer", PROMETHEUS),
                          Patch("fraud-canary", "spec.analysis.alerts", [
                              {"name": "team", "providerRef": {"name": "slack", "namespace": "fraud"}}]))),
        failing=(
            # Flagger would send the metric checks there from its pod (REVIEW-deploy M1)
            fail(CANARY, Patch("fraud-canary", "spec.metricsServer", "http://169.254.169.254/latest/")),
            fail(CANARY, Patch("fraud-canary", "spec.metricsServer", "http://prometheus.risk.svc.cluster.local:9090")),
            fail(CANARY, Patch("fraud-canary", "spec.analysis.metrics", [
                {"name": "errors", "templateRef": {"name": "error-rate", "namespace": "risk"}}])),
            fail(CANARY, Patch("fraud-canary", "spec.analysis.alerts", [
                {"name": "team", "providerRef": {"name": "slack", "namespace": "monitoring"}}])),
        ),
        unknown=u(DEFERRED, Patch("fraud-canary", "spec.metricsServer", U))),
    "k8s-no-externalname-services": Case(
        passing=(ok(), ok(Patch("fraud-svc", "spec.type", "ClusterIP"))),
        failing=(
            # REVIEW-deploy H2: the namespace's name aliased to Prometheus, reachable by an allowed webhook URL
            fail(SERVICE, Patch("fraud-svc", "spec.type", "ExternalName"),
                 Patch("fraud-svc", "spec.externalName", "prometheus-operated.monitoring.svc.cluster.local")),
        ),
        unknown=u(DEFERRED, Patch("fraud-svc", "spec.type", U))),
    "k8s-flagger-metric-provider": Case(
        passing=(ok(), ok(template())),
        failing=(
            fail(TEMPLATE, template(address="http://169.254.169.254/latest/meta-data/")),
            fail(TEMPLATE, template(address="http://prometheus.risk.svc.cluster.local:9090")),  # another tenant's
            fail(TEMPLATE, template(type="cloudwatch")),  # Flagger's AWS identity
            fail(TEMPLATE, template(secretRef={"name": "creds"})),
        ),
        unknown=u(DEFERRED, template(address=U))),
}

