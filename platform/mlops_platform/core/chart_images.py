"""Every image each pinned chart renders, by the values path that sets it: what an air-gapped environment
rewrites to the account's ECR (core/image_mirror.py). Read from each chart's values.yaml at the pinned
version (recorded in tests/fixtures/upstream/images.json, which tests/k8s/test_air_gapped.py compares with
this table); change both when a chart is bumped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from mlops_platform.core.image_mirror import Mirror, needs_manual_copy


class ImageStyle(StrEnum):
    """How a chart spells one image in its values."""

    SPLIT = "split"  # `<path>.registry` + `<path>.repository` (tag apart)
    REPOSITORY = "repository"  # `<path>.repository` with the registry host in it (tag apart)
    STRING = "string"  # `<path>` is the whole reference (tag apart or included)
    NAMED = "named"  # `<path>.repository` (host + path) + `<path>.image` (last segment), tag in `.version`


@dataclass(frozen=True, kw_only=True)
class ChartImage:
    """One image a chart renders: where its values set it, what it defaults to, and whether it runs."""

    path: str
    """Dotted values path of the image map (SPLIT, REPOSITORY, NAMED) or string (STRING)."""
    upstream: str
    """The chart's default reference (`host/path[:tag]`; `docker.io` spelled out)."""
    style: ImageStyle
    """How the chart's values spell it (`ImageStyle`)."""
    tag: str = ""
    """Tag the chart renders, for images an operator copies by hand (`mlplat mirror`); '' otherwise."""
    runs: bool = True
    """Whether the platform's values run it (False: rewritten all the same, never copied)."""


def _sub(prefix: str, images: tuple[ChartImage, ...]) -> tuple[ChartImage, ...]:
    """A subchart's images under its values key (Helm passes `<subchart>.*` to the subchart)."""
    return tuple(replace(i, path=f"{prefix}.{i.path}") for i in images)


def _images(style: ImageStyle, pairs: tuple[tuple[str, str], ...], *, runs: bool = True) -> tuple[ChartImage, ...]:
    """Images of one style given as (values path, upstream) pairs."""
    return tuple(ChartImage(path=path, upstream=upstream, style=style, runs=runs) for path, upstream in pairs)


_RBAC_PROXY = ChartImage(path="kubeRBACProxy.image", upstream="quay.io/brancz/kube-rbac-proxy",
                         style=ImageStyle.SPLIT, runs=False)
_GRAFANA = (*_images(ImageStyle.SPLIT, (("image", "docker.io/grafana/grafana"),
                                        ("downloadDashboardsImage", "docker.io/curlimages/curl"),
                                        ("initChownData.image", "docker.io/library/busybox"),
                                        ("sidecar.image", "quay.io/kiwigrid/k8s-sidecar"))),
            *_images(ImageStyle.SPLIT, (("testFramework.image", "docker.io/bats/bats"),
                                        ("imageRenderer.image", "docker.io/grafana/grafana-image-renderer")),
                     runs=False))
_KSM = (ChartImage(path="image", upstream="registry.k8s.io/kube-state-metrics/kube-state-metrics",
                   style=ImageStyle.SPLIT), _RBAC_PROXY)
_NODE_EXPORTER = (ChartImage(path="image", upstream="quay.io/prometheus/node-exporter", style=ImageStyle.SPLIT),
                  _RBAC_PROXY)
_KPS = (*_images(ImageStyle.SPLIT, (
    ("crds.upgradeJob.image.busybox", "docker.io/busybox"),
    ("crds.upgradeJob.image.kubectl", "registry.k8s.io/kubectl"),
    ("alertmanager.alertmanagerSpec.image", "quay.io/prometheus/alertmanager"),
    ("prometheusOperator.admissionWebhooks.deployment.image", "quay.io/prometheus-operator/admission-webhook"),
    ("prometheusOperator.admissionWebhooks.patch.image", "registry.k8s.io/ingress-nginx/kube-webhook-certgen"),
    ("prometheusOperator.image", "quay.io/prometheus-operator/prometheus-operator"),
    ("prometheusOperator.prometheusConfigReloader.image", "quay.io/prometheus-operator/prometheus-config-reloader"),
    ("prometheusOperator.thanosImage", "quay.io/thanos/thanos"),
    ("prometheus.prometheusSpec.image", "quay.io/prometheus/prometheus"))),
    ChartImage(path="thanosRuler.thanosRulerSpec.image", upstream="quay.io/thanos/thanos", style=ImageStyle.SPLIT,
               runs=False),
    *_sub("grafana", _GRAFANA), *_sub("kube-state-metrics", _KSM),
    *_sub("prometheus-node-exporter", _NODE_EXPORTER))
