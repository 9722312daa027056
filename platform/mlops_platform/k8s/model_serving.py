"""`ModelServing`: the reusable component projects use to serve a model on the platform.

Two modes: `deployment` (a Deployment + autoscaler + PodDisruptionBudget) and `kserve` (an InferenceService
in RawDeployment mode). Both get restricted pod security, /healthz and /readyz probes, requests and limits,
spread over zones and nodes, GPU placement when GPUs are asked for, scraping and a drift alert.

New versions ship by `delivery` (delivery.py): a Flagger Canary analyses the new version on the model
server's own metrics and promotes or rolls it back; Flagger then owns the model's Services and HTTPRoute.
In `kserve` mode the Canary targets the `<name>-predictor` Deployment KServe creates; the InferenceService is
always marked cluster-local (KServe v0.15 RawHTTPRouteReconciler creates no HTTPRoute for it: KServe would
attach it to its one global `kserveGateway`, while models are served on their project's own Gateway,
project_gateway.py) and, under a progressive strategy, its autoscaler class `external` (KServe creates no
HPA and leaves replicas alone), so the route and the autoscaler are Flagger's and the platform's. With
`instant` delivery and an ingress domain, `ModelServing` writes the HTTPRoute itself (`instant_route_spec`).
Autoscaling (autoscaling.py): CPU via an HPA, in-flight requests or DCGM GPU
utilisation via a KEDA ScaledObject, which the Canary names as its `autoscalerRef`.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.k8s import manifests as m
from mlops_platform.k8s.alerts import drift_rule
from mlops_platform.k8s.autoscaling import KEDA_API, ScaleSignal, autoscaler_ref, hpa_spec, scaled_object_spec
from mlops_platform.k8s.delivery import (
    CANARY_API,
    CanaryTarget,
    analysis,
    analysis_metrics,
    canary_spec,
    metric_queries,
    metric_template_spec,
)
from mlops_platform.k8s.monitoring import PROMETHEUS_URL, service_monitor_spec
from mlops_platform.k8s.project_gateway import parent_ref
from mlops_platform.k8s.provider import k8s_opts
from mlops_platform.k8s.serving_args import (
    QUANTITY,
    KServeDeploymentMode,
    ModelServingArgs,
    ServingMode,
    args_issues,
    image_is_pinned,
)

__all__ = ["QUANTITY", "KServeDeploymentMode", "ModelServing", "ModelServingArgs", "ServingMode", "args_issues",
           "image_is_pinned"]

NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
TRACK_LABEL = "mlops.io/track"
#: On every pod of the model, including Flagger's `-primary` copy (Flagger rewrites only the selector label).
MODEL_LABEL = "mlops.io/model"
KSERVE_LABEL = "serving.kserve.io/inferenceservice"
KSERVE_VISIBILITY_LABEL = "networking.kserve.io/visibility"


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


def pod_labels(args: ModelServingArgs) -> dict[str, str]:
    return {NAME_LABEL: args.name, COMPONENT_LABEL: "serving", TRACK_LABEL: "stable", MODEL_LABEL: args.name}


def deployment_spec(args: ModelServingArgs, replicas: int) -> dict[str, Any]:
    # the selector predates progressive delivery and is immutable: changing it would replace the Deployment
    selector = {NAME_LABEL: args.name, TRACK_LABEL: "stable"}
    return {"replicas": replicas, "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": pod_labels(args)},
                         "spec": pod_spec(args, args.image, {MODEL_LABEL: args.name})}}


def target_deployment(args: ModelServingArgs) -> str:
    """The Deployment that serves the model: ModelServing's own, or the one KServe creates for the predictor."""
    return f"{args.name}-predictor" if args.mode is ServingMode.KSERVE else args.name


def kserve_autoscaler_class(args: ModelServingArgs) -> str:
    """`hpa` while KServe scales (instant delivery on CPU); `external` when the platform's autoscaler must be
    one Flagger can reference, or a KEDA one."""
    return "hpa" if not args.progressive and args.signal is ScaleSignal.CPU else "external"


def inference_service(args: ModelServingArgs) -> dict[str, Any]:
    """InferenceService manifest (apiVersion/kind/metadata/spec) for `mode=kserve`."""
    pod = pod_spec(args, args.image, {KSERVE_LABEL: args.name})
    predictor: dict[str, Any] = {"minReplicas": args.min_replicas, "maxReplicas": args.max_replicas,
                                 "labels": {MODEL_LABEL: args.name}, **pod}
    autoscaler = kserve_autoscaler_class(args)
    if autoscaler == "hpa":
        predictor.update(scaleMetric="cpu", scaleTarget=args.target_cpu_utilization)
    annotations = {"serving.kserve.io/deploymentMode": args.kserve_deployment_mode.value,
                   "serving.kserve.io/autoscalerClass": autoscaler}
    # the model's route is Flagger's or ModelServing's, on the project's Gateway: never KServe's
    labels = {COMPONENT_LABEL: "serving", KSERVE_VISIBILITY_LABEL: "cluster-local"}
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": m.meta(args.name, args.namespace, labels, annotations), "spec": {"predictor": predictor}}


