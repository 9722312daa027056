"""Layer 2 for the reusable `ModelServing` component: a small real program using it in every mode and delivery
strategy, planned offline once; manifests validated against the Kubernetes schema and the published CRD
schemas (Flagger v1.44.0, KEDA v2.20.2, Gateway API v1.3.0), GPU placement, security, delivery and
autoscaling asserted."""

from __future__ import annotations

import re

import promql_parser
import pytest
from mlops_platform.config.sections_serving import CertificateSource
from mlops_platform.core import contract
from mlops_platform.engine import Plan, Resource
from mlops_platform.k8s.autoscaling import GPU_UTIL_METRIC, IN_FLIGHT_METRIC
from mlops_platform.k8s.project_gateway import PROJECT_GATEWAY, project_listener
from mlops_platform.k8s.serving import covering_wildcards

from .crds import CHECKS, CORE_TYPES, custom_resource_problems, manifest, validate_strictly
from .upstream import as_sent, crd_validator

DOMAIN = "models.internal"
NS = "fraud-detector"
GPU_TOLERATION = {"key": contract.GPU_TAINT_KEY, "operator": "Exists", "effect": contract.GPU_TAINT_EFFECT}
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
CANARY = "kubernetes:flagger.app/v1beta1:Canary"
TEMPLATE = "kubernetes:flagger.app/v1beta1:MetricTemplate"
SCALED = "kubernetes:keda.sh/v1alpha1:ScaledObject"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SERVICE = "kubernetes:core/v1:Service"
#: model -> (mode, strategy) of the program's cases
STRATEGIES = {"ranker": ("deployment", "canary"), "pricer": ("deployment", "blue-green"),
              "reranker": ("deployment", "mirror"), "embedder": ("kserve", "canary"),
              "classifier": ("kserve", "blue-green"), "ner": ("kserve", "mirror")}


@pytest.fixture
def plan(serving_plan: Plan) -> Plan:
    return serving_plan


def named(plan: Plan, type_: str, name: str) -> Resource:
    (res,) = [r for r in plan.of_type(type_) if r.get("metadata.name") == name]
    return res


def pod_specs(plan: Plan) -> list[tuple[str, dict]]:
    pods = [(r.get("metadata.name"), r.get("spec.template.spec")) for r in plan.of_type(DEPLOYMENT)]
    return pods + [(r.get("metadata.name"), r.get("spec.predictor")) for r in plan.of_type(ISVC)]


def test_every_core_manifest_validates_and_every_custom_resource_is_well_formed(plan: Plan) -> None:
    core = [r for r in plan.resources if r.type in CORE_TYPES]
    assert {r.type.rsplit(":", 1)[1] for r in core} == {"Deployment", "Service", "HorizontalPodAutoscaler",
                                                        "PodDisruptionBudget"}
    for res in core:
        validate_strictly(manifest(res), "1.34")
    crs = [r for r in plan.resources if r.type in CHECKS]
    # per model: scrape + drift rule; 4 InferenceServices; 6 Canaries with 3-4 MetricTemplates; 5 ScaledObjects
    assert len(crs) == 9 * 2 + 4 + 6 + (6 * 3 + 2) + 5
    assert {r.name: p for r in crs if (p := custom_resource_problems(r))} == {}


def test_published_schemas_reject_what_the_checks_must_catch() -> None:
    """The schema checks are real: a wrong analysis, an unknown autoscaler kind and a trigger-less
    ScaledObject fail the recorded CRDs."""
    canary = CHECKS[CANARY]({"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
                             "service": {"port": 80}, "analysis": {"interval": "1m"},
                             "autoscalerRef": {"apiVersion": "v1", "kind": "VerticalPodAutoscaler", "name": "x"}})
    assert any("analysis" in p for p in canary) and any("autoscalerRef.kind" in p for p in canary)
    assert CHECKS[SCALED]({"scaleTargetRef": {"name": "x"}, "triggers": []})
    assert CHECKS[TEMPLATE]({"provider": {"type": "prometheus"}})  # no query


def test_every_pod_is_restricted_probed_and_resourced(plan: Plan) -> None:
    for name, pod in pod_specs(plan):
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        (c,) = pod["containers"]
        assert c["securityContext"]["allowPrivilegeEscalation"] is False, name
        assert c["securityContext"]["readOnlyRootFilesystem"] is True, name
        assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}, name
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"], name
        assert pod["topologySpreadConstraints"], name


