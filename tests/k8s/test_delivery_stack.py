"""The cluster layer installs the progressive-delivery and autoscaling controllers (Flagger, KEDA) wired to the
platform's Prometheus, hardened, and reachable to Prometheus through the monitoring namespace's fence. Reads
the cached plans of the shipped environments."""

from __future__ import annotations

from mlops_platform.config import PlatformConfig
from mlops_platform.engine import Plan, Resource
from mlops_platform.k8s.delivery_stack import FLAGGER_NAMESPACE, KEDA_NAMESPACE
from mlops_platform.k8s.monitoring import PROMETHEUS_PORT, PROMETHEUS_URL
from mlops_platform.k8s.netpol import MONITORING_NAMESPACE, NS_NAME_LABEL
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
