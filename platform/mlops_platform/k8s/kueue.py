"""Quota-fair scheduling: Kueue (chart 0.19.2) and the cluster-wide ResourceFlavor every project queue uses.

Kueue admits a batch job only when its project's ClusterQueue (k8s/project_queue.py) has quota for all of
its pods, so a RayJob or a pipeline's training pod waits in its queue instead of pending half-scheduled on
the GPU pools. Gang scheduling is Kueue's `waitForPodsReady`: an admitted job whose pods are not all ready
in time is evicted, its quota released, and requeued with backoff. Integrations: batch Jobs, RayJobs (and
the RayClusters they own) and plain pods — the pipeline's steps are Argo pods — the pod integration only in
project namespaces (`managedJobsNamespaceSelector`), so no platform pod is ever gated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.core import contract
from mlops_platform.core.versions import KUEUE_IMAGE
from mlops_platform.k8s._helm import helm_release, namespace
from mlops_platform.k8s.manifests import Manifest, meta
from mlops_platform.k8s.provider import k8s_opts
from mlops_platform.k8s.queue_admission import queue_label_policy

KUEUE_NAMESPACE = "kueue-system"
KUEUE_API = "kueue.x-k8s.io/v1beta2"
#: The one ResourceFlavor: no node labels, so Kueue only counts quota and the pods' own selectors (GPU pool,
#: GPU model) place them. Per-pool flavors would each need a share of a project's GPU quota: nominal quota
#: is per flavor, so giving every pool the project's quota would multiply it by the number of pools.
DEFAULT_FLAVOR = "default"
#: Cohort every project ClusterQueue joins when the environment allows borrowing.
COHORT = "projects"
WEBHOOK_PORT = 9443
#: The visibility API (pending workloads) the API server aggregates: chart templates/visibility/service.yaml
#: targets the controller's port 8082.
VISIBILITY_PORT = 8082
FRAMEWORKS = ("batch/job", "ray.io/rayjob", "ray.io/raycluster", "pod")


@dataclass(frozen=True, kw_only=True)
class KueueArgs:
    """Arguments of `Kueue`."""

    k8s_version: str
    """Kubernetes minor version of the namespace's PSA labels. Required."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster. Required."""
    project_label: str
    """Namespace label every project namespace carries (the pod integration acts there only). Required."""
    pods_ready_timeout_minutes: int = 10
    """waitForPodsReady timeout (gang scheduling). Default: 10."""
    fair_sharing: bool = False
    """Fair sharing between the cohort's queues (on with cohort borrowing). Default: off."""
    replicas: int = 1
    """Controller replicas (leader election; >1 adds a PDB). Default: 1."""
    prometheus_namespace: str | None = None
    """Namespace of the monitoring stack: the chart's ServiceMonitor goes there. Default: none."""
    depends_on: tuple[pulumi.Resource, ...] = ()
    """What the release waits for (the monitoring release, for the ServiceMonitor CRD). Default: nothing."""


def manager_config(args: KueueArgs) -> Manifest:
    """Kueue's Configuration (config.kueue.x-k8s.io/v1beta2, the chart's `managerConfig` default plus the
    platform's choices; fields from apis/config/v1beta2/configuration_types.go at v0.19.2)."""
    config: Manifest = {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2", "kind": "Configuration",
        "health": {"healthProbeBindAddress": ":8081"}, "metrics": {"bindAddress": ":8443"},
        "webhook": {"port": WEBHOOK_PORT},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        "clientConnection": {"qps": 50, "burst": 100},
        # only labelled jobs are managed; the pod integration never looks outside project namespaces
        "manageJobsWithoutQueueName": False,
        "managedJobsNamespaceSelector": {"matchExpressions": [{"key": args.project_label, "operator": "Exists"}]},
        # all-or-nothing: evict and requeue (backoff 1 min doubling to 1 h) a job whose pods are not all ready
        "waitForPodsReady": {"timeout": f"{args.pods_ready_timeout_minutes}m", "blockAdmission": False,
                             "requeuingStrategy": {"timestamp": "Eviction", "backoffBaseSeconds": 60,
                                                   "backoffMaxSeconds": 3600}},
        "integrations": {"frameworks": list(FRAMEWORKS)},
        # EFA devices are a node's network hardware, not a tenant's quota: no ClusterQueue lists them, and
        # Kueue refuses a workload that requests a resource its ClusterQueue does not cover unless excluded
        # (Configuration `resources.excludeResourcePrefixes`, apis/config/v1beta2/configuration_types.go)
        "resources": {"excludeResourcePrefixes": [contract.EFA_RESOURCE]},
    }
    if args.fair_sharing:
        config["fairSharing"] = {"preemptionStrategies": ["LessThanOrEqualToFinalShare", "LessThanInitialShare"]}
    return config


def kueue_values(args: KueueArgs) -> dict[str, Any]:
    """Chart values (keys checked against kueue 0.19.2 values.yaml): pinned image, resources, replicas with a
    PDB when replicated, and the manager config (JSON is YAML: the chart writes it into a ConfigMap)."""
    repository, tag = KUEUE_IMAGE
    values: dict[str, Any] = {
        "controllerManager": {
            "replicas": args.replicas,
            "podDisruptionBudget": {"enabled": args.replicas > 1, "minAvailable": 1},
            "manager": {"image": {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"},
                        "priorityClassName": "system-cluster-critical",
                        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"},
                                      "limits": {"cpu": "2", "memory": "1Gi"}}},
        },
        "managerConfig": {"controllerManagerConfigYaml": json.dumps(manager_config(args), indent=2)},
        "enableKueueViz": False,
        "enablePrometheus": args.prometheus_namespace is not None,
    }
    if args.prometheus_namespace:
        values["metrics"] = {"prometheusNamespace": args.prometheus_namespace}
    return values


class Kueue(pulumi.ComponentResource):
    """Kueue's controller and the `default` ResourceFlavor."""

    def __init__(self, name: str, args: KueueArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:Kueue", name, None, opts)
        ns = namespace(f"{name}-ns", KUEUE_NAMESPACE, "restricted", args.k8s_version,
                       k8s_opts(self, args.provider), open_ports=(WEBHOOK_PORT, VISIBILITY_PORT))  # API server
        self.release = helm_release(f"{name}-kueue", "kueue", "kueue", KUEUE_NAMESPACE, kueue_values(args),
                                    k8s_opts(self, args.provider, [ns, *args.depends_on]))
        # the CRDs come with the release
        self.flavor = k8s.apiextensions.CustomResource(
            f"{name}-flavor-{DEFAULT_FLAVOR}", api_version=KUEUE_API, kind="ResourceFlavor",
            metadata=meta(DEFAULT_FLAVOR), spec={}, opts=k8s_opts(self, args.provider, [self.release]))
        # with Kueue come its queues, so batch work in project namespaces must name one (queue_admission.py)
        queue_label_policy(name, self, args.provider)
        self.register_outputs({"namespace": KUEUE_NAMESPACE, "flavor": DEFAULT_FLAVOR})
