"""An air-gapped cluster layer: every image from the account's ECR, every chart from the runner's disk.

The cluster layer applies `air_gap_transformation` to its whole tree (a Pulumi resource transformation is
inherited by every child), so no component can forget it:
- each Helm release gets `chart_images.mirrored_values` of its chart merged over its values, and its chart
  is read from `<chart_directory>/<name>-<version>.tgz` (what `helm pull` writes; the runner image vendors
  them, docs/air-gapped.md) instead of a repository the runner cannot reach;
- every `image`/`*Image` string in a release's values or a manifest's spec (CR specs, workloads) that is not
  already in the account's registry is rewritten to its mirror.
A chart the image table does not know fails the plan: a new chart cannot slip in with public images.

Why `transformations` and not the newer `transforms`: the SDK runs a transformation for every resource the
program registers, which is every resource of this layer (no packaged component: tests/k8s/test_air_gapped.py),
and the offline engine sees its result. `transforms` run in the engine; the offline engine's mock monitor
advertises them but never calls them, so the air-gapped tests could no longer prove the rewrite. Move to
`transforms` (and teach engine/recorder.py to call them) before the layer uses a packaged component such as
`helm.v4.Chart`, whose children a transformation does not reach (docs/air-gapped.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from mlops_platform.core.chart_images import ENVOY_PROXY_IMAGE, mirrored_values
from mlops_platform.core.image_mirror import Mirror
from mlops_platform.core.versions import CHARTS

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
#: Chart (name or oci:// URL, as a release names it) → its key in CHART_IMAGES.
CHART_KEYS = {**{c.chart: key for key, c in CHARTS.items()}, "cluster-autoscaler": "cluster-autoscaler"}


@dataclass(frozen=True, kw_only=True)
class AirGap:
    """What an air-gapped cluster layer pulls from."""

    mirror: Mirror
    """The account's registry and the environment's namespace in it. Required."""
    chart_directory: str
    """Directory of the runner image holding every pinned chart as `helm pull` saved it. Required."""


class UnmirroredChart(ValueError):
    """A release of a chart core/chart_images.py does not list (its images would come from the internet)."""


def chart_file(chart: str, version: str, directory: str) -> str:
    """Where `helm pull <chart> --version <version> -d <directory>` saves a chart (`<name>-<version>.tgz`;
    the name is the chart's own, the last segment of an oci:// URL)."""
    return f"{directory}/{chart.rsplit('/', 1)[-1]}-{version}.tgz"


def is_image_key(key: str) -> bool:
    """`image`, `natsImage`, `rbacProxyImage`, ... (not `imagePullPolicy`, `images`)."""
    return key == "image" or key.endswith("Image")


def rewrite_images(node: Any, mirror: Mirror) -> Any:
    """A copy of `node` whose image strings are the mirror's (Outputs and other values untouched)."""
    if isinstance(node, dict):
        return {k: mirror.image(v) if is_image_key(k) and isinstance(v, str) and v else rewrite_images(v, mirror)
                for k, v in node.items()}
    if isinstance(node, list):
        return [rewrite_images(v, mirror) for v in node]
    return node


def merge(base: Any, over: dict[str, Any]) -> dict[str, Any]:
    """`over` merged into `base` map by map (over wins)."""
    out = dict(base) if isinstance(base, dict) else {}
    for key, value in over.items():
        out[key] = merge(out.get(key), value) if isinstance(value, dict) else value
    return out


def release_props(props: dict[str, Any], gap: AirGap) -> dict[str, Any]:
    """A Helm release's inputs, air-gapped: mirrored images, the vendored chart file, no repository."""
    chart = props.get("chart")
    if not isinstance(chart, str) or chart not in CHART_KEYS:
        raise UnmirroredChart(f"chart {chart!r} has no entry in core/chart_images.py CHART_IMAGES: list its "
                              f"images (from its values.yaml) before installing it in an air-gapped environment")
    values = props.get("values")
    if not isinstance(values, dict) and values is not None:
        raise UnmirroredChart(f"chart {chart!r}: values must be a plain map to be mirrored")
    mirrored = merge(rewrite_images(values or {}, gap.mirror), mirrored_values(CHART_KEYS[chart], gap.mirror))
    return {**props, "values": mirrored, "chart": chart_file(chart, str(props.get("version")), gap.chart_directory),
            "repository_opts": None}


def manifest_props(props: dict[str, Any], mirror: Mirror) -> dict[str, Any]:
    """A manifest's inputs with its spec's images mirrored. An EnvoyProxy names the data-plane image Envoy
    Gateway otherwise defaults to Docker Hub (CRD envoyproxy_v1alpha1
    `provider.kubernetes.envoyDeployment.container.image`)."""
    spec = rewrite_images(props["spec"], mirror)
    if props.get("kind") == "EnvoyProxy":
        container = {"container": {"image": mirror.image(ENVOY_PROXY_IMAGE)}}
        spec = merge(spec, {"provider": {"kubernetes": {"envoyDeployment": container}}})
    return {**props, "spec": spec}


def air_gap_transformation(gap: AirGap) -> pulumi.ResourceTransformation:
    """The transformation the cluster layer hands its children (see the module docstring)."""

    def transform(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if args.type_ == RELEASE_TYPE:
            return pulumi.ResourceTransformationResult(release_props(dict(args.props), gap), args.opts)
        if args.type_.startswith("kubernetes:") and isinstance(args.props.get("spec"), dict):
            return pulumi.ResourceTransformationResult(manifest_props(dict(args.props), gap.mirror), args.opts)
        return None

    return transform
