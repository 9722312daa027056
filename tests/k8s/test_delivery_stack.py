"""The cluster layer installs the progressive-delivery and autoscaling controllers (Flagger, KEDA) wired to the
platform's Prometheus, hardened, and reachable to Prometheus through the monitoring namespace's fence. Reads
the cached plans of the shipped environments."""

from __future__ import annotations

import ipaddress
from typing import Any

from mlops_platform.config import PlatformConfig
from mlops_platform.engine import Plan, Resource
from mlops_platform.k8s.delivery_stack import FLAGGER_NAMESPACE, KEDA_NAMESPACE
from mlops_platform.k8s.manifests import PROJECT_LABEL
from mlops_platform.k8s.monitoring import PROMETHEUS_PORT, PROMETHEUS_URL
from mlops_platform.k8s.netpol import HOOK_TARGET_LABEL, MONITORING_NAMESPACE, NS_NAME_LABEL, flagger_egress
from mlops_platform.k8s.opencost import OPENCOST_NAMESPACE

from .planview import k8s_of

RELEASE = "kubernetes:helm.sh/v3:Release"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def release(plan: Plan, chart: str) -> Resource:
    (found,) = [r for r in k8s_of(plan, RELEASE) if r.get("chart") == chart]
    return found


def test_flagger_routes_through_gateway_api_and_analyses_on_the_platform_prometheus(plan: Plan,
                                                                                   cfg: PlatformConfig) -> None:
    flagger = release(plan, "flagger")
    values = flagger.get("values")
    assert (flagger.get("namespace"), values["meshProvider"], values["metricsServer"]) == (
        FLAGGER_NAMESPACE, "gatewayapi:v1", PROMETHEUS_URL)
    assert values["prometheus"] == {"install": False} and values["noCrossNamespaceRefs"] is True
    context = values["securityContext"]["context"]
    assert context["allowPrivilegeEscalation"] is False and context["capabilities"] == {"drop": ["ALL"]}
    assert context["runAsNonRoot"] is True and context["seccompProfile"] == {"type": "RuntimeDefault"}
    replicas = 2 if cfg.is_prod else 1
    assert values["leaderElection"] == {"enabled": cfg.is_prod, "replicaCount": replicas}


def test_keda_reads_only_its_own_secrets_and_runs_redundantly_in_prod(plan: Plan, cfg: PlatformConfig) -> None:
    keda = release(plan, "keda")
    values = keda.get("values")
    assert keda.get("namespace") == KEDA_NAMESPACE
    assert values["permissions"]["operator"]["restrict"]["secret"] is True
    assert values["operator"]["replicaCount"] == (2 if cfg.is_prod else 1)


def test_prometheus_admits_the_controllers_queries_on_its_port_only(plan: Plan, cfg: PlatformConfig) -> None:
    """The monitoring namespace's fence admits its own pods; Flagger and KEDA query from their namespaces, and
    OpenCost from its own when cost allocation is on (k8s/opencost.py)."""
    policies = [p for p in k8s_of(plan, NETPOL) if p.get("metadata.namespace") == MONITORING_NAMESPACE]
    (queries,) = [p for p in policies if p.get("metadata.name") == "allow-queries"]
    (rule,) = queries.get("spec.ingress")
    assert rule["ports"] == [{"protocol": "TCP", "port": PROMETHEUS_PORT}]
    opencost = {OPENCOST_NAMESPACE} if cfg.cost_allocation_on else set()
    assert {s["namespaceSelector"]["matchLabels"][NS_NAME_LABEL] for s in rule["from"]} == {FLAGGER_NAMESPACE,
                                                                                            KEDA_NAMESPACE} | opencost


def _reaches(rule: dict[str, Any], address: str) -> bool:
    """Whether an egress rule's ipBlocks admit `address` (NetworkPolicy: cidr minus its excepts)."""
    ip = ipaddress.ip_address(address)
    return any(ip in ipaddress.ip_network(b["ipBlock"]["cidr"]) and
               not any(ip in ipaddress.ip_network(e) for e in b["ipBlock"].get("except", []))
               for b in rule.get("to", []) if "ipBlock" in b)


def test_flagger_calls_only_dns_the_api_server_prometheus_and_project_hook_pods(plan: Plan,
                                                                               cfg: PlatformConfig) -> None:
    """REVIEW-deploy H2: the webhook URL rule alone is not the boundary (a hook's redirect, which Flagger's client
    follows, or an aliased name reach wherever they point), so Flagger's namespace denies egress but to what
    Flagger needs: DNS, the API server (the `kubernetes` ClusterIP, the control plane's ENIs in the VPC), the
    platform Prometheus's port and project pods labelled as hook targets; external https only with the opt-out."""
    policies = {p.get("metadata.name"): p.get("spec") for p in k8s_of(plan, NETPOL)
                if p.get("metadata.namespace") == FLAGGER_NAMESPACE}
    external = cfg.serving.delivery.allow_external_webhooks
    egress = {n for n, s in policies.items() if "Egress" in s["policyTypes"]}
    assert egress == {"default-deny-egress", "allow-dns", "allow-api-server", "allow-prometheus",
                      "allow-project-hooks"} | ({"allow-external-hooks"} if external else set())
    assert policies["default-deny-egress"] == {"podSelector": {}, "policyTypes": ["Egress"]}
    (api,) = policies["allow-api-server"]["egress"]
    assert api["ports"] == [{"protocol": "TCP", "port": 443}]
    assert [b["ipBlock"]["cidr"] for b in api["to"]] == ["10.100.0.1/32", "172.20.0.1/32", cfg.network.cidr]
    (prometheus,) = policies["allow-prometheus"]["egress"]
    assert prometheus == {"to": [{"namespaceSelector": {"matchLabels": {NS_NAME_LABEL: MONITORING_NAMESPACE}}}],
                          "ports": [{"protocol": "TCP", "port": PROMETHEUS_PORT}]}
    (hooks,) = policies["allow-project-hooks"]["egress"]
    assert hooks == {"to": [{"namespaceSelector": {"matchExpressions": [
        {"key": PROJECT_LABEL, "operator": "Exists"}]}, "podSelector": {"matchLabels": {HOOK_TARGET_LABEL: "true"}}}]}
    rules = [r for n in egress for r in policies[n].get("egress", [])]
    for imds in ("169.254.169.254", "169.254.170.23", "127.0.0.1"):  # instance metadata, Pod Identity agent
        assert not any(_reaches(r, imds) for r in rules), imds
    assert any(_reaches(r, "52.94.1.1") for r in rules) is external  # a public address: only with the opt-out


def test_flagger_egress_admits_external_https_only_with_the_opt_out_and_never_private_ranges() -> None:
    (external,) = [p["spec"]["egress"][0] for p in flagger_egress(prometheus_port=9090, vpc_cidr="10.20.0.0/16",
                                                                   allow_external=True)
                   if p["name"] == "allow-external-hooks"]
    assert external["ports"] == [{"protocol": "TCP", "port": 443}]
    assert _reaches(external, "52.94.1.1")
    assert not any(_reaches(external, a) for a in ("169.254.169.254", "10.20.3.4", "192.168.1.1", "100.64.0.1"))
    assert "allow-external-hooks" not in {p["name"] for p in flagger_egress(
        prometheus_port=9090, vpc_cidr="10.20.0.0/16", allow_external=False)}
