"""`ModelServing`: the reusable component projects use to serve a model on the platform.

Two modes: `deployment` (Deployment + Service + HPA + PodDisruptionBudget, an optional canary Deployment
whose share of traffic follows the replica ratio) and `kserve` (an InferenceService). Both get restricted
pod security, /healthz and /readyz probes, requests and limits, spread over zones and nodes, GPU placement
when GPUs are asked for, a ServiceMonitor and a drift alert for this model.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.config.sections import DNS_LABEL
from mlops_platform.core import contract, naming
from mlops_platform.core.errors import ConfigError, ConfigIssue
from mlops_platform.k8s import manifests as m
from mlops_platform.k8s.alerts import drift_rule
from mlops_platform.k8s.monitoring import service_monitor_spec
from mlops_platform.k8s.provider import k8s_opts

QUANTITY = r"^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$"
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
TRACK_LABEL = "mlops.io/track"
KSERVE_LABEL = "serving.kserve.io/inferenceservice"


class ServingMode(StrEnum):
    DEPLOYMENT = "deployment"  # plain Deployment + Service + HPA + PDB (canary by replica ratio)
    KSERVE = "kserve"  # a KServe InferenceService routed through the platform gateway


class KServeDeploymentMode(StrEnum):
    RAW = "RawDeployment"  # what the platform installs: Deployments + HPA, no Knative
    SERVERLESS = "Serverless"  # needs Knative in the cluster; the only KServe mode with canaryTrafficPercent


def image_is_pinned(image: str) -> bool:
    """A digest, or a tag that is not `latest`."""
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and not last.endswith(":latest")


@dataclass(frozen=True, kw_only=True)
class ModelServingArgs:
    """Arguments of `ModelServing`; invalid values fail (all at once, as a `ConfigError`) on construction,
    before anything is created."""

    namespace: str
    """Project namespace (a DNS label). Required."""
    name: str
    """Model service name (a DNS label of at most 40 characters). Required."""
    image: str
    """Server image, pinned by tag or digest. Required."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster (the template's `ClusterAccess(...).provider`). Required."""
    port: int = 8080
    """Container port (non-root, 1024-65535). Default: 8080."""
    min_replicas: int = 2
    """Stable replicas the HPA keeps at least. Default: 2 (one node drain never takes it down)."""
    max_replicas: int = 4
    """Replicas the HPA scales up to (>= min_replicas). Default: 4."""
    canary_image: str | None = None
    """Canary image, pinned like `image`. Default: none."""
    canary_percent: int = 0
    """Share of traffic for the canary (1-99, with canary_image). Default: 0."""
    gpus: int = 0
    """nvidia.com/gpu per replica (0-8). Default: 0."""
    gpu_type: str | None = None
    """Select nodes by mlops.io/gpu-type. Default: any."""
    gpu_pool: str | None = None
    """Select nodes by mlops.io/pool. Default: any."""
    cpu: str = "500m"
    """CPU request (a Kubernetes quantity). Default: 500m."""
    memory: str = "1Gi"
    """Memory request (and limit unless memory_limit is set). Default: 1Gi."""
    cpu_limit: str | None = None
    """CPU limit. Default: none (no throttling)."""
    memory_limit: str | None = None
    """Memory limit. Default: = memory."""
    service_account: str | None = None
    """Service account of the pods. Default: the project's <ns>-workload."""
    drift_threshold: float = contract.DEFAULT_DRIFT_THRESHOLD
    """PSI alert threshold (> 0). Default: the platform's drift threshold (contract.DEFAULT_DRIFT_THRESHOLD)."""
    mode: ServingMode = ServingMode.DEPLOYMENT
    """How the model is served. Default: deployment."""
    kserve_deployment_mode: KServeDeploymentMode = KServeDeploymentMode.RAW
    """KServe deployment mode when mode=kserve. Default: RawDeployment (the platform's)."""
    target_cpu_utilization: int = 70
    """HPA CPU target in percent (10-100). Default: 70."""
    env: dict[str, str] = field(default_factory=dict)
    """Plain env vars (no secrets). Default: none."""
    tracking_secret: str | None = None
    """Secret in the namespace whose keys become env vars: the project's MLflow login
    (`projects.<name>.tracking_secret` of the platform's outputs; MLflow's client reads
    MLFLOW_TRACKING_URI/USERNAME/PASSWORD). Default: none."""

    def __post_init__(self) -> None:
        issues = args_issues(self)
        if issues:
            raise ConfigError(issues, source=f"ModelServingArgs of {self.name!r}")
        # enum fields accept their values ("kserve") like the pydantic model did; store the members
        object.__setattr__(self, "mode", ServingMode(self.mode))
        object.__setattr__(self, "kserve_deployment_mode", KServeDeploymentMode(self.kserve_deployment_mode))

    @property
    def sa(self) -> str:
        return self.service_account or naming.project_service_account(self.namespace)


