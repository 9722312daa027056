"""Progressive delivery of a model server with Flagger: the strategies, the analysis thresholds (typed and
validated here, pure), and the `MetricTemplate` and `Canary` manifests `ModelServing` creates.

Flagger (Gateway API provider, `gatewayapi:v1`) owns the model's HTTPRoute: it routes `<name>.<ns>.<domain>`
through the project's own Gateway to `<service>-primary` (the stable version) and `<service>-canary` (the new
one) and moves traffic by the strategy while its analysis queries the platform's Prometheus:

- `canary`: weighted HTTPRoute backends, `step_weight` more each interval up to `max_weight`, then promotion;
- `blue-green`: the new version gets no user traffic, `iterations` analysis rounds, then a 100 % switch;
- `mirror`: blue-green whose rounds see a copy of every request (Gateway API `RequestMirror` filter on the
  route; responses of the mirror are discarded): fluxcd/flagger v1.44.0 pkg/router/gateway_api.go adds
  the filter when `analysis.mirror` is set and `iterations` > 0; it mirrors all requests (the Gateway API
  router does not read `mirrorWeight`).

A check that fails `threshold` times rolls back: traffic returns to the primary, which never stopped serving.
Webhooks (`CanaryWebhook`, docs.flagger.app/usage/webhooks) add load tests, smoke tests and approvals to the
analysis; Flagger calls them from its own pod, so their URLs are confined (core.webhook_urls).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mlops_platform.core import contract, webhook_urls
from mlops_platform.core.errors import ConfigIssue
from mlops_platform.k8s.alerts import SERVING_LATENCY_METRIC, SERVING_OK_OUTCOMES, SERVING_REQUESTS_METRIC

CANARY_API = "flagger.app/v1beta1"


class DeliveryStrategy(StrEnum):
    CANARY = "canary"  # weighted HTTPRoute steps with analysis at each step
    BLUE_GREEN = "blue-green"  # analysis rounds on the idle new version, then a full switch
    MIRROR = "mirror"  # blue-green with every request mirrored to the new version (shadow traffic)
    INSTANT = "instant"  # a plain rolling update: no analysis, no rollback (refused in prod)


PROGRESSIVE = frozenset({DeliveryStrategy.CANARY, DeliveryStrategy.BLUE_GREEN, DeliveryStrategy.MIRROR})


@dataclass(frozen=True, kw_only=True)
class AnalysisThresholds:
    """When Flagger promotes a new model version, and when it rolls it back. Defaults are the template's
    (copier.yml `analysis_*` answers)."""

    interval_seconds: int = 60
    """Seconds between analysis checks (30-600). Default: 60."""
    failed_checks: int = 5
    """Failed checks that roll back (1-20). Default: 5."""
    max_error_rate_pct: float = 1.0
    """Highest share of server-side failures (outcome not ok/invalid), percent (0-100]. Default: 1.0."""
    max_latency_p95_ms: int = 300
    """Highest p95 of `predict_latency_seconds`, ms (>= 1). Default: 300."""
    max_latency_p99_ms: int = 500
    """Highest p99, ms (>= max_latency_p95_ms). Default: 500."""
    max_drift: float | None = None
    """Highest PSI of any input feature (the template exports contract.DRIFT_METRIC), > 0; None: no drift
    check. Default: None."""
    step_weight: int = 10
    """Canary: traffic percent added per passed check (1-50). Default: 10."""
    max_weight: int = 50
    """Canary: traffic percent at which the canary is promoted (step_weight-100). Default: 50."""
    iterations: int = 10
    """Blue-green and mirror: passed checks before the switch (1-100). Default: 10."""


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int_in(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


#: field -> (low, high) of the integer thresholds
_INT_BOUNDS = {"interval_seconds": (30, 600), "failed_checks": (1, 20), "max_latency_p95_ms": (1, 60_000),
               "max_latency_p99_ms": (1, 60_000), "step_weight": (1, 50), "max_weight": (1, 100),
               "iterations": (1, 100)}


def threshold_issues(t: AnalysisThresholds, prefix: str = "analysis") -> list[ConfigIssue]:
    """Every problem of the thresholds at once, each naming `<prefix>.<field>`."""
    out = [ConfigIssue(f"{prefix}.{f}", "out of range", getattr(t, f), f"an integer from {low} to {high}")
           for f, (low, high) in _INT_BOUNDS.items() if not _int_in(getattr(t, f), low, high)]
    if not (_number(t.max_error_rate_pct) and 0 < t.max_error_rate_pct <= 100):
        out.append(ConfigIssue(f"{prefix}.max_error_rate_pct", "must be a percentage above 0", t.max_error_rate_pct,
                               "e.g. 1.0 (at most 1 % of requests fail)"))
    if t.max_drift is not None and not (_number(t.max_drift) and t.max_drift > 0):
        out.append(ConfigIssue(f"{prefix}.max_drift", "must be a number above 0, or None", t.max_drift,
                               f"e.g. {contract.DEFAULT_DRIFT_THRESHOLD}, or None for no drift check"))
    if not out and t.max_latency_p99_ms < t.max_latency_p95_ms:
        out.append(ConfigIssue(f"{prefix}.max_latency_p99_ms", f"below max_latency_p95_ms {t.max_latency_p95_ms}",
                               t.max_latency_p99_ms, "a p99 bound is at least the p95 bound; raise it"))
    if not out and t.max_weight < t.step_weight:
        out.append(ConfigIssue(f"{prefix}.max_weight", f"below step_weight {t.step_weight}", t.max_weight,
                               "raise max_weight or lower step_weight"))
    return out


#: Pods of the Deployment Flagger analyses (`<target>-<replicaset hash>-<pod hash>`), not its
#: `<target>-primary-...` copy: Prometheus anchors the regex, so `primary` cannot stand for the hash.
CANARY_PODS = 'namespace="{{ namespace }}", pod=~"{{ target }}-[0-9a-zA-Z]+-[0-9a-zA-Z]+"'


def _quantile_ms(q: float) -> str:
    return (f"1000 * histogram_quantile({q}, sum by (le) (rate({SERVING_LATENCY_METRIC}_bucket"
            f"{{{CANARY_PODS}}}[{{{{ interval }}}}])))")


def metric_queries(model: str, drift: bool) -> dict[str, str]:
    """MetricTemplate name suffix -> PromQL over the template's model server metrics (serve.py). A labelled
    counter has no series for an outcome that never happened, so no failure reads as 0 failures; no traffic
    at all leaves the error rate and latencies without a value, which Flagger counts as a failed check: a
    version nobody called is not promoted. Drift is measured after a window of inputs: none yet reads as 0."""
    errors = f'{SERVING_REQUESTS_METRIC}{{{CANARY_PODS}, outcome!~"{SERVING_OK_OUTCOMES}"}}'
    total = f"{SERVING_REQUESTS_METRIC}{{{CANARY_PODS}}}"
    window = "[{{ interval }}]"
    queries = {"error-rate": f"100 * (sum(rate({errors}{window})) or on() vector(0)) / sum(rate({total}{window}))",
               "latency-p95": _quantile_ms(0.95), "latency-p99": _quantile_ms(0.99)}
    if drift:
        queries["drift"] = (f'max({contract.DRIFT_METRIC}{{{CANARY_PODS}, model="{model}", method="psi"}}) '
                            "or on() vector(0)")
    return queries


def metric_template_spec(query: str, prometheus_url: str) -> dict[str, Any]:
    return {"provider": {"type": "prometheus", "address": prometheus_url}, "query": query}


def analysis_metrics(template_names: dict[str, str], t: AnalysisThresholds) -> list[dict[str, Any]]:
    """The Canary's `analysis.metrics`, each a MetricTemplate with its upper bound."""
    bounds: dict[str, float | None] = {"error-rate": t.max_error_rate_pct, "latency-p95": t.max_latency_p95_ms,
                                       "latency-p99": t.max_latency_p99_ms, "drift": t.max_drift}
    return [{"name": key, "templateRef": {"name": template}, "thresholdRange": {"max": bounds[key]},
             "interval": f"{t.interval_seconds}s"} for key, template in template_names.items()]