_KSERVE_RUNTIMES = ("tensorflow:tensorflow/serving", "mlserver:docker.io/seldonio/mlserver",
                    "sklearnserver:kserve/sklearnserver", "xgbserver:kserve/xgbserver",
                    "huggingfaceserver:kserve/huggingfaceserver", "pmmlserver:kserve/pmmlserver",
                    "paddleserver:kserve/paddleserver", "lgbserver:kserve/lgbserver",
                    "torchserve:pytorch/torchserve-kfs", "art:kserve/art-explainer")
_KSERVE = (
    *_images(ImageStyle.STRING, tuple((f"kserve.{p}.image", f"docker.io/kserve/{i}") for p, i in (
        ("agent", "agent"), ("router", "router"), ("storage", "storage-initializer"),
        ("controller", "kserve-controller")))),
    ChartImage(path="kserve.controller.rbacProxyImage", upstream="quay.io/brancz/kube-rbac-proxy:v0.18.0",
               style=ImageStyle.STRING),
    *_images(ImageStyle.STRING, tuple((f"kserve.servingruntime.{r.split(':')[0]}.image", r.split(":", 1)[1])
                                      for r in _KSERVE_RUNTIMES)),
    # NVIDIA's registry has no pull-through cache: copied by hand, at the chart's runtime tag
    ChartImage(path="kserve.servingruntime.tritonserver.image", upstream="nvcr.io/nvidia/tritonserver",
               style=ImageStyle.STRING, tag="23.05-py3"),
    *_images(ImageStyle.STRING, (
        ("kserve.localmodel.controller.image", "docker.io/kserve/kserve-localmodel-controller"),
        ("kserve.localmodel.agent.image", "docker.io/kserve/kserve-localmodelnode-agent")), runs=False))

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
_GPU_OPERATOR = (
    ChartImage(path="operator", upstream="nvcr.io/nvidia/gpu-operator", style=ImageStyle.NAMED, tag="v26.3.3"),
    ChartImage(path="validator", upstream="nvcr.io/nvidia/gpu-operator", style=ImageStyle.NAMED, tag="v26.3.3"),
    ChartImage(path="migManager", upstream="nvcr.io/nvidia/cloud-native/k8s-mig-manager", style=ImageStyle.NAMED,
               tag="v0.14.2"),
    *_images(ImageStyle.NAMED, tuple((path, f"nvcr.io/{image}") for path, image in _GPU_OPERATOR_OFF), runs=False))

