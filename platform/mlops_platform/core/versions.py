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
    # AWS EFA device plugin on the nodes of EFA pools (chart v0.5.30 ships plugin v0.5.20: its Chart.yaml)
    "aws-efa-k8s-device-plugin": HelmChart("aws-efa-k8s-device-plugin", "v0.5.30", "https://aws.github.io/eks-charts"),
    # NVIDIA GPU Operator with only its MIG manager enabled (pools with sharing: mig; k8s/mig_manager.py)
    "gpu-operator": HelmChart("gpu-operator", "v26.3.3", "https://helm.ngc.nvidia.com/nvidia"),
    "cert-manager": HelmChart("cert-manager", "v1.17.2", "https://charts.jetstack.io"),
    "envoy-gateway": HelmChart("oci://docker.io/envoyproxy/gateway-helm", "v1.4.2"),
    # chart 3.5.0 ships controller v3.5.0, whose IAM policy is aws/lb_controller_policy.json
    "aws-load-balancer-controller": HelmChart("aws-load-balancer-controller", "3.5.0", "https://aws.github.io/eks-charts"),
    "kserve-crd": HelmChart("oci://ghcr.io/kserve/charts/kserve-crd", "v0.15.2"),
    "kserve": HelmChart("oci://ghcr.io/kserve/charts/kserve", "v0.15.2"),
    "kube-prometheus-stack": HelmChart("kube-prometheus-stack", "72.6.2",
                                       "https://prometheus-community.github.io/helm-charts"),
    "kuberay-operator": HelmChart("kuberay-operator", "1.4.2", "https://ray-project.github.io/kuberay-helm/"),
    # Argo Workflows chart 1.0.x ships Argo Workflows v4.0 (the CRD schemas in tests/fixtures are v4.0.6)
    "argo-workflows": HelmChart("argo-workflows", "1.0.18", "https://argoproj.github.io/argo-helm"),
    "argo-events": HelmChart("argo-events", "2.4.22", "https://argoproj.github.io/argo-helm"),
    # Kueue's published OCI chart (kubernetes-sigs/kueue charts/kueue, README "Installation")
    "kueue": HelmChart("oci://registry.k8s.io/kueue/charts/kueue", "0.19.2"),
    # progressive delivery (Flagger, Gateway API provider) and event-driven autoscaling (KEDA) of model servers
    "flagger": HelmChart("flagger", "1.44.0", "https://flagger.app"),
    "keda": HelmChart("keda", "2.20.2", "https://kedacore.github.io/charts"),
    # Karpenter (gpu.provisioner: karpenter). The OCI chart's version has no `v` since 1.0; it bundles the
    # karpenter.sh/karpenter.k8s.aws CRDs (tests/fixtures/upstream/crds at v1.14.1).
    "karpenter": HelmChart("oci://public.ecr.aws/karpenter/karpenter", "1.14.1"),
    # Its CRDs as their own release, as Karpenter's upgrade guide recommends ("CRD Upgrades"): Helm installs a
    # chart's crds/ once and never upgrades them; the CRDs must move with the controller's version.
    "karpenter-crd": HelmChart("oci://public.ecr.aws/karpenter/karpenter-crd", "1.14.1"),
    # chart 2.5.17 ships OpenCost 1.120.1 (its Chart.yaml appVersion; image tags pinned by digest in values.yaml)
    "opencost": HelmChart("opencost", "2.5.17", "https://opencost.github.io/opencost-helm-chart"),
}

#: The Kueue controller image of chart 0.19.2 (its appVersion). Pinned in the values because the chart's
#: values.yaml in git names the staging image `:main`; the release job rewrites it only in the published chart.
KUEUE_IMAGE = ("registry.k8s.io/kueue/kueue", "v0.19.2")

#: Kubernetes minors the pinned Karpenter supports: its compatibility matrix (karpenter-provider-aws
#: website/content/en/v1.14/upgrading/compatibility.md: 1.31 needs >= 1.0.5, 1.35 >= 1.9, 1.36 >= 1.13).
KARPENTER_KUBERNETES = ("1.30", "1.31", "1.32", "1.33", "1.34", "1.35", "1.36")

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

#: Images the Argo Events controller starts for every project's event bus (JetStream). Its config lists
#: exactly these (k8s/pipelines.py), the way a chart pins its own images through the chart version.
EVENT_BUS_IMAGES: dict[str, str] = {
    "nats": "nats:2.10.10",
    "nats-exporter": "natsio/prometheus-nats-exporter:0.14.0",
    "nats-config-reloader": "natsio/nats-server-config-reloader:0.14.0",
}

#: RDS PostgreSQL major version of the tracking database. Major only: minor versions are upgraded by
#: RDS (auto_minor_version_upgrade), and a pinned minor would make the next `pulumi up` try a downgrade.
POSTGRES_ENGINE_VERSION = "16"
POSTGRES_PARAMETER_FAMILY = "postgres16"