def test_gpu_pods_tolerate_the_taint_select_their_pool_and_limit_gpus(plan: Plan) -> None:
    gpu = {name: pod for name, pod in pod_specs(plan)
           if contract.GPU_RESOURCE in pod["containers"][0]["resources"]["limits"]}
    assert set(gpu) == {"ranker", "reranker", "embedder", "sketch"}
    for name, pod in gpu.items():
        assert GPU_TOLERATION in pod["tolerations"], name
        assert pod["containers"][0]["resources"]["limits"][contract.GPU_RESOURCE] == "1"
    assert gpu["ranker"]["nodeSelector"] == {contract.POOL_LABEL: "a10g"}
    assert gpu["embedder"]["nodeSelector"] == {contract.GPU_TYPE_LABEL: "l4"}
    cpu_only = [pod for name, pod in pod_specs(plan) if name not in gpu]
    assert cpu_only and all("tolerations" not in pod for pod in cpu_only)


@pytest.mark.parametrize("model", list(STRATEGIES))
def test_every_progressive_model_has_a_canary_on_its_deployment_route_and_autoscaler(plan: Plan, model: str) -> None:
    mode, strategy = STRATEGIES[model]
    spec = named(plan, CANARY, model).get("spec")
    target = f"{model}-predictor" if mode == "kserve" else model
    assert spec["provider"] == "gatewayapi:v1"
    assert spec["targetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": target}
    scaler = spec["autoscalerRef"]
    scaler_type = SCALED if scaler["kind"] == "ScaledObject" else HPA
    assert named(plan, scaler_type, scaler["name"]).get("spec.scaleTargetRef.name") == target
    if scaler_type == SCALED:  # the primary's copy scales on the primary's pods (Flagger matches trigger names)
        (trigger,) = named(plan, SCALED, scaler["name"]).get("spec.triggers")
        assert f'pod=~"{target}-primary-' in scaler["primaryScalerQueries"][trigger["name"]]
    # the project's own Gateway (tenants layer), whose one listener is `*.<namespace>.<domain>`
    assert spec["service"]["gatewayRefs"] == [{"name": PROJECT_GATEWAY, "namespace": NS}]
    assert spec["service"]["hosts"] == [f"{model}.{NS}.{DOMAIN}"]
    analysis = spec["analysis"]
    assert {"stepWeight": strategy == "canary", "iterations": strategy != "canary",
            "mirror": strategy == "mirror"} == {k: k in analysis for k in ("stepWeight", "iterations", "mirror")}
    for metric in analysis["metrics"]:
        template = named(plan, TEMPLATE, metric["templateRef"]["name"])
        assert template.get("metadata.namespace") == NS  # Flagger runs with noCrossNamespaceRefs
        assert metric["thresholdRange"]["max"] > 0
    if mode == "deployment":  # Flagger owns `<model>`, `-primary` and `-canary` Services
        assert not [r for r in plan.of_type(SERVICE) if r.get("metadata.name") == model]


def test_the_route_flagger_writes_validates_and_lands_on_the_models_listener(plan: Plan) -> None:
    """Flagger copies `gatewayRefs` and `hosts` into the HTTPRoute (fluxcd/flagger v1.44.0
    pkg/router/gateway_api.go: parentRefs, hostnames, primary/canary backendRefs, a RequestMirror filter
    while mirroring). That route must pass the Gateway API v1.3.0 schema, match the listener's wildcard
    and stay under the namespace's own hosts (the serving stack's route-host admission policy)."""
    validator = crd_validator("gateway.networking.k8s.io", "HTTPRoute", "v1")
    listener = project_listener(NS, DOMAIN, CertificateSource.PLATFORM_CA)["hostname"]
    for model in STRATEGIES:
        service = named(plan, CANARY, model).get("spec.service")
        backend = {"group": "", "kind": "Service", "port": as_sent(service["port"])}
        mirror = {"type": "RequestMirror", "requestMirror": {"backendRef": {**backend, "name": f"{model}-canary"}}}
        route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": model},
                 "spec": {"parentRefs": service["gatewayRefs"], "hostnames": service["hosts"], "rules": [{
                     "matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "filters": [mirror],
                     "backendRefs": [{**backend, "name": f"{model}-primary", "weight": 90},
                                     {**backend, "name": f"{model}-canary", "weight": 10}]}]}}
        assert [e.message for e in validator.iter_errors(route)] == [], model
        (host,) = service["hosts"]
        assert host.endswith(listener.removeprefix("*")) and host.endswith(f".{NS}.{DOMAIN}")
        assert host not in covering_wildcards(DOMAIN)


