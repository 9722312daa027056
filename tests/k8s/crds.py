"""Required structure of the custom resources the platform creates (their CRDs are not in
kubernetes-validate), and rebuilding validatable manifests from recorded plan inputs."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from kubernetes_validate import utils as kv
from mlops_platform.engine import Resource
from mlops_platform.engine.recorder import SECRET

from .upstream import as_sent, crd_validator

DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
#: Core kinds the issue requires to validate against the cluster's OpenAPI schema in strict mode.
CORE_TYPES = {
    "kubernetes:core/v1:Namespace", "kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service",
    "kubernetes:core/v1:ResourceQuota", "kubernetes:core/v1:LimitRange", "kubernetes:core/v1:ServiceAccount",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy", "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    "kubernetes:policy/v1:PodDisruptionBudget", "kubernetes:core/v1:ConfigMap", "kubernetes:core/v1:Secret",
    "kubernetes:storage.k8s.io/v1:StorageClass",
}


# kubernetes-validate re-reads its schema files for every manifest it validates, the 1.5 MB `_definitions.json`
# included (most of a validation's time). Each file is parsed once per process instead: same library, same
# schemas, same checks (`kv.validate` looks the function up at call time; the parsed schemas are never mutated).
kv.schema_contents = functools.cache(kv.schema_contents)


def validate_strictly(obj: dict[str, Any], version: str) -> str:
    """`kubernetes_validate.validate(obj, version, strict=True)`: unknown fields are errors
    (raises `kv.ValidationError`; returns the schema version used)."""
    return kv.validate(obj, version, strict=True)


def manifest(res: Resource) -> dict[str, Any]:
    """The object the provider would send: the recorded inputs (camelCase) are the manifest's fields.
    A masked secret map stays a map so the schema still sees its type."""
    out = dict(res.inputs)
    for key in ("stringData", "data"):
        if out.get(key) == SECRET:
            out[key] = {"masked": SECRET}
    return out


def _need(cond: bool, problem: str, problems: list[str]) -> None:
    if not cond:
        problems.append(problem)


def prometheus_rule(spec: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    groups = spec.get("groups")
    _need(isinstance(groups, list) and bool(groups), "spec.groups must be a non-empty list", problems)
    for g, group in enumerate(groups or []):
        _need(bool(group.get("name")), f"groups[{g}].name missing", problems)
        rules = group.get("rules")
        _need(isinstance(rules, list) and bool(rules), f"groups[{g}].rules must be a non-empty list", problems)
        for r, rule in enumerate(rules or []):
            where = f"groups[{g}].rules[{r}]"
            _need(("alert" in rule) != ("record" in rule), f"{where}: exactly one of alert/record", problems)
            _need(isinstance(rule.get("expr"), str) and bool(rule["expr"].strip()), f"{where}: expr", problems)
            _need(DURATION.match(str(rule.get("for", "0s"))) is not None, f"{where}: for is a duration", problems)
            _need(rule.get("labels", {}).get("severity") in ("info", "warning", "critical"),
                  f"{where}: labels.severity", problems)
            _need(all(isinstance(v, str) for v in rule.get("annotations", {}).values()),
                  f"{where}: annotations are strings", problems)
    return problems


def service_monitor(spec: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    _need(bool(spec.get("selector", {}).get("matchLabels")), "spec.selector.matchLabels must select", problems)
    ns = spec.get("namespaceSelector", {})
    _need(ns.get("any") is True or bool(ns.get("matchNames")), "spec.namespaceSelector: any or matchNames",
          problems)
    endpoints = spec.get("endpoints")
    _need(isinstance(endpoints, list) and bool(endpoints), "spec.endpoints must be a non-empty list", problems)
    for i, ep in enumerate(endpoints or []):
        _need(("port" in ep) != ("targetPort" in ep), f"endpoints[{i}]: exactly one of port/targetPort", problems)
        _need(DURATION.match(str(ep.get("interval", "30s"))) is not None, f"endpoints[{i}].interval", problems)
    return problems


def inference_service(spec: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    pred = spec.get("predictor") or {}
    containers = pred.get("containers") or []
    _need(len(containers) == 1 and containers[0].get("name") == "kserve-container",
          "predictor.containers: one container named kserve-container", problems)
    _need(all(c.get("image") for c in containers), "predictor.containers[].image", problems)
    _need(1 <= pred.get("minReplicas", 1) <= pred.get("maxReplicas", 1), "1 <= minReplicas <= maxReplicas",
          problems)
    pct = pred.get("canaryTrafficPercent")
    _need(pct is None or 0 <= pct <= 100, "canaryTrafficPercent in 0..100", problems)
    return problems


def pod_monitor(spec: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    _need(bool(spec.get("selector", {}).get("matchLabels")), "spec.selector.matchLabels must select", problems)
    _need(bool(spec.get("namespaceSelector", {}).get("matchNames")), "spec.namespaceSelector.matchNames", problems)
    endpoints = spec.get("podMetricsEndpoints")
    _need(isinstance(endpoints, list) and bool(endpoints), "spec.podMetricsEndpoints must be non-empty", problems)
    for i, ep in enumerate(endpoints or []):
        _need(bool(ep.get("port")), f"podMetricsEndpoints[{i}].port names the container port", problems)
        _need(DURATION.match(str(ep.get("interval", "30s"))) is not None, f"podMetricsEndpoints[{i}].interval",
              problems)
    return problems


def _published(group: str, kind: str, version: str) -> Callable[[dict[str, Any]], list[str]]:
    """A check by the kind's published CRD schema (tests/fixtures/upstream/crds), on the spec as sent."""
    def check(spec: dict[str, Any]) -> list[str]:
        obj = {"apiVersion": f"{group}/{version}", "kind": kind, "metadata": {"name": "x"}, "spec": as_sent(spec)}
        errors = crd_validator(group, kind, version).iter_errors(obj)
        return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors]
    return check


