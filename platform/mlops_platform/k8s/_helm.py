"""Helm releases and namespaces as every in-cluster component creates them."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.core.versions import CHARTS, HelmChart
from mlops_platform.k8s.manifests import Manifest, meta, namespace_labels
from mlops_platform.k8s.netpol import system_fence

#: Seconds a release may take to become ready before Helm rolls it back (GPU nodes boot slowly).
RELEASE_TIMEOUT = 900


def deleted_defaults(paths: tuple[str, ...]) -> str:
    """A values file that deletes chart defaults (`key: null`, Helm's "deleting a default key"), as JSON,
    which is YAML. Inline `values` cannot carry it: the Pulumi Python SDK drops None map values before they
    reach the provider (pulumi/pulumi#12178); `valueYamlFiles` reach Helm as written."""
    doc: dict[str, Any] = {}
    for path in paths:
        *parents, leaf = path.split(".")
        node = doc
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = None
    return json.dumps(doc, sort_keys=True)


def helm_release(name: str, chart_key: str | HelmChart, release: str, namespace: str, values: dict[str, Any],
                 opts: pulumi.ResourceOptions, delete_defaults: tuple[str, ...] = (),
                 skip_crds: bool = False) -> k8s.helm.v3.Release:
    """A pinned chart (`versions.CHARTS[chart_key]`, or a `HelmChart` from the version matrix); atomic, so a
    failed upgrade rolls back instead of half-applying. `delete_defaults` are dotted chart values to unset;
    `skip_crds` leaves the chart's crds/ to a CRD chart of their own."""
    chart = CHARTS[chart_key] if isinstance(chart_key, str) else chart_key
    repo = k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository) if chart.repository else None
    files = [pulumi.StringAsset(deleted_defaults(delete_defaults))] if delete_defaults else None
    return k8s.helm.v3.Release(
        name, name=release, chart=chart.chart, version=chart.version, repository_opts=repo,
        namespace=namespace, create_namespace=False, values=values, value_yaml_files=files, atomic=True,
        cleanup_on_fail=True, timeout=RELEASE_TIMEOUT, skip_crds=skip_crds, opts=opts)


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