def test_analysis_queries_the_canary_pods_on_the_servers_own_metrics(plan: Plan) -> None:
    queries = {r.get("metadata.name"): r.get("spec.query") for r in plan.of_type(TEMPLATE)}
    assert 'outcome!~"ok|invalid"' in queries["ranker-error-rate"]
    # no failure yet means no series of a failed outcome: 0 failures, not "no value" (a failed check)
    assert re.search(r"100 \* \(sum\(rate\(.*\)\) or on\(\) vector\(0\)\) / sum\(rate\(", queries["ranker-error-rate"])
    assert "histogram_quantile(0.95" in queries["ranker-latency-p95"]
    assert "histogram_quantile(0.99" in queries["ranker-latency-p99"]
    assert contract.DRIFT_METRIC in queries["ranker-drift"] and 'model="ranker"' in queries["ranker-drift"]
    assert "pricer-drift" not in queries  # no drift bound, no drift check
    pods = re.compile(r'pod=~"\{\{ target \}\}-\[0-9a-zA-Z\]\+-\[0-9a-zA-Z\]\+"')
    assert all(pods.search(q) and "[{{ interval }}]" in q for k, q in queries.items() if not k.endswith("drift"))
    # Prometheus anchors regex matches: the canary pattern takes `<target>-<rs>-<pod>`, never the primary's
    canary_pods = re.compile(r"ranker-[0-9a-zA-Z]+-[0-9a-zA-Z]+")
    assert canary_pods.fullmatch("ranker-7f9c8d5b4-x2k9p")
    assert not canary_pods.fullmatch("ranker-primary-7f9c8d5b4-x2k9p")
    for template in plan.of_type(TEMPLATE):
        assert template.get("spec.provider") == {
            "type": "prometheus", "address": "http://kps-prometheus.monitoring.svc.cluster.local:9090"}


def flagger_rendered(query: str, target: str) -> str:
    """A MetricTemplate query as Flagger renders it for one analysis (its template variables)."""
    return query.replace("{{ namespace }}", NS).replace("{{ target }}", target).replace("{{ interval }}", "60s")


def test_every_shipped_query_parses_as_promql(plan: Plan) -> None:
    """Prometheus' grammar (promql-parser) over every MetricTemplate, KEDA trigger and drift rule query: a
    query Prometheus rejects is a check that always fails (a rollback) or a scaler that never scales."""
    queries = [flagger_rendered(r.get("spec.query"), "ranker") for r in plan.of_type(TEMPLATE)]
    queries += [t["metadata"]["query"] for r in plan.of_type(SCALED) for t in r.get("spec.triggers")
                if t["type"] == "prometheus"]
    queries += [q for r in plan.of_type(CANARY)
                for q in (r.get("spec.autoscalerRef.primaryScalerQueries") or {}).values()]
    queries += [r.get("spec.groups.0.rules.0.expr") for r in plan.of_type(
        "kubernetes:monitoring.coreos.com/v1:PrometheusRule")]
    assert len(queries) == 20 + 5 + 4 + 9
    for query in queries:
        promql_parser.parse(query)
    with pytest.raises(ValueError, match="parenthesis"):
        promql_parser.parse(queries[0].rstrip(")"))


def test_gpu_servers_scale_on_in_flight_requests_or_gpu_utilisation_never_cpu(plan: Plan) -> None:
    ranker = named(plan, SCALED, "ranker").get("spec")
    (trigger,) = ranker["triggers"]
    assert trigger["type"] == "prometheus" and IN_FLIGHT_METRIC in trigger["metadata"]["query"]
    assert trigger["metricType"] == "AverageValue" and trigger["metadata"]["threshold"] == "4"
    assert (ranker["minReplicaCount"], ranker["maxReplicaCount"]) == (3, 6)
    (gpu,) = named(plan, SCALED, "reranker").get("spec.triggers")
    assert GPU_UTIL_METRIC in gpu["metadata"]["query"] and '{namespace="fraud-detector", pod=~' in \
        gpu["metadata"]["query"] and gpu["metricType"] == "Value"
    gpu_models = {"ranker", "reranker", "embedder", "sketch"}
    assert not [h for h in plan.of_type(HPA) if h.get("metadata.name") in gpu_models]
    assert {h.get("metadata.name") for h in plan.of_type(HPA)} == {"scorer", "pricer", "classifier"}


def test_scale_to_zero_is_keda_with_working_hours(plan: Plan) -> None:
    spec = named(plan, SCALED, "sketch").get("spec")
    assert spec["minReplicaCount"] == 0
    cron = next(t for t in spec["triggers"] if t["type"] == "cron")
    assert cron["metadata"]["desiredReplicas"] == "1"
    assert all(named(plan, SCALED, m).get("spec.minReplicaCount") >= 1 for m in ("ranker", "reranker", "ner"))


