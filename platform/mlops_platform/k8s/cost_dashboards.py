"""A Grafana cost dashboard per project namespace, from the series OpenCost exports (k8s/opencost.py).

Cost per hour of a namespace = Σ over its containers of allocation × the hourly price of the node the
container runs on (CPU cores, memory GiB, GPUs) plus its claimed volume GiB × the volume's hourly price:
OpenCost's own allocation arithmetic, joined on `node` (or `persistentvolume`). Series names and labels
are OpenCost's (opencost/opencost pkg/costmodel/metrics.go, recorded in
tests/fixtures/upstream/opencost-metrics.json). Every query names the namespace literally, so a tenant's
dashboard shows that tenant only; the dashboard lands in a Grafana folder named after the project.
"""

from __future__ import annotations

import hashlib
from typing import Any

from mlops_platform.k8s.dashboards import Panel, dashboard

HOURS_PER_MONTH = 730  # AWS's billing convention, as in ops/cost.py
GIB = 1073741824
#: Grafana dashboard uids are at most 40 characters.
MAX_UID = 40
#: The Grafana chart's dashboard sidecar files a labelled ConfigMap into the folder this annotation names
#: (grafana 9.0.0 values.yaml `sidecar.dashboards.folderAnnotation`, with provider.foldersFromFilesStructure).
FOLDER_ANNOTATION = "grafana_folder"


def _priced(allocation: str, price: str, on: str, scale: str = "") -> str:
    """Σ allocation × the matching hourly price (many series per `on` value, one price each)."""
    return f"sum({allocation}{scale} * on ({on}) group_left () avg by ({on}) ({price}))"


def hourly_costs(namespace: str) -> dict[str, str]:
    """Resource → PromQL of the namespace's cost per hour, USD."""
    sel = f'{{namespace="{namespace}"}}'
    return {
        "CPU": _priced(f"container_cpu_allocation{sel}", "node_cpu_hourly_cost", "node"),
        "memory": _priced(f"container_memory_allocation_bytes{sel}", "node_ram_hourly_cost", "node", f" / {GIB}"),
        "GPU": _priced(f"container_gpu_allocation{sel}", "node_gpu_hourly_cost", "node"),
        "volumes": _priced(f"pod_pvc_allocation{sel}", "pv_hourly_cost", "persistentvolume", f" / {GIB}"),
    }


def monthly_projection(namespace: str) -> str:
    """The current hourly rate × 730; a resource the namespace does not use counts 0 (not an empty result)."""
    terms = " + ".join(f"({expr} or vector(0))" for expr in hourly_costs(namespace).values())
    return f"{HOURS_PER_MONTH} * ({terms})"


def dashboard_uid(namespace: str) -> str:
    uid = f"mlops-cost-{namespace}"
    if len(uid) <= MAX_UID:
        return uid
    return f"mlops-cost-{hashlib.sha256(namespace.encode()).hexdigest()[:MAX_UID - 11]}"


def tenant_cost_dashboard(project: str, namespace: str) -> dict[str, Any]:
    """The project's cost dashboard: hourly cost per resource, the monthly projection, GPUs and GPU cost by pod."""
    sel = f'{{namespace="{namespace}"}}'
    panels: list[Panel] = [(f"{resource} cost, USD/hour", expr, "currencyUSD")
                           for resource, expr in hourly_costs(namespace).items()]
    panels += [
        ("Projected monthly cost at the current rate, USD", monthly_projection(namespace), "currencyUSD"),
        ("GPUs allocated", f"sum(container_gpu_allocation{sel})", "short"),
        ("GPU cost by pod, USD/hour", "sum by (pod) (container_gpu_allocation" + sel
         + " * on (node) group_left () avg by (node) (node_gpu_hourly_cost))", "currencyUSD"),
        ("CPU cores allocated by pod", f"sum by (pod) (container_cpu_allocation{sel})", "short"),
    ]
    board = dashboard(dashboard_uid(namespace), f"Cost: {project}", panels)
    board["tags"] = [*board["tags"], "cost", f"project:{project}"]
    board["time"] = {"from": "now-7d", "to": "now"}
    return board


def dashboard_exprs(board: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard's panels."""
    return [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]
