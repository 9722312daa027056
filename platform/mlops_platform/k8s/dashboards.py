"""Grafana dashboards as code: GPU fleet, model serving, drift (provisioned by the Grafana sidecar)."""

from __future__ import annotations

from typing import Any

from mlops_platform.core import contract
from mlops_platform.k8s.alerts import SERVING_LATENCY_METRIC, SERVING_REQUESTS_METRIC

Panel = tuple[str, str, str]  # (title, PromQL, unit)


def dashboard(uid: str, title: str, panels: list[Panel]) -> dict[str, Any]:
    """A Grafana dashboard of time-series panels, two per row."""
    return {
        "uid": uid, "title": title, "tags": ["mlops-platform"], "schemaVersion": 39, "version": 1,
        "editable": False, "time": {"from": "now-6h", "to": "now"}, "refresh": "1m",
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]},
        "panels": [
            {"id": i + 1, "type": "timeseries", "title": ptitle,
             "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
             "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
             "targets": [{"refId": "A", "expr": expr, "legendFormat": "__auto"}]}
            for i, (ptitle, expr, unit) in enumerate(panels)],
    }


def gpu_fleet() -> dict[str, Any]:
    return dashboard("mlops-gpu-fleet", "GPU fleet", [
        ("GPU utilisation by node", "avg by (Hostname, modelName) (DCGM_FI_DEV_GPU_UTIL)", "percent"),
        ("GPU memory used", "sum by (Hostname) (DCGM_FI_DEV_FB_USED)", "decmbytes"),
        ("GPUs allocatable", 'sum(kube_node_status_allocatable{resource="nvidia_com_gpu"})', "short"),
        ("GPUs requested by namespace",
         'sum by (namespace) (kube_pod_container_resource_requests{resource="nvidia_com_gpu"})', "short"),
        ("Pending GPU pods", 'count(kube_pod_container_resource_requests{resource="nvidia_com_gpu"} '
                             'and on (namespace, pod) (kube_pod_status_phase{phase="Pending"} == 1))', "short"),
        ("XID errors", "max by (Hostname, gpu) (DCGM_FI_DEV_XID_ERRORS)", "short"),
    ])


def model_serving() -> dict[str, Any]:
    return dashboard("mlops-model-serving", "Model serving", [
        ("Requests per second", f"sum by (namespace, service) (rate({SERVING_REQUESTS_METRIC}[5m]))", "reqps"),
        ("p99 latency", f"histogram_quantile(0.99, sum by (namespace, service, le) "
                        f"(rate({SERVING_LATENCY_METRIC}_bucket[5m])))", "s"),
        ("Outcomes", f"sum by (namespace, service, outcome) (rate({SERVING_REQUESTS_METRIC}[5m]))", "reqps"),
        ("Replicas", "sum by (namespace, horizontalpodautoscaler) "
                     "(kube_horizontalpodautoscaler_status_current_replicas)", "short"),
    ])


def drift() -> dict[str, Any]:
    return dashboard("mlops-drift", "Model drift", [
        ("PSI by feature", f'max by (namespace, model, feature) ({contract.DRIFT_METRIC}{{method="psi"}})', "short"),
        ("KS statistic by feature", f'max by (namespace, model, feature) ({contract.DRIFT_METRIC}{{method="ks"}})',
         "short"),
    ])


def platform_dashboards() -> dict[str, dict[str, Any]]:
    """ConfigMap name -> dashboard."""
    return {"dashboard-gpu-fleet": gpu_fleet(), "dashboard-model-serving": model_serving(),
            "dashboard-drift": drift()}
