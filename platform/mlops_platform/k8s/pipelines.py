"""In-cluster pipelines: Argo Workflows runs each project's pipeline (validate data → train → evaluate →
register → hand-off) as pods in the project's namespace; Argo Events turns the project's drift alert into
a retrain. One controller of each per cluster, watching every namespace; what a project may do is
decided by the namespaced RBAC `pipeline_tenant` creates, not by the controllers.

Why Argo: it is the CNCF workflow engine most EKS ML platforms run, its WorkflowTemplate is a plain CRD a
project can ship and review, CronWorkflow covers schedules, and Argo Events' webhook source + Sensor is
the smallest path from an Alertmanager webhook to a Workflow. The Argo server (UI/API) is left off: CI and
`make train-remote` submit through the Kubernetes API with the project's own namespaced rights, so no
second API with its own auth is exposed. See docs/kubernetes-layer.md#pipelines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.core.versions import EVENT_BUS_IMAGES as IMAGES
from mlops_platform.k8s._helm import helm_release, namespace
from mlops_platform.k8s.manifests import Manifest, container_security_context, pod_security_context, resources
from mlops_platform.k8s.provider import k8s_opts

PIPELINES_NAMESPACE = "argo"
#: JetStream version every project's EventBus asks for; the events controller is configured with exactly it.
JETSTREAM_VERSION = IMAGES["nats"].rsplit(":", 1)[1]
#: Finished workflows (and their pods, logs in the controller's archive aside) are removed after a week.
WORKFLOW_TTL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True, kw_only=True)
class PipelinesArgs:
    """Arguments of `Pipelines`."""

    k8s_version: str
    """Kubernetes minor version of the namespace's PSA labels. Required."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster. Required."""
    replicas: int = 1
    """Replicas of each controller (leader-elected); more than one adds a PodDisruptionBudget. Default: 1."""
    service_monitor: bool = False
    """Let Prometheus scrape the workflow controller (needs the monitoring component). Default: False."""


def _hardened(replicas: int) -> Manifest:
    """What every controller of both charts gets: restricted pod security and a PDB when it is replicated."""
    return {"replicas": replicas, "pdb": {"enabled": replicas > 1},
            "resources": resources("100m", "256Mi", memory_limit="512Mi")}


def workflow_defaults() -> Manifest:
    """Defaults the controller merges into every Workflow: restricted pods, pods and workflows cleaned up."""
    return {"spec": {
        "securityContext": pod_security_context(),
        "podGC": {"strategy": "OnPodCompletion", "deleteDelayDuration": "10m"},
        "ttlStrategy": {"secondsAfterCompletion": WORKFLOW_TTL_SECONDS},
        "activeDeadlineSeconds": 24 * 3600,
    }}


def workflows_values(args: PipelinesArgs) -> dict[str, Any]:
    """argo-workflows chart values (keys checked against the chart's values.yaml in tests)."""
    ctx = container_security_context()
    return {
        "crds": {"install": True, "keep": True},
        "singleNamespace": False,
        # the built-in admin/edit/view roles stay as they are: project rights are explicit namespaced Roles
        "createAggregateRoles": False,
        "workflow": {"serviceAccount": {"create": False}, "rbac": {"create": False}},
        "controller": {
            **_hardened(args.replicas),
            "podSecurityContext": pod_security_context(), "securityContext": ctx,
            "rbac": {"create": True, "accessAllSecrets": False, "writeConfigMaps": False},
            # only Workflows started from a WorkflowTemplate run: nobody submits an arbitrary pod spec
            "workflowRestrictions": {"templateReferencing": "Strict"},
            "workflowDefaults": workflow_defaults(),
            "metricsConfig": {"enabled": True},
            "serviceMonitor": {"enabled": args.service_monitor},
        },
        "executor": {"securityContext": ctx, "resources": resources("50m", "64Mi", memory_limit="256Mi")},
        "server": {"enabled": False},
    }


def jetstream_versions() -> list[Manifest]:
    return [{"version": JETSTREAM_VERSION, "natsImage": IMAGES["nats"],
             "metricsExporterImage": IMAGES["nats-exporter"],
             "configReloaderImage": IMAGES["nats-config-reloader"], "startCommand": "/nats-server"}]


def events_values(args: PipelinesArgs) -> dict[str, Any]:
    """argo-events chart values: cluster-wide controller (EventSources/Sensors live in project namespaces)."""
    return {
        "crds": {"install": True, "keep": True},
        "createAggregateRoles": False,
        "global": {"securityContext": pod_security_context()},
        "controller": {**_hardened(args.replicas), "containerSecurityContext": container_security_context(),
                       "rbac": {"enabled": True, "namespaced": False}},
        # the validating webhook is optional and would be one more TLS endpoint the API server calls
        "webhook": {"enabled": False},
        "configs": {"jetstream": {"versions": jetstream_versions()}},
    }


class Pipelines(pulumi.ComponentResource):
    """Argo Workflows and Argo Events controllers (with their CRDs) in one restricted namespace."""

    def __init__(self, name: str, args: PipelinesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:Pipelines", name, None, opts)
        ns = namespace(f"{name}-ns", PIPELINES_NAMESPACE, "restricted", args.k8s_version,
                       k8s_opts(self, args.provider))
        inside = k8s_opts(self, args.provider, [ns])
        self.workflows = helm_release(f"{name}-workflows", "argo-workflows", "argo-workflows", PIPELINES_NAMESPACE,
                                      workflows_values(args), inside)
        self.events = helm_release(f"{name}-events", "argo-events", "argo-events", PIPELINES_NAMESPACE,
                                   events_values(args), inside)
        self.register_outputs({"namespace": PIPELINES_NAMESPACE})