class WebhookType(StrEnum):
    """When Flagger calls a webhook (docs.flagger.app/usage/webhooks; the v1beta1 CRD's enum)."""

    CONFIRM_ROLLOUT = "confirm-rollout"  # before scaling up the new version: a manual gate
    PRE_ROLLOUT = "pre-rollout"  # before any traffic: smoke tests
    ROLLOUT = "rollout"  # every analysis round, before the metric checks: load tests
    CONFIRM_TRAFFIC_INCREASE = "confirm-traffic-increase"  # before each weight step
    CONFIRM_PROMOTION = "confirm-promotion"  # before promotion
    POST_ROLLOUT = "post-rollout"  # after promotion or rollback (failures only logged)
    ROLLBACK = "rollback"  # polled during analysis: a 2xx rolls back
    EVENT = "event"  # every event Flagger emits for the Canary


@dataclass(frozen=True, kw_only=True)
class CanaryWebhook:
    """A hook Flagger calls during a release (`spec.analysis.webhooks[]`)."""

    name: str
    """Unique name of the hook within the Canary. Required."""
    url: str
    """What Flagger calls: a Service of the project's namespace,
    `http://<service>.<namespace>.svc.cluster.local/...` (e.g. the Flagger loadtester), or an external https
    URL when the platform allows external webhooks (core.webhook_urls). Required."""
    type: WebhookType = WebhookType.ROLLOUT
    """When it is called. Default: rollout (each analysis round)."""
    timeout_seconds: int = 30
    """Seconds Flagger waits for an answer (1-600). Default: 30."""
    metadata: dict[str, str] = field(default_factory=dict)
    """String payload Flagger posts (the loadtester reads `cmd`, `type`). Default: none."""