def test_kserve_under_flagger_is_cluster_local_with_an_external_autoscaler(plan: Plan) -> None:
    """KServe v0.15 creates no HTTPRoute for a cluster-local InferenceService (RawHTTPRouteReconciler) and
    no HPA for autoscalerClass external, so Flagger's route and the platform's scaler are the only ones."""
    for model in ("embedder", "classifier", "ner"):
        isvc = named(plan, ISVC, model)
        assert isvc.get("metadata.labels")["networking.kserve.io/visibility"] == "cluster-local"
        assert isvc.get("metadata.annotations")["serving.kserve.io/autoscalerClass"] == "external"
        assert isvc.get("metadata.annotations")["serving.kserve.io/deploymentMode"] == "RawDeployment"
    instant = named(plan, ISVC, "tagger")  # its route is ModelServing's, on the project's Gateway
    assert instant.get("metadata.labels")["networking.kserve.io/visibility"] == "cluster-local"
    assert instant.get("metadata.annotations")["serving.kserve.io/autoscalerClass"] == "hpa"
    assert instant.get("spec.predictor.scaleMetric") == "cpu"
    assert not [r for r in plan.of_type(DEPLOYMENT) if r.get("metadata.name") in ("embedder", "tagger")]


def test_instant_models_route_through_their_projects_own_gateway_to_their_service(plan: Plan) -> None:
    """KServe would attach its own route to its one global `kserveGateway` (the platform Gateway, port 80
    only): every InferenceService is cluster-local and an `instant` model's HTTPRoute is ModelServing's,
    on the project's Gateway, to KServe's `<name>-predictor` Service or the platform's `<name>` Service."""
    validator = crd_validator("gateway.networking.k8s.io", "HTTPRoute", "v1")
    routes = {r.get("metadata.name"): r for r in plan.of_type("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")}
    assert set(routes) == {"scorer", "tagger", "sketch"}  # progressive models' routes are Flagger's
    for model, backend in (("scorer", "scorer"), ("tagger", "tagger-predictor"), ("sketch", "sketch")):
        spec = routes[model].get("spec")
        assert spec["parentRefs"] == [{"name": PROJECT_GATEWAY, "namespace": NS}]
        assert spec["hostnames"] == [f"{model}.{NS}.{DOMAIN}"]
        assert [b["name"] for b in spec["rules"][0]["backendRefs"]] == [backend]
        assert [e.message for e in validator.iter_errors(as_sent(manifest(routes[model])))] == [], model
        if model != "tagger":
            assert named(plan, SERVICE, model).get("spec.ports")[0]["port"] == spec["rules"][0]["backendRefs"][0][
                "port"]


def test_disruption_budgets_and_scrapes_cover_the_primary_pods_flagger_creates(plan: Plan) -> None:
    """Flagger's `<model>-primary` copy keeps every pod label but the selector's (app.kubernetes.io/name)."""
    dep = named(plan, DEPLOYMENT, "ranker")
    labels = dep.get("spec.template.metadata.labels")
    selector_label = "app.kubernetes.io/name"
    primary = {**labels, selector_label: "ranker-primary"}
    pdb = named(plan, "kubernetes:policy/v1:PodDisruptionBudget", "ranker").get("spec.selector.matchLabels")
    monitor = named(plan, "kubernetes:monitoring.coreos.com/v1:PodMonitor", "ranker").get("spec.selector.matchLabels")
    for selector in (pdb, monitor):
        assert selector.items() <= labels.items() and selector.items() <= primary.items()
    assert selector_label in dep.get("spec.selector.matchLabels")


def test_instant_delivery_keeps_its_service_monitor_and_drift_rules_watch_the_model(plan: Plan) -> None:
    monitor = named(plan, "kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "scorer")
    service = named(plan, SERVICE, "scorer")
    assert monitor.get("spec.selector.matchLabels").items() <= service.get("metadata.labels").items()
    assert monitor.get("spec.endpoints.0.port") == service.get("spec.ports.0.name")
    assert not [r for r in plan.of_type(CANARY) if r.get("metadata.name") in ("scorer", "tagger", "sketch")]
    rule = named(plan, "kubernetes:monitoring.coreos.com/v1:PrometheusRule", "scorer-drift")
    expr = rule.get("spec.groups.0.rules.0.expr")
    assert contract.DRIFT_METRIC in expr and 'model="scorer"' in expr and expr.endswith("> 0.25")
