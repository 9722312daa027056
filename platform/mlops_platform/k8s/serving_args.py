"""`ModelServingArgs`: what a project says about one served model, validated all at once (pure functions,
tested without an engine) before `ModelServing` creates anything."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

import pulumi_kubernetes as k8s

from mlops_platform.config.sections import DNS_LABEL
from mlops_platform.core import contract, naming
from mlops_platform.core.errors import ConfigError, ConfigIssue
from mlops_platform.k8s.autoscaling import ScaleSignal
from mlops_platform.k8s.delivery import (
    PROGRESSIVE,
    AnalysisThresholds,
    CanaryWebhook,
    DeliveryStrategy,
    threshold_issues,
    webhook_issues,
)

QUANTITY = r"^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$"


class ServingMode(StrEnum):
    DEPLOYMENT = "deployment"  # plain Deployment (+ Service, or Flagger's Services and route) + autoscaler + PDB
    KSERVE = "kserve"  # a KServe InferenceService routed through the platform gateway


class KServeDeploymentMode(StrEnum):
    RAW = "RawDeployment"  # what the platform installs: Deployments, no Knative
    SERVERLESS = "Serverless"  # needs Knative in the cluster (the platform installs none)


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
    """Server image, pinned by tag or digest; a new one ships through `delivery`. Required."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster (the template's `ClusterAccess(...).provider`). Required."""
    ingress_domain: str | None = None
    """The platform's model domain (platform output `serving_ingress_domain`): the model is served as
    `<name>.<namespace>.<ingress_domain>` on the project's own Gateway. Required by progressive delivery;
    with `instant`, the model gets its HTTPRoute only when it is set (otherwise it is in-cluster only).
    Default: none."""
    delivery: DeliveryStrategy = DeliveryStrategy.CANARY
    """How a new image reaches traffic: canary | blue-green | mirror (Flagger, with analysis and automatic
    rollback) or instant (a rolling update; refused when `prod`). Default: canary."""
    analysis: AnalysisThresholds = field(default_factory=AnalysisThresholds)
    """When the new version is promoted or rolled back (progressive delivery). Default: AnalysisThresholds()."""
    webhooks: tuple[CanaryWebhook, ...] = ()
    """Hooks Flagger calls during a release (load tests, smoke tests, approvals; progressive delivery only):
    Services of `namespace`, or external https URLs with `allow_external_webhooks`. Default: none."""
    allow_external_webhooks: bool = False
    """Let `webhooks` call external https URLs: set it only when the platform's
    `serving.delivery.allow_external_webhooks` is true (its admission policy refuses them otherwise).
    Default: False."""
    prod: bool = False
    """Serving in a production environment: progressive delivery required, no scale-to-zero. Default: False."""
    port: int = 8080
    """Container port (non-root, 1024-65535). Default: 8080."""
    min_replicas: int = 2
    """Replicas the autoscaler keeps at least. Default: 2 (one node drain never takes it down)."""
    max_replicas: int = 4
    """Replicas the autoscaler scales up to (>= min_replicas). Default: 4."""
    gpus: int = 0
    """nvidia.com/gpu per replica (0-8). Default: 0."""
    gpu_type: str | None = None
    """Select nodes by mlops.io/gpu-type. Default: any."""
    gpu_pool: str | None = None
    """Select nodes by mlops.io/pool. Default: any."""
    scale_on: ScaleSignal | None = None
    """Autoscaling signal: cpu (HPA), in-flight or gpu-utilization (KEDA). Default: in-flight for GPU
    servers (never cpu), cpu otherwise."""
    target_in_flight: int = 4
    """In-flight requests per replica the in-flight signal aims at (1-1000). Default: 4."""
    target_gpu_utilization: int = 70
    """Mean GPU utilisation percent the gpu-utilization signal aims at (10-100). Default: 70."""
    target_cpu_utilization: int = 70
    """CPU target in percent of the cpu signal (10-100). Default: 70."""
    scale_to_zero: bool = False
    """Dev only: zero replicas outside working hours (KEDA cron + the KEDA signal); needs delivery instant
    and a KEDA signal, refused when `prod`. Default: False."""
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
        for f, enum in ENUMS.items():
            object.__setattr__(self, f, enum(getattr(self, f)))
        object.__setattr__(self, "scale_on", self.signal)

    @property
    def sa(self) -> str:
        return self.service_account or naming.project_service_account(self.namespace)

    @property
    def signal(self) -> ScaleSignal:
        """The autoscaling signal in effect (`scale_on`, or its default)."""
        if self.scale_on is not None:
            return ScaleSignal(self.scale_on)
        return ScaleSignal.IN_FLIGHT if self.gpus else ScaleSignal.CPU

    @property
    def progressive(self) -> bool:
        return self.delivery in PROGRESSIVE