def autoscaler_manifest(args: ModelServingArgs) -> tuple[str, dict[str, Any]] | None:
    """(kind, spec) of the autoscaler the platform creates; None when KServe's own HPA scales."""
    deployment = target_deployment(args)
    if args.mode is ServingMode.KSERVE and kserve_autoscaler_class(args) == "hpa":
        return None
    if args.signal is ScaleSignal.CPU:
        return "HorizontalPodAutoscaler", hpa_spec(deployment, args.min_replicas, args.max_replicas,
                                                   args.target_cpu_utilization)
    target = args.target_in_flight if args.signal is ScaleSignal.IN_FLIGHT else args.target_gpu_utilization
    return "ScaledObject", scaled_object_spec(
        deployment=deployment, namespace=args.namespace, signal=args.signal, target=target,
        min_replicas=args.min_replicas, max_replicas=args.max_replicas, scale_to_zero=args.scale_to_zero)


def canary_target(args: ModelServingArgs) -> CanaryTarget:
    assert args.ingress_domain  # args_issues requires it for progressive delivery
    return CanaryTarget(
        deployment=target_deployment(args), service=args.name,
        autoscaler=autoscaler_ref(args.signal, args.name, args.namespace, target_deployment(args)),
        host=f"{args.name}.{args.namespace}.{args.ingress_domain}",
        gateway=parent_ref(args.namespace), port=args.port,
        min_replicas=args.min_replicas, max_replicas=args.max_replicas,
        labels={NAME_LABEL: args.name, COMPONENT_LABEL: "serving"})


def instant_route_spec(args: ModelServingArgs) -> dict[str, Any]:
    """HTTPRoute of an `instant` model on the project's Gateway: its host, all traffic to its Service (KServe's
    RawDeployment predictor Service `<name>-predictor`, port 80, or the platform's `<name>`, port 80)."""
    service = target_deployment(args)  # `<name>-predictor` in kserve mode: KServe names the Service alike
    return {"parentRefs": [parent_ref(args.namespace)],
            "hostnames": [f"{args.name}.{args.namespace}.{args.ingress_domain}"],
            "rules": [{"backendRefs": [{"group": "", "kind": "Service", "name": service, "port": 80}]}]}