def webhook_issues(hooks: tuple[CanaryWebhook, ...], *, namespace: str, allow_external: bool,
                   prefix: str = "webhooks") -> list[ConfigIssue]:
    """Every problem of the webhooks at once, each naming `<prefix>[i].<field>`."""
    out: list[ConfigIssue] = []
    names = [h.name for h in hooks if isinstance(h, CanaryWebhook)]
    for i, hook in enumerate(hooks):
        at = f"{prefix}[{i}]"
        if not isinstance(hook, CanaryWebhook):
            out.append(ConfigIssue(at, "not a CanaryWebhook", hook, "pass CanaryWebhook(name=..., url=...)"))
            continue
        problem = webhook_urls.url_problem(hook.url, namespace=namespace, allow_external=allow_external)
        if problem:
            out.append(ConfigIssue(f"{at}.url", problem, hook.url,
                                   webhook_urls.url_fix(namespace, allow_external=allow_external)))
        if not (isinstance(hook.name, str) and hook.name.strip()) or names.count(hook.name) > 1:
            out.append(ConfigIssue(f"{at}.name", "must be a non-empty name used once", hook.name, "rename the hook"))
        if hook.type not in {w.value for w in WebhookType}:
            out.append(ConfigIssue(f"{at}.type", "unknown choice", hook.type, "one of " + ", ".join(WebhookType)))
        if not _int_in(hook.timeout_seconds, 1, 600):
            out.append(ConfigIssue(f"{at}.timeout_seconds", "out of range", hook.timeout_seconds,
                                   "an integer from 1 to 600"))
        if not (isinstance(hook.metadata, dict) and all(isinstance(v, str) for v in hook.metadata.values())):
            out.append(ConfigIssue(f"{at}.metadata", "must map names to strings (the CRD's type)", hook.metadata,
                                   'quote the values, e.g. {"cmd": "hey -z 1m http://..."}'))
    return out


def webhook_spec(hook: CanaryWebhook) -> dict[str, Any]:
    """One `analysis.webhooks[]` entry; TLS is always verified (the CRD's `disableTLS` is never set)."""
    out: dict[str, Any] = {"name": hook.name, "type": str(hook.type), "url": hook.url,
                           "timeout": f"{hook.timeout_seconds}s"}
    return {**out, "metadata": dict(hook.metadata)} if hook.metadata else out


def analysis(strategy: DeliveryStrategy, t: AnalysisThresholds, metrics: list[dict[str, Any]],
             webhooks: tuple[CanaryWebhook, ...] = ()) -> dict[str, Any]:
    """`spec.analysis` of the strategy (the CRD's oneOf: `stepWeight` or `iterations`)."""
    out: dict[str, Any] = {"interval": f"{t.interval_seconds}s", "threshold": t.failed_checks, "metrics": metrics}
    if webhooks:
        out["webhooks"] = [webhook_spec(h) for h in webhooks]
    if strategy is DeliveryStrategy.CANARY:
        return {**out, "stepWeight": t.step_weight, "maxWeight": t.max_weight}
    out["iterations"] = t.iterations
    if strategy is DeliveryStrategy.MIRROR:
        out["mirror"] = True
    return out


@dataclass(frozen=True, kw_only=True)
class CanaryTarget:
    """What a Canary points at: the Deployment it analyses, the autoscaler it copies, the route it owns."""

    deployment: str
    """The Deployment Flagger watches (ModelServing's, or the one KServe creates). Required."""
    service: str
    """Name of the Services and HTTPRoute Flagger creates (`<service>`, `-primary`, `-canary`). Required."""
    autoscaler: dict[str, Any]
    """`autoscalerRef` (apiVersion, kind, name, primary queries) of the HPA or KEDA ScaledObject. Required."""
    host: str
    """The model's host on the gateway. Required."""
    gateway: dict[str, str]
    """`parentRef` of the project's own Gateway (name, namespace: project_gateway.parent_ref). Required."""
    port: int
    """Container port the Services target. Required."""
    min_replicas: int
    """Floor of the primary's autoscaler. Required."""
    max_replicas: int
    """Ceiling of the primary's autoscaler. Required."""
    labels: dict[str, str]
    """Labels of the Services Flagger creates. Required."""


#: Seconds a new version may take to become ready before Flagger rolls back (GPU nodes and model loads).
PROGRESS_DEADLINE_SECONDS = 900


def canary_spec(target: CanaryTarget, analysis_: dict[str, Any]) -> dict[str, Any]:
    """`spec` of the Flagger Canary (flagger.app/v1beta1) for the Gateway API provider."""
    return {
        "provider": "gatewayapi:v1",
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target.deployment},
        "autoscalerRef": {**target.autoscaler, "primaryScalerReplicas": {
            "minReplicas": target.min_replicas, "maxReplicas": target.max_replicas}},
        "progressDeadlineSeconds": PROGRESS_DEADLINE_SECONDS,
        "service": {"name": target.service, "port": 80, "targetPort": target.port, "portName": "http",
                    "gatewayRefs": [dict(target.gateway)], "hosts": [target.host],
                    **{role: {"labels": dict(target.labels)} for role in ("apex", "primary", "canary")}},
        "analysis": analysis_,
    }