ENUMS: dict[str, type[StrEnum]] = {"mode": ServingMode, "kserve_deployment_mode": KServeDeploymentMode,
                                   "delivery": DeliveryStrategy}

# (low, high) bounds of the integer fields; None = unbounded
INT_RANGES: dict[str, tuple[int, int | None]] = {
    "port": (1024, 65535), "min_replicas": (1, None), "max_replicas": (1, None), "gpus": (0, 8),
    "target_cpu_utilization": (10, 100), "target_in_flight": (1, 1000), "target_gpu_utilization": (10, 100)}


def _bad_int(value: object, low: int, high: int | None) -> bool:
    return isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high)


def _shape_issues(args: ModelServingArgs) -> list[ConfigIssue]:
    """Each field on its own: labels, ranges, quantities, enum values (what pydantic constraints checked)."""
    out = []
    for f, limit in (("namespace", 63), ("name", 40)):
        value = getattr(args, f)
        if not (isinstance(value, str) and re.match(DNS_LABEL, value) and len(value) <= limit):
            out.append(ConfigIssue(f, "must be a DNS label (lowercase letters, digits, '-')", value,
                                   f"use at most {limit} characters matching {DNS_LABEL}"))
    out += [ConfigIssue(f, "out of range", getattr(args, f),
                        f"an integer >= {low}" + (f" and <= {high}" if high is not None else ""))
            for f, (low, high) in INT_RANGES.items() if _bad_int(getattr(args, f), low, high)]
    for f in ("cpu", "memory", "cpu_limit", "memory_limit"):
        value = getattr(args, f)
        if value is not None and not (isinstance(value, str) and re.match(QUANTITY, value)):
            out.append(ConfigIssue(f, "not a Kubernetes quantity", value, "write e.g. 500m, 2, 1Gi or 512Mi"))
    if isinstance(args.drift_threshold, bool) or not isinstance(args.drift_threshold, int | float) \
            or args.drift_threshold <= 0:
        out.append(ConfigIssue("drift_threshold", "must be a number above 0", args.drift_threshold,
                               f"e.g. {contract.DEFAULT_DRIFT_THRESHOLD}"))
    choices: dict[str, type[StrEnum]] = {**ENUMS, "scale_on": ScaleSignal}
    for f, enum in choices.items():
        value = getattr(args, f)
        if value is not None and value not in {e.value for e in enum}:
            out.append(ConfigIssue(f, "unknown choice", value, "one of " + ", ".join(enum)))
    if not isinstance(args.analysis, AnalysisThresholds):
        out.append(ConfigIssue("analysis", "not an AnalysisThresholds", args.analysis,
                               "pass AnalysisThresholds(...) from mlops_platform.k8s.delivery"))
    else:
        out += threshold_issues(args.analysis)
    return out