# (low, high) bounds of the integer fields; None = unbounded
INT_RANGES: dict[str, tuple[int, int | None]] = {
    "port": (1024, 65535), "min_replicas": (1, None), "max_replicas": (1, None), "canary_percent": (0, 99),
    "gpus": (0, 8), "target_cpu_utilization": (10, 100)}


def _shape_issues(args: ModelServingArgs) -> list[ConfigIssue]:
    """Each field on its own: labels, ranges, quantities, enum values (what pydantic constraints checked)."""
    out = []
    for f, limit in (("namespace", 63), ("name", 40)):
        value = getattr(args, f)
        if not (isinstance(value, str) and re.match(DNS_LABEL, value) and len(value) <= limit):
            out.append(ConfigIssue(f, "must be a DNS label (lowercase letters, digits, '-')", value,
                                   f"use at most {limit} characters matching {DNS_LABEL}"))
    for f, (low, high) in INT_RANGES.items():
        value = getattr(args, f)
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            out.append(ConfigIssue(f, "out of range", value,
                                   f"an integer >= {low}" + (f" and <= {high}" if high is not None else "")))
    for f in ("cpu", "memory", "cpu_limit", "memory_limit"):
        value = getattr(args, f)
        if value is not None and not (isinstance(value, str) and re.match(QUANTITY, value)):
            out.append(ConfigIssue(f, "not a Kubernetes quantity", value, "write e.g. 500m, 2, 1Gi or 512Mi"))
    if isinstance(args.drift_threshold, bool) or not isinstance(args.drift_threshold, int | float) \
            or args.drift_threshold <= 0:
        out.append(ConfigIssue("drift_threshold", "must be a number above 0", args.drift_threshold,
                               f"e.g. {contract.DEFAULT_DRIFT_THRESHOLD}"))
    for f, enum in (("mode", ServingMode), ("kserve_deployment_mode", KServeDeploymentMode)):
        if getattr(args, f) not in {e.value for e in enum}:
            out.append(ConfigIssue(f, "unknown choice", getattr(args, f), "one of " + ", ".join(enum)))
    return out


def args_issues(args: ModelServingArgs) -> list[ConfigIssue]:
    """Every problem of the arguments at once: each field, then the combinations."""
    out = _shape_issues(args)
    for f in ("image", "canary_image"):
        image = getattr(args, f)
        if image is not None and not (isinstance(image, str) and len(image) >= 3 and image_is_pinned(image)):
            out.append(ConfigIssue(f, "floats", image, "pin a version tag or @sha256 digest, never latest"))
    replicas = (args.min_replicas, args.max_replicas)
    if all(isinstance(r, int) for r in replicas) and args.max_replicas < args.min_replicas:
        out.append(ConfigIssue("max_replicas", f"below min_replicas {args.min_replicas}", args.max_replicas,
                               "raise max_replicas or lower min_replicas"))
    if (args.canary_image is None) != (args.canary_percent == 0):
        out.append(ConfigIssue("canary_percent", "set canary_image and canary_percent together",
                               args.canary_percent, "give both (canary_percent 1-99) or neither"))
    raw_kserve = args.mode == ServingMode.KSERVE and args.kserve_deployment_mode == KServeDeploymentMode.RAW
    if args.canary_image and raw_kserve:
        out.append(ConfigIssue("canary_image", "KServe applies canaryTrafficPercent only in Serverless mode",
                               args.canary_image, "use mode=deployment, or kserve_deployment_mode=Serverless "
                                                  "with Knative"))
    if args.gpus == 0 and (args.gpu_type or args.gpu_pool):
        out.append(ConfigIssue("gpus", "gpu_type/gpu_pool given but gpus is 0", args.gpus,
                               "set gpus >= 1, or drop gpu_type/gpu_pool"))
    secretish = sorted(k for k in args.env if re.search(r"(?i)secret|password|token|key", k))
    if secretish:
        out.append(ConfigIssue("env", "looks like a secret", secretish,
                               "mount a Secret as a file (or use tracking_secret) instead of an env var"))
    return out


