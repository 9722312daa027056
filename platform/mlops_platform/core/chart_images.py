"""Every image each pinned chart renders, by the values path that sets it: what an air-gapped environment
rewrites to the account's ECR (core/image_mirror.py). Read from each chart's values.yaml at the pinned
version (recorded in tests/fixtures/upstream/images.json, which tests/k8s/test_air_gapped.py compares with
this table); change both when a chart is bumped.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mlops_platform.core.image_mirror import Mirror, needs_manual_copy


class ImageStyle(StrEnum):
    """How a chart spells one image in its values."""

    SPLIT = "split"  # `<path>.registry` + `<path>.repository` (tag apart)
    REPOSITORY = "repository"  # `<path>.repository` with the registry host in it (tag apart)
    STRING = "string"  # `<path>` is the whole reference (tag apart or included)
    NAMED = "named"  # `<path>.repository` (host + path) + `<path>.image` (last segment), tag in `.version`


@dataclass(frozen=True)
class ChartImage:
    path: str
    """Dotted values path of the image map (SPLIT, REPOSITORY) or string (STRING)."""
    upstream: str
    """The chart's default reference (`host/path[:tag]`; `docker.io` spelled out)."""
    style: ImageStyle
    tag: str = ""
    """Tag the chart renders, for images an operator copies by hand (`mlplat mirror`); '' otherwise."""
    runs: bool = True
    """Whether the platform's values run it (False: rewritten all the same, never copied)."""


S, R, STR = ImageStyle.SPLIT, ImageStyle.REPOSITORY, ImageStyle.STRING


def _sub(prefix: str, images: tuple[ChartImage, ...]) -> tuple[ChartImage, ...]:
    """A subchart's images under its values key (Helm passes `<subchart>.*` to the subchart)."""
    return tuple(ChartImage(f"{prefix}.{i.path}", i.upstream, i.style, i.tag, i.runs) for i in images)


_RBAC_PROXY = ChartImage("kubeRBACProxy.image", "quay.io/brancz/kube-rbac-proxy", S, runs=False)
_GRAFANA = (ChartImage("image", "docker.io/grafana/grafana", S),
            ChartImage("testFramework.image", "docker.io/bats/bats", S, runs=False),
            ChartImage("downloadDashboardsImage", "docker.io/curlimages/curl", S),
            ChartImage("initChownData.image", "docker.io/library/busybox", S),
            ChartImage("sidecar.image", "quay.io/kiwigrid/k8s-sidecar", S),
            ChartImage("imageRenderer.image", "docker.io/grafana/grafana-image-renderer", S, runs=False))
_KSM = (ChartImage("image", "registry.k8s.io/kube-state-metrics/kube-state-metrics", S), _RBAC_PROXY)
_NODE_EXPORTER = (ChartImage("image", "quay.io/prometheus/node-exporter", S), _RBAC_PROXY)
_KPS = (ChartImage("crds.upgradeJob.image.busybox", "docker.io/busybox", S),
        ChartImage("crds.upgradeJob.image.kubectl", "registry.k8s.io/kubectl", S),
        ChartImage("alertmanager.alertmanagerSpec.image", "quay.io/prometheus/alertmanager", S),
        ChartImage("prometheusOperator.admissionWebhooks.deployment.image",
                   "quay.io/prometheus-operator/admission-webhook", S),
        ChartImage("prometheusOperator.admissionWebhooks.patch.image",
                   "registry.k8s.io/ingress-nginx/kube-webhook-certgen", S),
        ChartImage("prometheusOperator.image", "quay.io/prometheus-operator/prometheus-operator", S),
        ChartImage("prometheusOperator.prometheusConfigReloader.image",
                   "quay.io/prometheus-operator/prometheus-config-reloader", S),
        ChartImage("prometheusOperator.thanosImage", "quay.io/thanos/thanos", S),
        ChartImage("prometheus.prometheusSpec.image", "quay.io/prometheus/prometheus", S),
        ChartImage("thanosRuler.thanosRulerSpec.image", "quay.io/thanos/thanos", S, runs=False),
        *_sub("grafana", _GRAFANA), *_sub("kube-state-metrics", _KSM),
        *_sub("prometheus-node-exporter", _NODE_EXPORTER))
_KSERVE_RUNTIMES = ("tensorflow:tensorflow/serving", "mlserver:docker.io/seldonio/mlserver",
                    "sklearnserver:kserve/sklearnserver", "xgbserver:kserve/xgbserver",
                    "huggingfaceserver:kserve/huggingfaceserver", "pmmlserver:kserve/pmmlserver",
                    "paddleserver:kserve/paddleserver", "lgbserver:kserve/lgbserver",
                    "torchserve:pytorch/torchserve-kfs", "art:kserve/art-explainer")
