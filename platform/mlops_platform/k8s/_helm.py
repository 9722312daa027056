"""Helm releases and namespaces as every in-cluster component creates them."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.core.versions import CHARTS
from mlops_platform.k8s.manifests import Manifest, meta, namespace_labels
from mlops_platform.k8s.netpol import system_fence

#: Seconds a release may take to become ready before Helm rolls it back (GPU nodes boot slowly).
RELEASE_TIMEOUT = 900


def helm_release(name: str, chart_key: str, release: str, namespace: str, values: dict[str, Any],
                 opts: pulumi.ResourceOptions) -> k8s.helm.v3.Release:
    """A pinned chart from `versions.CHARTS`; atomic, so a failed upgrade rolls back instead of half-applying."""
    chart = CHARTS[chart_key]
    repo = k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository) if chart.repository else None
    return k8s.helm.v3.Release(
        name, name=release, chart=chart.chart, version=chart.version, repository_opts=repo,
        namespace=namespace, create_namespace=False, values=values, atomic=True, cleanup_on_fail=True,
        timeout=RELEASE_TIMEOUT, opts=opts)


def namespace(name: str, ns: str, level: str, k8s_version: str, opts: pulumi.ResourceOptions,
              labels: dict[str, str] | None = None, open_ports: tuple[int, ...] = (),
              policies: list[Manifest] | None = None) -> k8s.core.v1.Namespace:
    """A namespace with Pod Security admission labels (`level` for enforce, audit and warn), fenced by
    its NetworkPolicies: `policies` when given, else `netpol.system_fence(open_ports)`."""
    all_labels = namespace_labels(level, k8s_version, {"app.kubernetes.io/managed-by": "mlops-platform",
                                                       **(labels or {})})
    created = k8s.core.v1.Namespace(name, metadata=meta(ns, labels=all_labels), opts=opts)
    inside = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[created]))
    for policy in system_fence(open_ports) if policies is None else policies:
        k8s.networking.v1.NetworkPolicy(f"{name}-netpol-{policy['name']}", metadata=meta(policy["name"], ns),
                                        spec=policy["spec"], opts=inside)
    return created
