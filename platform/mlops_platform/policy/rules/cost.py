"""Cost allocation: OpenCost's per-namespace series reach the tenants' dashboards intact, and the cluster's
cost data is not served without authentication.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

from mlops_platform.policy.config import PolicySettings, Severity
from mlops_platform.policy.registry import Area, OnUnknown, resource_policy
from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.graph import Res
from mlops_platform.policy.sdk.values import Defer, fmt, is_unknown

#: Chart of the OpenCost Helm release (opencost/opencost-helm-chart charts/opencost).
OPENCOST_CHART = "opencost"
#: Values that switch on an OpenCost endpoint, with the chart 2.5.17 default (values.yaml: both on).
OPEN_ENDPOINTS = {"opencost.ui.enabled": "the cost UI", "opencost.mcp.enabled": "the MCP (AI agent) server"}


Judge = Callable[[Res], Iterator[str | Defer]]


def _opencost_only(judge: Judge) -> Callable[[Res, PolicySettings], Iterator[str | Defer]]:
    """A release check that judges OpenCost releases only (deferred while the chart is unknown)."""
    @functools.wraps(judge)
    def check(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
        chart = res.get("chart")
        if is_unknown(chart):
            yield Defer("chart")
        elif isinstance(chart, str) and chart.rsplit("/", 1)[-1] == OPENCOST_CHART:
            yield from judge(res)
    return check


@resource_policy(
    name="opencost-keeps-workload-labels", area=Area.K8S, resource_types=(t.HELM_RELEASE,), severity=Severity.MEDIUM,
    description="OpenCost is scraped with honorLabels, so its cost series keep the workload's `namespace` and `pod` "
                "labels (without it Prometheus renames them exported_namespace/exported_pod and every "
                "per-namespace cost query selects nothing).",
    remediation="Set opencost.metrics.serviceMonitor.enabled and .honorLabels to true on the release "
                "(k8s/opencost.py does).",
    url="https://prometheus-operator.dev/docs/api-reference/api/#monitoring.coreos.com/v1.Endpoint",
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the chart or the ServiceMonitor values are unknown.",
)
@_opencost_only
def opencost_keeps_workload_labels(res: Res) -> Iterator[str | Defer]:
    path = "values.opencost.metrics.serviceMonitor"
    enabled, honor = res.get(f"{path}.enabled"), res.get(f"{path}.honorLabels")
    if is_unknown(enabled) or is_unknown(honor):
        yield Defer(path)
    elif enabled is not True:
        yield f"{path}.enabled is {fmt(enabled)}: Prometheus never scrapes OpenCost, so no cost series exist"
    elif honor is not True:
        yield f"{path}.honorLabels is {fmt(honor)}: cost series lose the workload's namespace label"


@resource_policy(
    name="opencost-no-open-endpoints", area=Area.K8S, resource_types=(t.HELM_RELEASE,), severity=Severity.MEDIUM,
    description="OpenCost runs without its UI and MCP server: both serve every namespace's cost without "
                "authentication (chart 2.5.17 turns both on); tenants read their own cost in Grafana.",
    remediation="Set opencost.ui.enabled and opencost.mcp.enabled to false on the release (k8s/opencost.py does).",
    url="https://github.com/opencost/opencost-helm-chart/blob/main/charts/opencost/values.yaml",
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the chart or an endpoint switch is unknown.",
)
@_opencost_only
def opencost_no_open_endpoints(res: Res) -> Iterator[str | Defer]:
    for path, what in OPEN_ENDPOINTS.items():
        value = res.get(f"values.{path}")
        if is_unknown(value):
            yield Defer(f"values.{path}")
        elif value is not False:  # absent: the chart's default, on
            yield f"values.{path} is {fmt(value if value is not None else 'unset (chart default true)')}: {what} " \
                  "is served to anyone who reaches the pod"