def canary_replicas(stable: int, percent: int) -> int:
    """Canary pods so that canary/(stable+canary) ≈ percent (at least one)."""
    return max(1, math.ceil(stable * percent / (100 - percent)))


def container(args: ModelServingArgs, image: str) -> dict[str, Any]:
    _, tmp_mount = m.tmp_volume()
    env = [{"name": k, "value": v} for k, v in sorted(args.env.items())]
    return {
        # KServe finds the model server by this container name
        "name": "kserve-container" if args.mode is ServingMode.KSERVE else "model", "image": image,
        "ports": [{"name": "http", "containerPort": args.port, "protocol": "TCP"}],
        "env": [{"name": "MODEL_NAME", "value": args.name}, *env],
        **({"envFrom": [{"secretRef": {"name": args.tracking_secret}}]} if args.tracking_secret else {}),
        "resources": m.resources(args.cpu, args.memory, cpu_limit=args.cpu_limit, memory_limit=args.memory_limit,
                                 gpus=args.gpus),
        "securityContext": m.container_security_context(),
        "livenessProbe": m.http_probe("/healthz", "http", initial_delay=10),
        # a model can take minutes to load: readiness gates traffic, liveness only restarts a hung server
        "readinessProbe": m.http_probe("/readyz", "http", initial_delay=5, period=5),
        "startupProbe": m.http_probe("/healthz", "http", period=10, failures=30),
        "volumeMounts": [tmp_mount],
    }


def pod_spec(args: ModelServingArgs, image: str, labels: dict[str, str]) -> dict[str, Any]:
    tmp_volume, _ = m.tmp_volume()
    spec: dict[str, Any] = {
        "serviceAccountName": args.sa, "automountServiceAccountToken": False,
        "securityContext": m.pod_security_context(), "containers": [container(args, image)],
        "volumes": [tmp_volume], "topologySpreadConstraints": m.topology_spread(labels),
        "terminationGracePeriodSeconds": 30,
    }
    if args.gpus:
        spec.update(m.gpu_placement(args.gpu_type, args.gpu_pool))
    return spec


def pod_labels(args: ModelServingArgs, track: str) -> dict[str, str]:
    # canary pods are not the availability-bearing workload: the stable track carries replicas and PDB
    component = "serving" if track == "stable" else "serving-canary"
    return {NAME_LABEL: args.name, COMPONENT_LABEL: component, TRACK_LABEL: track}


def deployment_spec(args: ModelServingArgs, track: str, image: str, replicas: int) -> dict[str, Any]:
    labels = pod_labels(args, track)
    selector = {NAME_LABEL: args.name, TRACK_LABEL: track}
    return {"replicas": replicas, "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec(args, image, selector)}}


def hpa_spec(args: ModelServingArgs, deployment: str) -> dict[str, Any]:
    return {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
            "minReplicas": args.min_replicas, "maxReplicas": args.max_replicas,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": args.target_cpu_utilization}}}],
            # GPU pods are slow to start: scale down only after 5 calm minutes
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}}}


def inference_service(args: ModelServingArgs) -> dict[str, Any]:
    """InferenceService manifest (apiVersion/kind/metadata/spec) for `mode=kserve`."""
    image = args.canary_image or args.image
    pod = pod_spec(args, image, {KSERVE_LABEL: args.name})
    predictor: dict[str, Any] = {"minReplicas": args.min_replicas, "maxReplicas": args.max_replicas,
                                 "scaleMetric": "cpu", "scaleTarget": args.target_cpu_utilization,
                                 **pod}
    if args.canary_image:  # KServe semantics: the spec is the new revision, the last good one keeps the rest
        predictor["canaryTrafficPercent"] = args.canary_percent
    annotations = {"serving.kserve.io/deploymentMode": args.kserve_deployment_mode.value,
                   "serving.kserve.io/autoscalerClass": "hpa"}
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": m.meta(args.name, args.namespace, {COMPONENT_LABEL: "serving"}, annotations),
            "spec": {"predictor": predictor}}