_KSERVE = (*(ChartImage(f"kserve.{p}.image", f"docker.io/kserve/{i}", STR) for p, i in (
    ("agent", "agent"), ("router", "router"), ("storage", "storage-initializer"),
    ("controller", "kserve-controller"))),
    ChartImage("kserve.controller.rbacProxyImage", "quay.io/brancz/kube-rbac-proxy:v0.18.0", STR),
    *(ChartImage(f"kserve.servingruntime.{r.split(':')[0]}.image", r.split(":", 1)[1], STR) for r in _KSERVE_RUNTIMES),
    # NVIDIA's registry has no pull-through cache: copied by hand, at the chart's runtime tag
    ChartImage("kserve.servingruntime.tritonserver.image", "nvcr.io/nvidia/tritonserver", STR, tag="23.05-py3"),
    ChartImage("kserve.localmodel.controller.image", "docker.io/kserve/kserve-localmodel-controller", STR, runs=False),
    ChartImage("kserve.localmodel.agent.image", "docker.io/kserve/kserve-localmodelnode-agent", STR, runs=False))

#: NVIDIA GPU Operator v26.3.3: the operator, its validator (both at the chart's appVersion) and mig-manager run;
#: every other operand is disabled by the platform's values (k8s/mig_manager.py) and only rewritten.
_GPU_OPERATOR_OFF = (("driver", "nvidia/driver"), ("driver.manager", "nvidia/cloud-native/k8s-driver-manager"),
                     ("toolkit", "nvidia/k8s/container-toolkit"), ("devicePlugin", "nvidia/k8s-device-plugin"),
                     ("dcgm", "nvidia/cloud-native/dcgm"), ("dcgmExporter", "nvidia/k8s/dcgm-exporter"),
                     ("gfd", "nvidia/k8s-device-plugin"), ("nodeStatusExporter", "nvidia/gpu-operator"),
                     ("gds", "nvidia/cloud-native/nvidia-fs"), ("gdrcopy", "nvidia/cloud-native/gdrdrv"),
                     # values.yaml gives vgpuManager no repository (a licensed image users build): the name only
                     ("vgpuManager", "nvidia/vgpu-manager"),
                     ("vgpuManager.driverManager", "nvidia/cloud-native/k8s-driver-manager"),
                     ("vgpuDeviceManager", "nvidia/cloud-native/vgpu-device-manager"),
                     ("vfioManager", "nvidia/cloud-native/k8s-driver-manager"),
                     ("vfioManager.driverManager", "nvidia/cloud-native/k8s-driver-manager"),
                     ("sandboxDevicePlugin", "nvidia/kubevirt-gpu-device-plugin"),
                     ("kataSandboxDevicePlugin", "nvidia/cloud-native/nvidia-sandbox-device-plugin"),
                     ("ccManager", "nvidia/cloud-native/k8s-cc-manager"))
_GPU_OPERATOR = (ChartImage("operator", "nvcr.io/nvidia/gpu-operator", ImageStyle.NAMED, tag="v26.3.3"),
                 ChartImage("validator", "nvcr.io/nvidia/gpu-operator", ImageStyle.NAMED, tag="v26.3.3"),
                 ChartImage("migManager", "nvcr.io/nvidia/cloud-native/k8s-mig-manager", ImageStyle.NAMED,
                            tag="v0.14.2"),
                 *(ChartImage(path, f"nvcr.io/{image}", ImageStyle.NAMED, runs=False)
                   for path, image in _GPU_OPERATOR_OFF))