def gateway(spec: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    _need(bool(spec.get("gatewayClassName")), "spec.gatewayClassName", problems)
    listeners = spec.get("listeners") or []
    _need(bool(listeners), "spec.listeners must be non-empty", problems)
    _need(all({"name", "protocol", "port"} <= set(ls) for ls in listeners), "listeners need name/protocol/port",
          problems)
    return problems


def gateway_class(spec: dict[str, Any]) -> list[str]:
    return [] if spec.get("controllerName") else ["spec.controllerName"]


CHECKS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "kubernetes:monitoring.coreos.com/v1:PrometheusRule": prometheus_rule,
    "kubernetes:monitoring.coreos.com/v1:ServiceMonitor": service_monitor,
    "kubernetes:serving.kserve.io/v1beta1:InferenceService": inference_service,
    "kubernetes:gateway.networking.k8s.io/v1:Gateway": gateway,
    "kubernetes:gateway.networking.k8s.io/v1:GatewayClass": gateway_class,
    "kubernetes:monitoring.coreos.com/v1:PodMonitor": pod_monitor,
    "kubernetes:flagger.app/v1beta1:Canary": _published("flagger.app", "Canary", "v1beta1"),
    "kubernetes:flagger.app/v1beta1:MetricTemplate": _published("flagger.app", "MetricTemplate", "v1beta1"),
    "kubernetes:keda.sh/v1alpha1:ScaledObject": _published("keda.sh", "ScaledObject", "v1alpha1"),
}


def custom_resource_problems(res: Resource) -> list[str]:
    problems = [f"{field} missing" for field in ("apiVersion", "kind", "metadata", "spec") if field not in res.inputs]
    if not res.get("metadata.name"):
        problems.append("metadata.name missing")
    check = CHECKS.get(res.type)
    if check is None:
        return [*problems, f"no structure check for {res.type}"]
    return problems + check(res.inputs.get("spec") or {})