class ModelServing(pulumi.ComponentResource):
    """One served model in a project namespace (see module docstring for what it creates)."""

    def __init__(self, name: str, args: ModelServingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:ModelServing", name, None, opts)
        kopts = k8s_opts(self, args.provider)
        if args.mode is ServingMode.KSERVE:
            isvc = inference_service(args)
            k8s.apiextensions.CustomResource(f"{name}-isvc", api_version=isvc["apiVersion"], kind=isvc["kind"],
                                             metadata=isvc["metadata"], spec=isvc["spec"], opts=kopts)
            # KServe creates no disruption budget for predictor pods: node drains could take the model down.
            self._pdb(name, args, {KSERVE_LABEL: args.name}, kopts)
            scrape = service_monitor_spec({KSERVE_LABEL: args.name}, "http", args.namespace)
            scrape["endpoints"][0] = {"targetPort": args.port, "path": "/metrics", "interval": "30s"}
        else:
            self._deployment_mode(name, args)
            scrape = service_monitor_spec({NAME_LABEL: args.name}, "http", args.namespace)
        k8s.apiextensions.CustomResource(
            f"{name}-monitor", api_version="monitoring.coreos.com/v1", kind="ServiceMonitor",
            metadata=m.meta(args.name, args.namespace, {NAME_LABEL: args.name}), spec=scrape, opts=kopts)
        rule = drift_rule(args.drift_threshold, f'namespace="{args.namespace}",model="{args.name}"',
                          name="ModelDriftAboveThreshold")
        k8s.apiextensions.CustomResource(
            f"{name}-drift", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
            metadata=m.meta(f"{args.name}-drift", args.namespace, {NAME_LABEL: args.name}),
            spec={"groups": [{"name": f"{args.namespace}.{args.name}.drift", "rules": [rule]}]}, opts=kopts)
        self.service_host = f"{args.name}.{args.namespace}.svc.cluster.local"
        self.register_outputs({"service_host": self.service_host})

    def _deployment_mode(self, name: str, args: ModelServingArgs) -> None:
        ns, labels = args.namespace, {NAME_LABEL: args.name, COMPONENT_LABEL: "serving"}
        # the HPA owns replicas after creation; Pulumi sets the initial count only
        hpa_owned = pulumi.ResourceOptions.merge(k8s_opts(self, args.provider),
                                                 pulumi.ResourceOptions(ignore_changes=["spec.replicas"]))
        k8s.apps.v1.Deployment(f"{name}-deployment", metadata=m.meta(args.name, ns, labels),
                               spec=deployment_spec(args, "stable", args.image, args.min_replicas), opts=hpa_owned)
        kopts = k8s_opts(self, args.provider)
        if args.canary_image:
            k8s.apps.v1.Deployment(
                f"{name}-canary", metadata=m.meta(f"{args.name}-canary", ns, {**labels, TRACK_LABEL: "canary"}),
                spec=deployment_spec(args, "canary", args.canary_image,
                                     canary_replicas(args.min_replicas, args.canary_percent)), opts=kopts)
        k8s.core.v1.Service(f"{name}-service", metadata=m.meta(args.name, ns, labels), spec={
            "type": "ClusterIP", "selector": {NAME_LABEL: args.name},  # both tracks: split by replica ratio
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}, opts=kopts)
        k8s.autoscaling.v2.HorizontalPodAutoscaler(f"{name}-hpa", metadata=m.meta(args.name, ns, labels),
                                                   spec=hpa_spec(args, args.name), opts=kopts)
        self._pdb(name, args, {NAME_LABEL: args.name, TRACK_LABEL: "stable"}, kopts)

    def _pdb(self, name: str, args: ModelServingArgs, selector: dict[str, str],
             kopts: pulumi.ResourceOptions) -> None:
        labels = {NAME_LABEL: args.name, COMPONENT_LABEL: "serving"}
        k8s.policy.v1.PodDisruptionBudget(f"{name}-pdb", metadata=m.meta(args.name, args.namespace, labels), spec={
            "maxUnavailable": 1, "selector": {"matchLabels": selector}}, opts=kopts)
