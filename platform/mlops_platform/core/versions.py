"""Reviewed, pinned versions: EKS releases the platform supports, Helm charts and images.

Change versions only here, in a reviewed commit; nothing else in the code names a version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class EksRelease:
    version: str
    end_of_standard_support: date
    end_of_extended_support: date


#: Amazon EKS Kubernetes release calendar (docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html).
EKS_RELEASES: dict[str, EksRelease] = {
    r.version: r
    for r in (
        EksRelease("1.31", date(2025, 11, 26), date(2026, 11, 26)),
        EksRelease("1.32", date(2026, 3, 23), date(2027, 3, 23)),
        EksRelease("1.33", date(2026, 7, 29), date(2027, 7, 29)),
        EksRelease("1.34", date(2026, 12, 2), date(2027, 12, 2)),
        EksRelease("1.35", date(2027, 3, 27), date(2028, 3, 27)),
    )
}
SUPPORTED_EKS_VERSIONS: tuple[str, ...] = tuple(EKS_RELEASES)


# ---------------------------------------------------------------- in-cluster layer (charts and images)
@dataclass(frozen=True)
class HelmChart:
    """A pinned Helm chart: `repository` is an HTTP chart repo, or empty when `chart` is an oci:// URL."""

    chart: str
    version: str
    repository: str = ""


#: Every chart the in-cluster layer installs. Bump in a reviewed commit; never a floating version.
CHARTS: dict[str, HelmChart] = {
    "nvidia-device-plugin": HelmChart("nvidia-device-plugin", "0.17.1", "https://nvidia.github.io/k8s-device-plugin"),
    "dcgm-exporter": HelmChart("dcgm-exporter", "4.1.1", "https://nvidia.github.io/dcgm-exporter/helm-charts"),
    "cluster-autoscaler": HelmChart("cluster-autoscaler", "9.46.6", "https://kubernetes.github.io/autoscaler"),
    "cert-manager": HelmChart("cert-manager", "v1.17.2", "https://charts.jetstack.io"),
    "envoy-gateway": HelmChart("oci://docker.io/envoyproxy/gateway-helm", "v1.4.2"),
    "kserve-crd": HelmChart("oci://ghcr.io/kserve/charts/kserve-crd", "v0.15.2"),
    "kserve": HelmChart("oci://ghcr.io/kserve/charts/kserve", "v0.15.2"),
    "kube-prometheus-stack": HelmChart("kube-prometheus-stack", "72.6.2",
                                       "https://prometheus-community.github.io/helm-charts"),
    "kuberay-operator": HelmChart("kuberay-operator", "1.4.2", "https://ray-project.github.io/kuberay-helm/"),
}

#: cluster-autoscaler must match the control plane's minor version (its scheduler simulation is versioned).
CLUSTER_AUTOSCALER_IMAGE_TAGS: dict[str, str] = {
    "1.31": "v1.31.2", "1.32": "v1.32.1", "1.33": "v1.33.0", "1.34": "v1.34.0", "1.35": "v1.35.0",
}

@dataclass(frozen=True)
class MirroredImage:
    """An upstream image the platform runs from its own ECR repository (immutable tags, scanned on push,
    KMS-encrypted), so nothing in the cluster pulls from a third-party registry and a tag, once
    mirrored, can never change under the platform. Copy it once per version bump, before `pulumi up`:
    `crane copy {source}:{tag} <registry_urls[repository]>:{tag}` (see docs/kubernetes-layer.md)."""

    source: str
    tag: str
    repository: str


#: Images the platform runs outside Helm charts (charts pin their own images through the chart version).
MIRRORED_IMAGES: dict[str, MirroredImage] = {
    # -full = mlflow[extras,db,auth,...] (mlflow/mlflow docker/Dockerfile.full): the PostgreSQL driver,
    # boto3 for the database secret and Flask-WTF for the basic-auth app the tracking server runs
    "mlflow": MirroredImage("ghcr.io/mlflow/mlflow", "v3.17.2-full", "mirror/mlflow"),
}

#: RDS PostgreSQL major version of the tracking database. Major only: minor versions are upgraded by
#: RDS (auto_minor_version_upgrade), and a pinned minor would make the next `pulumi up` try a downgrade.
POSTGRES_ENGINE_VERSION = "16"
POSTGRES_PARAMETER_FAMILY = "postgres16"