# ---------------------------------------------------------------- version matrix (one row per cluster minor)
@dataclass(frozen=True, kw_only=True)
class MinorPins:
    """Everything pinned per EKS minor version; `mlplat upgrade` moves an environment from one row to the next.

    autoscaler_chart: the newest cluster-autoscaler chart whose appVersion has this minor (the image's
        scheduler simulation is versioned with Kubernetes), from the chart's Chart.yaml at each
        `cluster-autoscaler-chart-X` tag of kubernetes/autoscaler.
    autoscaler_image: the newest `cluster-autoscaler-1.N.P` release tag of that minor.
    node_release: the EKS-optimized AL2023 AMI release (`<kubelet>-<date>`) of that minor, from the
        awslabs/amazon-eks-ami CHANGELOG (one release covers every AL2023 AMI type, NVIDIA included).
    addons: EKS add-on name → addon_version, from the EKS User Guide's "latest version" tables.
    """

    autoscaler_chart: str
    autoscaler_image: str
    node_release: str
    addons: dict[str, str]


#: Add-on versions are copied from the EKS User Guide tables (managing-kube-proxy, managing-coredns,
#: managing-vpc-cni, the EBS CSI and Pod Identity agent pages) as stored in this project's reference corpus;
#: DescribeAddonVersions cannot be called here, so docs/operations.md says to check them on first deploy
#: (`aws eks describe-addon-versions --kubernetes-version 1.N --addon-name NAME`).
_SHARED_ADDONS = {"vpc-cni": "v1.20.1-eksbuild.3", "aws-ebs-csi-driver": "v1.66.0-eksbuild.1",
                  "eks-pod-identity-agent": "v1.3.9-eksbuild.1"}

#: AMI release v20260714 (awslabs/amazon-eks-ami CHANGELOG.md) for every supported minor.
VERSION_MATRIX: dict[str, MinorPins] = {
    "1.31": MinorPins(autoscaler_chart="9.44.0", autoscaler_image="v1.31.5", node_release="1.31.14-20260714",
                       addons={**_SHARED_ADDONS, "kube-proxy": "v1.31.14-eksbuild.20",
                               "coredns": "v1.11.4-eksbuild.33"}),
    "1.32": MinorPins(autoscaler_chart="9.46.6", autoscaler_image="v1.32.7", node_release="1.32.13-20260714",
                       addons={**_SHARED_ADDONS, "kube-proxy": "v1.32.13-eksbuild.16",
                               "coredns": "v1.11.4-eksbuild.33"}),
    "1.33": MinorPins(autoscaler_chart="9.51.0", autoscaler_image="v1.33.6", node_release="1.33.13-20260714",
                       addons={**_SHARED_ADDONS, "kube-proxy": "v1.33.10-eksbuild.13",
                               "coredns": "v1.13.2-eksbuild.4"}),
    "1.34": MinorPins(autoscaler_chart="9.53.0", autoscaler_image="v1.34.5", node_release="1.34.9-20260714",
                       addons={**_SHARED_ADDONS, "kube-proxy": "v1.34.6-eksbuild.13",
                               "coredns": "v1.13.2-eksbuild.7"}),
    # The 1.35 image lists resource.k8s.io objects (DRA); chart 9.54.0 is the first whose ClusterRole grants it.
    "1.35": MinorPins(autoscaler_chart="9.59.0", autoscaler_image="v1.35.2", node_release="1.35.6-20260714",
                       addons={**_SHARED_ADDONS, "kube-proxy": "v1.35.3-eksbuild.13",
                               "coredns": "v1.14.2-eksbuild.4"}),
}

#: AMI families whose release versions the matrix names itself (Bottlerocket node groups pin theirs through
#: `bottlerocket_release_parameter`).
PINNED_RELEASE_AMI_PREFIX = "AL2023_"
#: EKS AMI types of Bottlerocket (`BOTTLEROCKET_x86_64_NVIDIA`, ...).
BOTTLEROCKET_AMI_PREFIX = "BOTTLEROCKET_"


def minor_pins(version: str) -> MinorPins:
    """The matrix row of a supported minor (config validation guarantees the version is supported)."""
    return VERSION_MATRIX[version]


def autoscaler_chart(version: str) -> HelmChart:
    """cluster-autoscaler chart for a cluster minor: the chart version moves with the image (RBAC follows)."""
    return HelmChart("cluster-autoscaler", minor_pins(version).autoscaler_chart,
                     "https://kubernetes.github.io/autoscaler")