def args_issues(args: ModelServingArgs) -> list[ConfigIssue]:
    """Every problem of the arguments at once: each field, then the combinations."""
    out = _shape_issues(args)
    if not (isinstance(args.image, str) and len(args.image) >= 3 and image_is_pinned(args.image)):
        out.append(ConfigIssue("image", "floats", args.image, "pin a version tag or @sha256 digest, never latest"))
    replicas = (args.min_replicas, args.max_replicas)
    if all(isinstance(r, int) for r in replicas) and args.max_replicas < args.min_replicas:
        out.append(ConfigIssue("max_replicas", f"below min_replicas {args.min_replicas}", args.max_replicas,
                               "raise max_replicas or lower min_replicas"))
    if args.gpus == 0 and (args.gpu_type or args.gpu_pool):
        out.append(ConfigIssue("gpus", "gpu_type/gpu_pool given but gpus is 0", args.gpus,
                               "set gpus >= 1, or drop gpu_type/gpu_pool"))
    secretish = sorted(k for k in args.env if re.search(r"(?i)secret|password|token|key", k))
    if secretish:
        out.append(ConfigIssue("env", "looks like a secret", secretish,
                               "mount a Secret as a file (or use tracking_secret) instead of an env var"))
    out += delivery_issues(args)
    if args.scale_on is None or args.scale_on in {e.value for e in ScaleSignal}:  # else reported above
        out += scaling_issues(args)
    return out


def delivery_issues(args: ModelServingArgs) -> list[ConfigIssue]:
    """A progressive strategy needs the gateway host and Deployments Flagger can target; prod needs one."""
    out = []
    progressive = args.delivery in PROGRESSIVE
    if args.prod and not progressive:
        out.append(ConfigIssue("delivery", "prod serving switches 100 % of traffic at once, unanalysed",
                               args.delivery, "use canary, blue-green or mirror (analysis and automatic rollback)"))
    if progressive and not args.ingress_domain:
        out.append(ConfigIssue("ingress_domain", f"delivery {args.delivery} routes the model through the gateway",
                               args.ingress_domain, "pass the platform output serving_ingress_domain"))
    if progressive and args.mode == ServingMode.KSERVE and args.kserve_deployment_mode != KServeDeploymentMode.RAW:
        out.append(ConfigIssue("kserve_deployment_mode", "Flagger analyses Deployments; Serverless serves Knative "
                               "revisions", args.kserve_deployment_mode,
                               "use RawDeployment (the platform's), or delivery instant"))
    if args.webhooks and not progressive:
        out.append(ConfigIssue("webhooks", f"delivery {args.delivery} runs no analysis to call them",
                               len(args.webhooks), "use canary, blue-green or mirror, or drop webhooks"))
    if not isinstance(args.webhooks, tuple | list):
        return [*out, ConfigIssue("webhooks", "not a tuple", args.webhooks, "pass a tuple of CanaryWebhook")]
    return out + webhook_issues(tuple(args.webhooks), namespace=str(args.namespace),
                                allow_external=args.allow_external_webhooks is True)


def scaling_issues(args: ModelServingArgs) -> list[ConfigIssue]:
    """GPU servers scale on requests or GPU load, never CPU; scale-to-zero is a dev saving only."""
    out = []
    if args.gpus and args.signal is ScaleSignal.CPU:
        out.append(ConfigIssue("scale_on", "a GPU server saturates its GPU long before its CPU", args.scale_on,
                               "use in-flight or gpu-utilization"))
    if not args.gpus and args.signal is ScaleSignal.GPU_UTILIZATION:
        out.append(ConfigIssue("scale_on", "gpu-utilization needs GPUs", args.scale_on,
                               "set gpus >= 1, or scale on cpu or in-flight"))
    if args.scale_to_zero and args.prod:
        out.append(ConfigIssue("scale_to_zero", "prod serving never scales to zero (cold starts drop requests)",
                               True, "drop scale_to_zero in prod"))
    elif args.scale_to_zero and (args.progressive or args.signal is ScaleSignal.CPU):
        out.append(ConfigIssue("scale_to_zero", "needs delivery instant and a KEDA signal (in-flight or "
                               "gpu-utilization): Flagger analyses running replicas", True,
                               "set delivery=instant and scale_on, or drop scale_to_zero"))
    return out