#: Chart key (versions.CHARTS, or `cluster-autoscaler` of the version matrix) → its images.
CHART_IMAGES: dict[str, tuple[ChartImage, ...]] = {
    "argo-events": (ChartImage("global.image", "quay.io/argoproj/argo-events", R),),
    "argo-workflows": (ChartImage("crds.upgradeJob.image", "registry.k8s.io/kubectl", R, runs=False),
                       ChartImage("controller.image", "quay.io/argoproj/workflow-controller", S),
                       ChartImage("executor.image", "quay.io/argoproj/argoexec", S),
                       ChartImage("server.image", "quay.io/argoproj/argocli", S)),
    "aws-load-balancer-controller": (ChartImage("image", "public.ecr.aws/eks/aws-load-balancer-controller", R),),
    # the EKS images account's registry has no pull-through cache: copied by hand, at the chart's tag
    "aws-efa-k8s-device-plugin": (ChartImage("image", "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/"
                                             "aws-efa-k8s-device-plugin", R, tag="v0.5.20"),),
    "cert-manager": tuple(ChartImage(p, f"quay.io/jetstack/cert-manager-{n}", R) for p, n in (
        ("image", "controller"), ("webhook.image", "webhook"), ("cainjector.image", "cainjector"),
        ("acmesolver.image", "acmesolver"), ("startupapicheck.image", "startupapicheck"))),
    "cluster-autoscaler": (ChartImage("image", "registry.k8s.io/autoscaling/cluster-autoscaler", R),),
    "dcgm-exporter": (ChartImage("image", "nvcr.io/nvidia/k8s/dcgm-exporter", R, tag="4.2.3-4.1.1-ubuntu22.04"),),
    "flagger": (ChartImage("image", "ghcr.io/fluxcd/flagger", R),
                ChartImage("prometheus.image", "docker.io/prom/prometheus:v2.41.0", STR, runs=False)),
    # the chart's default is templated (charts/gateway-helm/templates/_helpers.tpl "eg.image"): repository
    # wins over the global image, with the chart's appVersion as tag
    "envoy-gateway": (ChartImage("deployment.envoyGateway.image", "docker.io/envoyproxy/gateway", R),
                      ChartImage("global.images.ratelimit.image", "docker.io/envoyproxy/ratelimit:bb4dae24", STR,
                                 runs=False)),
    "gpu-operator": _GPU_OPERATOR,
    "karpenter": (ChartImage("controller.image", "public.ecr.aws/karpenter/controller", R),),
    "karpenter-crd": (),
    "keda": tuple(ChartImage(f"image.{k}", f"ghcr.io/kedacore/{n}", S) for k, n in (
        ("keda", "keda"), ("metricsApiServer", "keda-metrics-apiserver"), ("webhooks", "keda-admission-webhooks"))),
    "kserve-crd": (),
    "kserve": _KSERVE,
    "kube-prometheus-stack": _KPS,
    "kuberay-operator": (ChartImage("image", "quay.io/kuberay/operator", R),),
    # the platform pins the manager's image itself (versions.KUEUE_IMAGE); KueueViz stays off
    "kueue": (ChartImage("controllerManager.manager.image", "registry.k8s.io/kueue/kueue", R),
              *(ChartImage(f"kueueViz.{p}.image", f"us-central1-docker.pkg.dev/k8s-staging-images/kueue/kueueviz-{p}",
                           R, runs=False) for p in ("backend", "frontend"))),
    "nvidia-device-plugin": (ChartImage("image", "nvcr.io/nvidia/k8s-device-plugin", R, tag="v0.17.1"),),
    "opencost": (ChartImage("opencost.exporter.image", "ghcr.io/opencost/opencost", S),
                 ChartImage("opencost.ui.image", "ghcr.io/opencost/opencost-ui", S, runs=False),
                 ChartImage("opencost.sigV4Proxy.image", "public.ecr.aws/aws-observability/aws-sigv4-proxy:latest", STR,
                            runs=False)),
}

#: Envoy Gateway's data-plane image when no EnvoyProxy names one (envoyproxy/gateway v1.4.2
#: api/v1alpha1/shared_types.go DefaultEnvoyProxyImage): the models' EnvoyProxy sets it when mirroring.
ENVOY_PROXY_IMAGE = "docker.io/envoyproxy/envoy:distroless-v1.34.1"


def _put(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        doc = doc.setdefault(part, {})
    doc[leaf] = value


def mirrored_values(chart_key: str, mirror: Mirror) -> dict[str, Any]:
    """Chart values that point every image of a chart at the account's ECR (merged over the platform's own
    values, so an image the platform pins, like Kueue's, keeps its tag and moves to the mirror)."""
    out: dict[str, Any] = {}
    for image in CHART_IMAGES[chart_key]:
        repository = mirror.repository(image.upstream)
        if image.style is ImageStyle.SPLIT:
            _put(out, image.path, {"registry": mirror.registry, "repository": repository})
        elif image.style is ImageStyle.REPOSITORY:
            _put(out, f"{image.path}.repository", f"{mirror.registry}/{repository}")
        elif image.style is ImageStyle.NAMED:
            parent, name = repository.rsplit("/", 1)
            _put(out, image.path, {"repository": f"{mirror.registry}/{parent}", "image": name})
        else:
            _put(out, image.path, mirror.image(image.upstream))
    return out


@dataclass(frozen=True)
class ManualCopy:
    """An image no pull-through cache serves: copied once per version bump (`mlplat mirror ENV`)."""

    source: str
    """Upstream reference with the tag the chart renders."""
    target: str
    """The same image in the account's ECR."""
    repository: str
    """Its platform repository, under the environment's namespace (`mirror/<path>`, `naming.ecr_repository`)."""


def manual_copies(chart_keys: list[str], mirror: Mirror) -> list[ManualCopy]:
    """The copies the given charts need, for the images they run (deduplicated, in chart order)."""
    copies: dict[str, ManualCopy] = {}
    for key in chart_keys:
        for image in CHART_IMAGES[key]:
            if image.runs and needs_manual_copy(image.upstream):
                source = f"{image.upstream}{':' + image.tag if image.tag else ''}"
                repository = mirror.repository(source).removeprefix(f"{mirror.namespace}/")
                copies[source] = ManualCopy(source, mirror.image(source), repository)
    return list(copies.values())