def scrape_spec(args: ModelServingArgs) -> tuple[str, dict[str, Any]]:
    """(kind, spec) of what scrapes /metrics. Under Flagger the primary pods sit behind Services Flagger
    creates, so a PodMonitor selects every pod of the model; otherwise a ServiceMonitor as before."""
    if args.progressive:
        selector = {KSERVE_LABEL: args.name} if args.mode is ServingMode.KSERVE else {MODEL_LABEL: args.name}
        return "PodMonitor", {"selector": {"matchLabels": selector},
                              "namespaceSelector": {"matchNames": [args.namespace]},
                              "podMetricsEndpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}]}
    if args.mode is ServingMode.KSERVE:
        scrape = service_monitor_spec({KSERVE_LABEL: args.name}, "http", args.namespace)
        scrape["endpoints"][0] = {"targetPort": args.port, "path": "/metrics", "interval": "30s"}
        return "ServiceMonitor", scrape
    return "ServiceMonitor", service_monitor_spec({NAME_LABEL: args.name}, "http", args.namespace)


class ModelServing(pulumi.ComponentResource):
    """One served model in a project namespace (see module docstring for what it creates)."""

    def __init__(self, name: str, args: ModelServingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:ModelServing", name, None, opts)
        kopts = k8s_opts(self, args.provider)
        if args.mode is ServingMode.KSERVE:
            isvc = inference_service(args)
            workload: pulumi.Resource = k8s.apiextensions.CustomResource(
                f"{name}-isvc", api_version=isvc["apiVersion"], kind=isvc["kind"], metadata=isvc["metadata"],
                spec=isvc["spec"], opts=kopts)
            # KServe creates no disruption budget for predictor pods: node drains could take the model down.
            self._pdb(name, args, {KSERVE_LABEL: args.name}, kopts)
        else:
            workload = self._deployment_mode(name, args)
        scaler = self._autoscaler(name, args, k8s_opts(self, args.provider, [workload]))
        kind, scrape = scrape_spec(args)
        k8s.apiextensions.CustomResource(
            f"{name}-monitor", api_version="monitoring.coreos.com/v1", kind=kind,
            metadata=m.meta(args.name, args.namespace, {NAME_LABEL: args.name}), spec=scrape, opts=kopts)
        rule = drift_rule(args.drift_threshold, f'namespace="{args.namespace}",model="{args.name}"',
                          name="ModelDriftAboveThreshold")
        k8s.apiextensions.CustomResource(
            f"{name}-drift", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
            metadata=m.meta(f"{args.name}-drift", args.namespace, {NAME_LABEL: args.name}),
            spec={"groups": [{"name": f"{args.namespace}.{args.name}.drift", "rules": [rule]}]}, opts=kopts)
        if args.progressive:
            self._canary(name, args, k8s_opts(self, args.provider, [workload, *scaler]))
        elif args.ingress_domain:
            k8s.apiextensions.CustomResource(
                f"{name}-route", api_version="gateway.networking.k8s.io/v1", kind="HTTPRoute",
                metadata=m.meta(args.name, args.namespace, {NAME_LABEL: args.name}), spec=instant_route_spec(args),
                opts=k8s_opts(self, args.provider, [workload]))
        self.service_host = f"{args.name}.{args.namespace}.svc.cluster.local"
        self.register_outputs({"service_host": self.service_host})

    def _deployment_mode(self, name: str, args: ModelServingArgs) -> pulumi.Resource:
        ns, labels = args.namespace, {NAME_LABEL: args.name, COMPONENT_LABEL: "serving"}
        # the autoscaler (and Flagger, which scales the analysed Deployment to zero between releases) owns
        # replicas after creation; Pulumi sets the initial count only
        scaled = pulumi.ResourceOptions.merge(k8s_opts(self, args.provider),
                                              pulumi.ResourceOptions(ignore_changes=["spec.replicas"]))
        deployment = k8s.apps.v1.Deployment(f"{name}-deployment", metadata=m.meta(args.name, ns, labels),
                                            spec=deployment_spec(args, args.min_replicas), opts=scaled)
        kopts = k8s_opts(self, args.provider)
        if not args.progressive:  # under Flagger, `<name>`, `-primary` and `-canary` Services are Flagger's
            k8s.core.v1.Service(f"{name}-service", metadata=m.meta(args.name, ns, labels), spec={
                "type": "ClusterIP", "selector": {NAME_LABEL: args.name},
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}, opts=kopts)
        self._pdb(name, args, {MODEL_LABEL: args.name}, kopts)
        return deployment

    def _autoscaler(self, name: str, args: ModelServingArgs, opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
        made = autoscaler_manifest(args)
        if made is None:
            return []
        kind, spec = made
        meta = m.meta(args.name, args.namespace, {NAME_LABEL: args.name, COMPONENT_LABEL: "serving"})
        if kind == "HorizontalPodAutoscaler":
            return [k8s.autoscaling.v2.HorizontalPodAutoscaler(f"{name}-hpa", metadata=meta, spec=spec, opts=opts)]
        return [k8s.apiextensions.CustomResource(f"{name}-scaler", api_version=KEDA_API, kind=kind, metadata=meta,
                                                 spec=spec, opts=opts)]

    def _canary(self, name: str, args: ModelServingArgs, opts: pulumi.ResourceOptions) -> None:
        labels = {NAME_LABEL: args.name, COMPONENT_LABEL: "serving"}
        templates: dict[str, str] = {}
        drift = args.analysis.max_drift is not None
        for key, query in metric_queries(args.name, drift).items():
            templates[key] = f"{args.name}-{key}"
            k8s.apiextensions.CustomResource(
                f"{name}-metric-{key}", api_version=CANARY_API, kind="MetricTemplate",
                metadata=m.meta(templates[key], args.namespace, labels),
                spec=metric_template_spec(query, PROMETHEUS_URL), opts=opts)
        spec = canary_spec(canary_target(args), analysis(args.delivery, args.analysis,
                                                         analysis_metrics(templates, args.analysis),
                                                         tuple(args.webhooks)))
        k8s.apiextensions.CustomResource(f"{name}-canary", api_version=CANARY_API, kind="Canary",
                                         metadata=m.meta(args.name, args.namespace, labels), spec=spec, opts=opts)

    def _pdb(self, name: str, args: ModelServingArgs, selector: dict[str, str],
             kopts: pulumi.ResourceOptions) -> None:
        labels = {NAME_LABEL: args.name, COMPONENT_LABEL: "serving"}
        k8s.policy.v1.PodDisruptionBudget(f"{name}-pdb", metadata=m.meta(args.name, args.namespace, labels), spec={
            "maxUnavailable": 1, "selector": {"matchLabels": selector}}, opts=kopts)
