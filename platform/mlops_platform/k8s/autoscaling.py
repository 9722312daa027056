"""Autoscaling of a model server on the signal that matters: CPU for CPU servers (an HPA), and for GPU
servers in-flight requests or GPU utilisation (a KEDA ScaledObject with Prometheus triggers), since a GPU
server saturates its GPU long before its CPU. Pure manifests; `ModelServing` creates them.

Metric names are what the exporters really expose: `predict_requests_in_flight` is the template's model
server gauge (serve.py), `DCGM_FI_DEV_GPU_UTIL` the platform's dcgm-exporter (chart 4.1.1, default
counters). The platform's ServiceMonitor scrapes dcgm-exporter with `honorLabels` (monitoring.py), so its
series keep the `namespace`/`pod` of the pod using each GPU, the same matchers as every other query here
(and the ones the admission policy `metric_isolation` requires of a project's queries).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from mlops_platform.k8s.monitoring import PROMETHEUS_URL

KEDA_API = "keda.sh/v1alpha1"
IN_FLIGHT_METRIC = "predict_requests_in_flight"
GPU_UTIL_METRIC = "DCGM_FI_DEV_GPU_UTIL"
#: Dev scale-to-zero keeps replicas during these hours (KEDA cron trigger) and lets them go outside:
#: a server at zero exports no in-flight gauge, so nothing inside the cluster would ever wake it.
WORKING_HOURS = ("0 8 * * 1-5", "0 19 * * 1-5")


class ScaleSignal(StrEnum):
    CPU = "cpu"  # HorizontalPodAutoscaler on CPU utilisation (CPU servers)
    IN_FLIGHT = "in-flight"  # KEDA: requests being served per replica (the server's own gauge)
    GPU_UTILIZATION = "gpu-utilization"  # KEDA: mean DCGM GPU utilisation of the server's pods


def hpa_spec(deployment: str, min_replicas: int, max_replicas: int, target_cpu: int) -> dict[str, Any]:
    return {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
            "minReplicas": min_replicas, "maxReplicas": max_replicas,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": target_cpu}}}],
            # GPU pods are slow to start: scale down only after 5 calm minutes
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}}}


def signal_query(signal: ScaleSignal, namespace: str, deployment: str, primary: bool = False) -> tuple[str, str]:
    """(PromQL, metricType) of a KEDA Prometheus trigger over the pods of `deployment` (with `primary`, of
    Flagger's `<deployment>-primary` copy). In-flight is a total that KEDA divides by the replicas
    (AverageValue); GPU utilisation is already a per-GPU mean (Value). Prometheus anchors the regex, so
    `<deployment>-<rs>-<pod>` never takes the primary's `<deployment>-primary-<rs>-<pod>`, nor another
    model's `<deployment>-x-<rs>-<pod>`."""
    pods = f"{deployment}-primary" if primary else deployment
    own = f"{pods}-[0-9a-zA-Z]+-[0-9a-zA-Z]+"
    if signal is ScaleSignal.IN_FLIGHT:
        return f'sum({IN_FLIGHT_METRIC}{{namespace="{namespace}", pod=~"{own}"}})', "AverageValue"
    return f'avg({GPU_UTIL_METRIC}{{namespace="{namespace}", pod=~"{own}"}})', "Value"


def scaled_object_spec(*, deployment: str, namespace: str, signal: ScaleSignal, target: int,
                       min_replicas: int, max_replicas: int, scale_to_zero: bool = False,
                       timezone: str = "UTC") -> dict[str, Any]:
    """`spec` of a KEDA ScaledObject scaling `deployment` on `signal` (`target` per replica: requests,
    or percent GPU utilisation)."""
    query, metric_type = signal_query(signal, namespace, deployment)
    triggers: list[dict[str, Any]] = [{
        "type": "prometheus", "metricType": metric_type, "name": signal.value,
        "metadata": {"serverAddress": PROMETHEUS_URL, "query": query, "threshold": str(target),
                     # an empty result (a fresh server, no GPU sample yet) is 0, not a scaler error
                     "ignoreNullValues": "true"}}]
    if scale_to_zero:
        start, end = WORKING_HOURS
        triggers.append({"type": "cron", "name": "working-hours", "metadata": {
            "timezone": timezone, "start": start, "end": end, "desiredReplicas": str(min_replicas)}})
    return {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
            "minReplicaCount": 0 if scale_to_zero else min_replicas, "maxReplicaCount": max_replicas,
            "pollingInterval": 15,
            # GPU pods are slow to start: scale down only after 5 calm minutes
            "cooldownPeriod": 300,
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {
                "scaleDown": {"stabilizationWindowSeconds": 300}}}},
            "triggers": triggers}


def autoscaler_ref(signal: ScaleSignal, name: str, namespace: str, deployment: str) -> dict[str, Any]:
    """Flagger `autoscalerRef` (kinds HorizontalPodAutoscaler and ScaledObject: the v1.44.0 Canary CRD enum).
    For a ScaledObject, the primary's query is given (`primaryScalerQueries`, by trigger name): Flagger's
    default rewrites every occurrence of the target's name in the query, the namespace's too when a model is
    named like its namespace (fluxcd/flagger v1.44.0 pkg/canary/scaled_object_reconciler.go)."""
    if signal is ScaleSignal.CPU:
        return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": name}
    query, _ = signal_query(signal, namespace, deployment, primary=True)
    return {"apiVersion": KEDA_API, "kind": "ScaledObject", "name": name,
            "primaryScalerQueries": {signal.value: query}}
