"""Fixtures of the policies in `mlops_platform.policy.rules.cost`."""

from __future__ import annotations

from typing import Any

from policy_plans import Add, U, res

from policy_cases._base import DEFERRED, Case, fail, ok, on, u

HELM = "kubernetes:helm.sh/v3:Release"
OPENCOST = on(HELM, "opencost")


def opencost(monitor: Any = None, ui: Any = False, mcp: Any = False, chart: Any = "opencost") -> Add:
    """The platform's OpenCost release (k8s/opencost.py), with one value changed."""
    opencost_values: dict[str, Any] = {
        "metrics": {"serviceMonitor": {"enabled": True, "honorLabels": True} if monitor is None else monitor}}
    if ui is not None:
        opencost_values["ui"] = {"enabled": ui}
    if mcp is not None:
        opencost_values["mcp"] = {"enabled": mcp}
    return Add(res(HELM, "opencost", {"chart": chart, "version": "2.5.17", "namespace": "opencost",
                                      "values": {"opencost": opencost_values}}))


CASES: dict[str, Case] = {
    "opencost-keeps-workload-labels": Case(
        passing=(ok(), ok(opencost()), ok(opencost(monitor={"enabled": False}, chart="kube-prometheus-stack"))),
        failing=(fail(OPENCOST, opencost(monitor={"enabled": True, "honorLabels": False})),
                 fail(OPENCOST, opencost(monitor={"enabled": True})),
                 fail(OPENCOST, opencost(monitor={"enabled": False, "honorLabels": True}))),
        unknown=u(DEFERRED, opencost(monitor={"enabled": True, "honorLabels": U}))),
    "opencost-no-open-endpoints": Case(
        passing=(ok(), ok(opencost()), ok(opencost(ui=True, chart="grafana"))),
        failing=(fail(OPENCOST, opencost(ui=None)), fail(OPENCOST, opencost(mcp=True)),
                 fail(OPENCOST, opencost(ui=True, mcp=None))),
        unknown=u(DEFERRED, opencost(mcp=U))),
}