#: Chart key (versions.CHARTS, or `cluster-autoscaler` of the version matrix) → its images.
CHART_IMAGES: dict[str, tuple[ChartImage, ...]] = {
    "argo-events": _images(ImageStyle.REPOSITORY, (("global.image", "quay.io/argoproj/argo-events"),)),
    "argo-workflows": (ChartImage(path="crds.upgradeJob.image", upstream="registry.k8s.io/kubectl",
                                  style=ImageStyle.REPOSITORY, runs=False),
                       *_images(ImageStyle.SPLIT, (("controller.image", "quay.io/argoproj/workflow-controller"),
                                                   ("executor.image", "quay.io/argoproj/argoexec"),
                                                   ("server.image", "quay.io/argoproj/argocli")))),
    "aws-load-balancer-controller": _images(ImageStyle.REPOSITORY, (
        ("image", "public.ecr.aws/eks/aws-load-balancer-controller"),)),
    # the EKS images account's registry has no pull-through cache: copied by hand, at the chart's tag
    "aws-efa-k8s-device-plugin": (ChartImage(
        path="image", upstream="602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/aws-efa-k8s-device-plugin",
        style=ImageStyle.REPOSITORY, tag="v0.5.20"),),
    "cert-manager": _images(ImageStyle.REPOSITORY, tuple((p, f"quay.io/jetstack/cert-manager-{n}") for p, n in (
        ("image", "controller"), ("webhook.image", "webhook"), ("cainjector.image", "cainjector"),
        ("acmesolver.image", "acmesolver"), ("startupapicheck.image", "startupapicheck")))),
    "cluster-autoscaler": _images(ImageStyle.REPOSITORY, (
        ("image", "registry.k8s.io/autoscaling/cluster-autoscaler"),)),
    "dcgm-exporter": (ChartImage(path="image", upstream="nvcr.io/nvidia/k8s/dcgm-exporter",
                                 style=ImageStyle.REPOSITORY, tag="4.2.3-4.1.1-ubuntu22.04"),),
    "flagger": (ChartImage(path="image", upstream="ghcr.io/fluxcd/flagger", style=ImageStyle.REPOSITORY),
                ChartImage(path="prometheus.image", upstream="docker.io/prom/prometheus:v2.41.0",
                           style=ImageStyle.STRING, runs=False)),
    # the chart's default is templated (charts/gateway-helm/templates/_helpers.tpl "eg.image"): repository
    # wins over the global image, with the chart's appVersion as tag
    "envoy-gateway": (ChartImage(path="deployment.envoyGateway.image", upstream="docker.io/envoyproxy/gateway",
                                 style=ImageStyle.REPOSITORY),
                      ChartImage(path="global.images.ratelimit.image",
                                 upstream="docker.io/envoyproxy/ratelimit:bb4dae24", style=ImageStyle.STRING,
                                 runs=False)),
    "gpu-operator": _GPU_OPERATOR,
    "karpenter": _images(ImageStyle.REPOSITORY, (("controller.image", "public.ecr.aws/karpenter/controller"),)),
    "karpenter-crd": (),
    "keda": _images(ImageStyle.SPLIT, tuple((f"image.{k}", f"ghcr.io/kedacore/{n}") for k, n in (
        ("keda", "keda"), ("metricsApiServer", "keda-metrics-apiserver"), ("webhooks", "keda-admission-webhooks")))),
    "kserve-crd": (),
    "kserve": _KSERVE,
    "kube-prometheus-stack": _KPS,
    "kuberay-operator": _images(ImageStyle.REPOSITORY, (("image", "quay.io/kuberay/operator"),)),
    # the platform pins the manager's image itself (versions.KUEUE_IMAGE); KueueViz stays off
    "kueue": (ChartImage(path="controllerManager.manager.image", upstream="registry.k8s.io/kueue/kueue",
                         style=ImageStyle.REPOSITORY),
              *_images(ImageStyle.REPOSITORY, tuple(
                  (f"kueueViz.{p}.image", f"us-central1-docker.pkg.dev/k8s-staging-images/kueue/kueueviz-{p}")
                  for p in ("backend", "frontend")), runs=False)),
    "nvidia-device-plugin": (ChartImage(path="image", upstream="nvcr.io/nvidia/k8s-device-plugin",
                                        style=ImageStyle.REPOSITORY, tag="v0.17.1"),),
    "opencost": (ChartImage(path="opencost.exporter.image", upstream="ghcr.io/opencost/opencost",
                            style=ImageStyle.SPLIT),
                 ChartImage(path="opencost.ui.image", upstream="ghcr.io/opencost/opencost-ui", style=ImageStyle.SPLIT,
                            runs=False),
                 ChartImage(path="opencost.sigV4Proxy.image",
                            upstream="public.ecr.aws/aws-observability/aws-sigv4-proxy:latest", style=ImageStyle.STRING,
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


@dataclass(frozen=True, kw_only=True)
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
                copies[source] = ManualCopy(source=source, target=mirror.image(source), repository=repository)
    return list(copies.values())

