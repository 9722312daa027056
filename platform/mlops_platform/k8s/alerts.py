"""The alert rules the platform ships, as PrometheusRule groups built from typed thresholds.

Metric names are the ones the exporters and the project template really expose: DCGM exporter
(`DCGM_FI_*`), kube-state-metrics, cluster-autoscaler, and the template's model server
(`predict_latency_seconds`, `predict_requests_total`) and drift monitor (`contract.DRIFT_METRIC`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlops_platform.core import contract

#: Metrics of the project template's model server (serve.py); the serving alerts and dashboard use them.
SERVING_LATENCY_METRIC = "predict_latency_seconds"
SERVING_REQUESTS_METRIC = "predict_requests_total"
#: Request outcomes that are not server failures (client errors are the caller's problem).
SERVING_OK_OUTCOMES = "ok|invalid"
RUNBOOK = "docs/kubernetes-layer.md#alerts"

Rule = dict[str, Any]


@dataclass(frozen=True)
class AlertThresholds:
    gpu_idle_minutes: int = 30
    gpu_pending_minutes: int = 15
    serving_latency_p99_ms: int = 500
    serving_error_rate_pct: float = 1.0
    drift_threshold: float = contract.DEFAULT_DRIFT_THRESHOLD


def alert(name: str, expr: str, for_: str, severity: str, summary: str, description: str) -> Rule:
    return {"alert": name, "expr": expr, "for": for_,
            "labels": {"severity": severity, "platform": "mlops"},
            "annotations": {"summary": summary, "description": description, "runbook_url": RUNBOOK}}


def gpu_rules(t: AlertThresholds) -> list[Rule]:
    pending = ('sum by (namespace, pod) (kube_pod_container_resource_requests{resource="nvidia_com_gpu"}) > 0 '
               'and on (namespace, pod) (kube_pod_status_phase{phase="Pending"} == 1)')
    return [
        alert("GpuIdleWhileNodeRunning",
              "max by (Hostname, modelName) (avg_over_time(DCGM_FI_DEV_GPU_UTIL[10m])) < 5",
              f"{t.gpu_idle_minutes}m", "warning", "GPU node {{ $labels.Hostname }} is idle but running",
              "GPUs on the node stayed under 5% utilisation; the node costs money without work. Check for "
              "finished jobs that still hold the GPU, or lower the pool's min size."),
        alert("GpuPodPendingTooLong", pending, f"{t.gpu_pending_minutes}m", "warning",
              "GPU pod {{ $labels.namespace }}/{{ $labels.pod }} cannot be scheduled",
              "A pod requesting nvidia.com/gpu stays Pending: check its toleration of the nvidia.com/gpu "
              "taint, its node selector against the pool labels, the namespace GPU quota, pool max size and "
              "the account's GPU instance quota."),
        alert("GpuXidError", "max by (Hostname, gpu, modelName) (DCGM_FI_DEV_XID_ERRORS) > 0", "0m", "critical",
              "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} reported XID {{ $value }}",
              "The driver reported an XID error (hardware or driver fault). Drain the node and let the "
              "autoscaler replace it if the error repeats."),
    ]


def serving_rules(t: AlertThresholds) -> list[Rule]:
    p99 = (f"histogram_quantile(0.99, sum by (namespace, service, le) "
           f"(rate({SERVING_LATENCY_METRIC}_bucket[5m]))) > {t.serving_latency_p99_ms / 1000:g}")
    errors = (f'100 * sum by (namespace, service) (rate({SERVING_REQUESTS_METRIC}{{outcome!~"{SERVING_OK_OUTCOMES}"}}'
              f'[5m])) / sum by (namespace, service) (rate({SERVING_REQUESTS_METRIC}[5m])) > '
              f"{t.serving_error_rate_pct:g}")
    return [
        alert("ModelServingLatencySloBreached", p99, "10m", "warning",
              "{{ $labels.namespace }}/{{ $labels.service }} p99 latency above "
              f"{t.serving_latency_p99_ms} ms", "Prediction p99 latency breaks the serving SLO."),
        alert("ModelServingErrorRateHigh", errors, "10m", "critical",
              "{{ $labels.namespace }}/{{ $labels.service }} fails more than "
              f"{t.serving_error_rate_pct:g}% of requests", "Server-side prediction failures exceed the SLO."),
    ]


def drift_expr(threshold: float, selector: str = "") -> str:
    """PSI of any feature of any model above `threshold` (`selector` narrows it, e.g. to one model)."""
    labels = ",".join(x for x in ('method="psi"', selector) if x)
    return f"max by (namespace, model, feature) ({contract.DRIFT_METRIC}{{{labels}}}) > {threshold:g}"


DRIFT_ALERT = "ModelDriftHigh"


def drift_rule(threshold: float, selector: str = "", name: str = DRIFT_ALERT) -> Rule:
    return alert(name, drift_expr(threshold, selector), "30m", "warning",
                 "Model {{ $labels.model }} feature {{ $labels.feature }} drifted (PSI {{ $value }})",
                 f"Population stability index above {threshold:g} for 30 minutes: inputs no longer look like "
                 "the training data. Projects with pipelines retrain automatically; compare with the baseline.")


#: Label an AlertmanagerConfig carries to be merged into the platform's Alertmanager (monitoring.py selects it).
ALERTMANAGER_CONFIG_LABEL = ("mlops.io/alertmanager-config", "true")


def drift_to_platform_route() -> dict[str, Any]:
    """The drift alert of every project to the platform receiver. Projects' own AlertmanagerConfig routes
    (retrain) come before it and `continue`, so people still see the alert after the retrain webhook."""
    return {"receiver": "platform", "matchers": [f'alertname = "{DRIFT_ALERT}"']}


def retrain_alertmanager_config(namespace: str, cooldown_minutes: int) -> dict[str, Any]:
    """Spec of a project's AlertmanagerConfig (monitoring.coreos.com/v1alpha1): its drift alert goes to its
    retrain webhook at most once per cool-down (group and repeat interval). The Prometheus Operator adds the
    `namespace="<project>"` matcher itself (alertmanagerConfigMatcherStrategy OnNamespace), so a project's
    config can only ever route its own alerts."""
    every = f"{cooldown_minutes}m"
    return {"route": {"receiver": "retrain", "groupBy": ["alertname", "namespace"], "groupWait": "30s",
                      "groupInterval": every, "repeatInterval": every,
                      "matchers": [{"name": "alertname", "value": DRIFT_ALERT, "matchType": "="}]},
            "receivers": [{"name": "retrain", "webhookConfigs": [{
                "url": contract.drift_webhook_url(namespace), "sendResolved": False, "maxAlerts": 1}]}]}


def autoscaler_rules() -> list[Rule]:
    return [
        alert("ClusterAutoscalerScaleUpFailed", "increase(cluster_autoscaler_failed_scale_ups_total[15m]) > 0",
              "0m", "warning", "cluster-autoscaler failed to scale up",
              "A node group could not grow (instance quota, capacity or spot interruption)."),
        alert("ClusterAutoscalerErrors", "increase(cluster_autoscaler_errors_total[15m]) > 0", "5m", "warning",
              "cluster-autoscaler reports errors", "The autoscaler loop is failing; check its logs and IAM role."),
        alert("ClusterAutoscalerUnschedulablePods", "max(cluster_autoscaler_unschedulable_pods_count) > 0",
              "15m", "warning", "Pods stay unschedulable although the autoscaler runs",
              "No node group can fit the pending pods (selector, taint, size or max reached)."),
    ]


def platform_rule_groups(t: AlertThresholds) -> dict[str, list[Rule]]:
    """Group name -> rules; one PrometheusRule per group."""
    return {"gpu": gpu_rules(t), "serving": serving_rules(t), "drift": [drift_rule(t.drift_threshold)],
            "autoscaler": autoscaler_rules()}
