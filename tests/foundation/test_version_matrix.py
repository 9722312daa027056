"""The version matrix (versions.VERSION_MATRIX) against the upstream facts recorded in tests/fixtures/upstream:
one row per supported minor, the newest patch of each, and the chart whose RBAC the image needs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mlops_platform.core.versions import (
    BOTTLEROCKET_NVIDIA_RELEASES,
    CHARTS,
    SUPPORTED_EKS_VERSIONS,
    VERSION_MATRIX,
    autoscaler_chart,
    bottlerocket_release,
    karpenter_ami_alias,
    minor_pins,
    node_release_version,
)

UPSTREAM = Path(__file__).resolve().parents[1] / "fixtures" / "upstream"


def fixture(name: str) -> dict[str, Any]:
    return dict(json.loads((UPSTREAM / name).read_text()))


AUTOSCALER = fixture("cluster-autoscaler-releases.json")
AMI = fixture("eks-ami-releases.json")
ADDONS = fixture("eks-addon-versions.json")
BOTTLEROCKET = fixture("bottlerocket-nvidia-variants.json")


def semver(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.lstrip("v").split("-")[0].split("."))


def minor_of(version: str) -> str:
    return ".".join(version.lstrip("v").split(".")[:2])


def test_the_matrix_has_exactly_one_row_per_supported_minor() -> None:
    assert tuple(VERSION_MATRIX) == SUPPORTED_EKS_VERSIONS


@pytest.mark.parametrize("minor", SUPPORTED_EKS_VERSIONS)
def test_autoscaler_image_is_the_newest_patch_of_the_clusters_minor(minor: str) -> None:
    # kubernetes/autoscaler: one cluster-autoscaler-1.N.P tag per image release (FAQ: "use the CA minor
    # version matching the cluster's")
    assert minor_pins(minor).autoscaler_image == max(AUTOSCALER["image_releases"][minor], key=semver)


@pytest.mark.parametrize("minor", SUPPORTED_EKS_VERSIONS)
def test_autoscaler_chart_is_the_newest_chart_shipping_the_clusters_minor(minor: str) -> None:
    charts = AUTOSCALER["charts"]
    same_minor = [v for v, c in charts.items() if minor_of(c["appVersion"]) == minor]
    newest_older = [v for v, c in charts.items() if semver(c["appVersion"]) < semver(minor + ".0")]
    # 1.31's newest chart ships 1.31; a minor no chart ships falls back to the newest chart before it
    expected = max(same_minor or newest_older, key=semver)
    assert minor_pins(minor).autoscaler_chart == expected


@pytest.mark.parametrize("minor", SUPPORTED_EKS_VERSIONS)
def test_images_that_list_dra_objects_get_a_chart_whose_role_allows_it(minor: str) -> None:
    """The 1.35 image watches resourceslices/deviceclasses/resourceclaims (resource.k8s.io); chart 9.46.6 has
    no such rule, 9.54.0 added it (kubernetes/autoscaler templates/clusterrole.yaml at those tags)."""
    chart = AUTOSCALER["charts"][minor_pins(minor).autoscaler_chart]
    if semver(minor) >= (1, 35):
        assert chart["clusterrole_grants_resource_k8s_io"] is True
        assert semver(minor_pins(minor).autoscaler_chart) >= (9, 54, 0)


def test_the_dra_rule_boundary_is_where_the_issue_says() -> None:
    assert AUTOSCALER["charts"]["9.46.6"]["clusterrole_grants_resource_k8s_io"] is False
    assert AUTOSCALER["charts"]["9.54.0"]["clusterrole_grants_resource_k8s_io"] is True


@pytest.mark.parametrize("minor", SUPPORTED_EKS_VERSIONS)
def test_node_groups_pin_the_newest_al2023_ami_release_of_their_minor(minor: str) -> None:
    # awslabs/amazon-eks-ami CHANGELOG.md, newest release: one release version per minor for every AL2023 type
    assert minor_pins(minor).node_release == AMI["release_versions"][minor]
    assert node_release_version(minor, "AL2023_x86_64_NVIDIA") == AMI["release_versions"][minor]
    assert node_release_version(minor, "BOTTLEROCKET_x86_64_NVIDIA") is None  # numbered by Bottlerocket


@pytest.mark.parametrize("minor", SUPPORTED_EKS_VERSIONS)
def test_addons_pin_the_versions_the_eks_user_guide_lists(minor: str) -> None:
    expected = {**ADDONS["every_minor"], **ADDONS["versions"][minor]}
    assert minor_pins(minor).addons == expected
    # kube-proxy must run the cluster's minor (Kubernetes version-skew policy: kube-proxy ≤ control plane)
    assert minor_of(expected["kube-proxy"]) == minor


def test_autoscaler_chart_helper_points_at_the_autoscaler_repository() -> None:
    chart = autoscaler_chart("1.35")
    assert (chart.chart, chart.version, chart.repository) == (
        "cluster-autoscaler", "9.59.0", "https://kubernetes.github.io/autoscaler")
    assert "cluster-autoscaler" not in CHARTS  # one source of the autoscaler's version: the matrix


def test_every_supported_minor_pins_a_bottlerocket_release_or_none_is_claimed() -> None:
    """A minor without a confirmed release is absent (refused by config rules), never mapped to a guess."""
    assert set(BOTTLEROCKET_NVIDIA_RELEASES) <= set(SUPPORTED_EKS_VERSIONS)
    assert set(BOTTLEROCKET_NVIDIA_RELEASES) == set(SUPPORTED_EKS_VERSIONS)  # today every minor is confirmed


@pytest.mark.parametrize("minor", SUPPORTED_EKS_VERSIONS)
def test_the_pinned_bottlerocket_release_ships_the_minors_nvidia_variant(minor: str) -> None:
    # bottlerocket.dev GPU driver table of the pinned release (fixtures/upstream/bottlerocket-nvidia-variants.json)
    release = bottlerocket_release(minor)
    assert release is not None and f"aws-k8s-{minor}-nvidia" in BOTTLEROCKET["releases"][release]
    alias = karpenter_ami_alias(minor, "BOTTLEROCKET_x86_64_NVIDIA")
    assert alias == BOTTLEROCKET["karpenter_alias"]["format"].format(release=release) == f"bottlerocket@v{release}"
    assert karpenter_ami_alias(minor, "AL2023_ARM_64_NVIDIA").startswith("al2023@v")


def test_an_unpinned_minor_has_no_bottlerocket_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(BOTTLEROCKET_NVIDIA_RELEASES, "1.35")
    assert bottlerocket_release("1.35") is None
    with pytest.raises(KeyError, match=r"no Bottlerocket release is pinned for Kubernetes 1\.35"):
        karpenter_ami_alias("1.35", "BOTTLEROCKET_ARM_64_NVIDIA")