#: Bottlerocket release per supported minor whose `aws-k8s-<minor>-nvidia` variant a Karpenter GPU pool runs.
#: v1.62.0 (released between v1.61.0 of 2026-05-18 and v1.63.0 of 2026-07-17, beside the matrix's AL2023
#: v20260714) ships aws-k8s-1.31-nvidia through aws-k8s-1.36-nvidia: the table "Drivers included in each
#: GPU-enabled variant" at https://bottlerocket.dev/en/os/1.62.x/version-information/gpu-drivers/1.62.0/
#: (NVIDIA 580.159.03). The variants were added in the releases whose notes say so (1.34: v1.47.0 #4631,
#: 1.35: v1.53.0 #4735, https://github.com/bottlerocket-os/bottlerocket/releases). A minor added to the matrix
#: without an entry here is refused for Bottlerocket pools (config/gpu_provisioning.py, config/rules_gpu.py), never
#: guessed. Managed node groups pin the same release (`bottlerocket_release_parameter`), a Bottlerocket system
#: pool its `aws-k8s-<minor>` variant's.
BOTTLEROCKET_NVIDIA_RELEASES: dict[str, str] = {minor: "1.62.0" for minor in ("1.31", "1.32", "1.33", "1.34", "1.35")}


def bottlerocket_release(version: str) -> str | None:
    """The pinned Bottlerocket release of a cluster minor, or None when none is confirmed for it."""
    return BOTTLEROCKET_NVIDIA_RELEASES.get(version)


#: Bottlerocket AMI type of a node group → the architecture segment of Bottlerocket's public SSM parameters
#: (bottlerocket QUICKSTART-EKS.md "Finding an AMI": `x86_64` and `arm64`). The CPU types are the system pool's
#: (instances.CPU_AMI_ARCH): pinned like the GPU ones, or its AMI release would float.
BOTTLEROCKET_SSM_ARCH = {"BOTTLEROCKET_x86_64_NVIDIA": "x86_64", "BOTTLEROCKET_ARM_64_NVIDIA": "arm64",
                         "BOTTLEROCKET_x86_64": "x86_64", "BOTTLEROCKET_ARM_64": "arm64"}


def bottlerocket_variant(version: str, ami_type: str) -> str:
    """The Bottlerocket variant an EKS AMI type runs at a minor: `aws-k8s-<minor>-nvidia` for the NVIDIA types,
    `aws-k8s-<minor>` otherwise (EKS managed node group AMI types; bottlerocket.dev "Variants": a variant is
    built across many Bottlerocket versions, so the pinned release serves both)."""
    return f"aws-k8s-{version}-nvidia" if ami_type.endswith("_NVIDIA") else f"aws-k8s-{version}"


def bottlerocket_release_parameter(version: str, ami_type: str) -> str | None:
    """The public SSM parameter holding the EKS `releaseVersion` of the pinned Bottlerocket release of a node
    group (None: not a Bottlerocket type, or no release pinned for the minor; config refuses the latter).

    A Bottlerocket node group's release version names the release and its build (`<release>-<build commit>`,
    e.g. `1.47.0-6154605b`, aws-controllers-k8s/community#2644); the build is not in any reviewed source, so it is
    read from AWS: Bottlerocket publishes `/aws/service/bottlerocket/<variant>/<arch>/latest/image_version`, and
    "if you know a specific Bottlerocket version ... you can replace `latest` with that version" (bottlerocket
    QUICKSTART-EKS.md, "Finding an AMI"); its value is the node group release version (hashicorp/
    terraform-provider-aws#40903 reads `1.30.0-ca9b9399` there for EKS). The version is in the path, so the value
    never moves: a new release reaches the nodes only through BOTTLEROCKET_NVIDIA_RELEASES. `mlplat preflight`
    checks the parameter is published in the region (ops/ami_checks.py)."""
    release, arch = bottlerocket_release(version), BOTTLEROCKET_SSM_ARCH.get(ami_type)
    if release is None or arch is None:
        return None
    return f"/aws/service/bottlerocket/{bottlerocket_variant(version, ami_type)}/{arch}/{release}/image_version"


def karpenter_ami_alias(version: str, ami_type: str) -> str:
    """EC2NodeClass `amiSelectorTerms[].alias` of a cluster minor and a pool's AMI type. AL2023: the matrix's
    release (`1.34.9-20260714` → `al2023@v20260714`), the same AMI release the managed node groups run.
    Bottlerocket: `bottlerocket@v<release>` (CRD: "pinned to a specific AMI release, with that AMIs version
    format (ex: ... 'bottlerocket@v1.10.0')"). Karpenter resolves the NVIDIA variant for GPU instance types
    (/aws/service/bottlerocket/aws-k8s-<minor>-nvidia/<arch>/...: karpenter-provider-aws amifamily/bottlerocket.go;
    https://karpenter.sh/docs/concepts/nodeclasses/#specamiselectorterms)."""
    if ami_type.startswith(BOTTLEROCKET_AMI_PREFIX):
        release = bottlerocket_release(version)
        if release is None:  # config validation refuses this (gpu_provisioning.karpenter_rules)
            raise KeyError(f"no Bottlerocket release is pinned for Kubernetes {version}")
        return f"bottlerocket@v{release}"
    return f"al2023@v{minor_pins(version).node_release.rsplit('-', 1)[1]}"


def node_release_version(version: str, ami_type: str) -> str | None:
    """The pinned AMI release of a node group, or None for AMI families the matrix does not pin."""
    return minor_pins(version).node_release if ami_type.startswith(PINNED_RELEASE_AMI_PREFIX) else None
