"""Progressive delivery and event-driven autoscaling for model servers: Flagger and KEDA, both reading the
platform's Prometheus.

Flagger, not Argo Rollouts: Flagger's Gateway API provider is built in (`gatewayapi:v1`: it writes the
model's HTTPRoute weights and its RequestMirror filter itself), its analysis is declarative
(`MetricTemplate`s the project owns next to its Canary), it targets an existing Deployment (so also the one
KServe creates in RawDeployment mode) and takes a KEDA ScaledObject as `autoscalerRef`. Argo Rollouts
replaces the Deployment with its own `Rollout` kind (KServe's Deployment cannot become one) and reaches
Gateway API only through a separately installed traffic-router plugin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.k8s import netpol
from mlops_platform.k8s._helm import helm_release, namespace
from mlops_platform.k8s.metric_isolation import delivery_metric_policies
from mlops_platform.k8s.provider import k8s_opts

FLAGGER_NAMESPACE = "flagger-system"
KEDA_NAMESPACE = "keda"
#: KEDA's metrics API server (the API server calls it for external metrics) and admission webhooks.
KEDA_PORTS = (6443, 9443)


@dataclass(frozen=True, kw_only=True)
class DeliveryStackArgs:
    """Arguments of `DeliveryStack`."""

    k8s_version: str
    """Kubernetes minor version of the namespaces' PSA labels. Required."""
    prometheus_url: str
    """The platform Prometheus both controllers query (monitoring.PROMETHEUS_URL). Required."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster. Required."""
    vpc_cidr: str
    """The cluster VPC's CIDR, where the API server's ENIs are (Flagger's egress fence). Required."""
    replicas: int = 1
    """Controller replicas (leader election above 1). Default: 1 (2 in prod, chosen by the layer)."""
    service_monitor: bool = True
    """Let the monitoring stack scrape Flagger (needs its CRDs). Default: True."""
    allow_external_webhooks: bool = False
    """Admit projects' Canary webhooks to external https URLs, not only their own namespace's Services
    (`serving.delivery.allow_external_webhooks`). Default: False."""


def url_port(url: str) -> int:
    """The port of an http(s) URL (its scheme's default when it names none)."""
    parsed = urlsplit(url)
    return parsed.port or (443 if parsed.scheme == "https" else 80)


def restricted_container() -> dict[str, Any]:
    """A container securityContext the `restricted` Pod Security level admits."""
    return {"runAsNonRoot": True, "runAsUser": 10001, "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"}}


def flagger_values(args: DeliveryStackArgs) -> dict[str, Any]:
    """flagger chart 1.44.0 values. The chart installs its CRDs from `crds/` (Helm never upgrades those:
    a Flagger bump applies the new crd.yaml first, docs/kubernetes-layer.md)."""
    return {
        "meshProvider": "gatewayapi:v1", "metricsServer": args.prometheus_url,
        "prometheus": {"install": False},
        # a project's Canary may only use MetricTemplates and alert providers of its own namespace
        "noCrossNamespaceRefs": True,
        "leaderElection": {"enabled": args.replicas > 1, "replicaCount": args.replicas},
        "podDisruptionBudget": {"enabled": args.replicas > 1, "minAvailable": 1},
        "securityContext": {"enabled": True, "context": restricted_container()},
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "1000m", "memory": "512Mi"}},
        "serviceMonitor": {"enabled": args.service_monitor},
    }


def keda_values(args: DeliveryStackArgs) -> dict[str, Any]:
    """keda chart 2.20.2 values: its defaults are restricted already (non-root, no privilege escalation,
    all capabilities dropped, RuntimeDefault seccomp); the operator may read Secrets of its own namespace
    only, since model servers' triggers need no credentials (the in-cluster Prometheus)."""
    return {
        "operator": {"replicaCount": args.replicas}, "metricsServer": {"replicaCount": args.replicas},
        "webhooks": {"replicaCount": args.replicas},
        "permissions": {"operator": {"restrict": {"secret": True}}, "metricServer": {"restrict": {"secret": True}}},
        "prometheus": {"operator": {"enabled": True,
                                    "serviceMonitor": {"enabled": args.service_monitor}}},
    }


class DeliveryStack(pulumi.ComponentResource):
    """Flagger (Gateway API provider) and KEDA, each in its own fenced namespace."""

    def __init__(self, name: str, args: DeliveryStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:DeliveryStack", name, None, opts)
        p, v = args.provider, args.k8s_version
        # third-party controllers whose pod specs the charts own: baseline is enforced (see serving.py)
        # Flagger serves nothing but its metrics, and calls only what flagger_egress lists
        flagger_ns = namespace(f"{name}-flagger-ns", FLAGGER_NAMESPACE, "baseline", v, k8s_opts(self, p),
                               policies=[*netpol.system_fence(()), *netpol.flagger_egress(
                                   prometheus_port=url_port(args.prometheus_url), vpc_cidr=args.vpc_cidr,
                                   allow_external=args.allow_external_webhooks)])
        self.flagger = helm_release(f"{name}-flagger", "flagger", "flagger", FLAGGER_NAMESPACE, flagger_values(args),
                                    k8s_opts(self, p, [flagger_ns]))
        keda_ns = namespace(f"{name}-keda-ns", KEDA_NAMESPACE, "baseline", v, k8s_opts(self, p),
                            open_ports=KEDA_PORTS)
        self.keda = helm_release(f"{name}-keda", "keda", "keda", KEDA_NAMESPACE, keda_values(args),
                                 k8s_opts(self, p, [keda_ns]))
        # what projects' ScaledObjects, MetricTemplates and Canaries may ask the Prometheus both controllers query
        delivery_metric_policies(name, args.prometheus_url, self, p,
                                 allow_external_webhooks=args.allow_external_webhooks)
        self.register_outputs({"flagger_namespace": FLAGGER_NAMESPACE, "keda_namespace": KEDA_NAMESPACE})
