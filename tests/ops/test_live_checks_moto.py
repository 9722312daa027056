"""Preflight checks of an existing cluster (ops/live_checks.py) against a real moto server; the EKS add-on
catalogue (DescribeAddonVersions), which moto does not serve, through botocore's Stubber on its own client."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from mlops_platform.core.versions import minor_pins
from mlops_platform.ops._aws import Aws
from mlops_platform.ops.checks import Status
from mlops_platform.ops.live_checks import check_addon_versions, check_live_version, check_pool_sizes

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("moto")]

ROLE = "arn:aws:iam::123456789012:role/eks"


def _cluster(cfg: Any, version: str) -> Any:
    eks = boto3.client("eks", region_name=cfg.environment.region)
    eks.create_cluster(name=cfg.cluster_name, version=version, roleArn=ROLE,
                       resourcesVpcConfig={"subnetIds": ["subnet-0123456789abcdef0"]})
    return eks


def test_a_control_plane_eks_upgraded_past_the_stack_is_caught(moto: str, make_cfg: Any) -> None:
    """STANDARD upgrade policy: EKS upgrades the control plane when standard support ends; the stack still
    pinning the old minor would request a downgrade. https://docs.aws.amazon.com/eks/latest/userguide/view-upgrade-policy.html"""
    cfg = make_cfg()
    aws = Aws(cfg.environment.region)
    [absent] = check_live_version(cfg, aws)
    assert absent.status is Status.PASS and "does not exist yet" in absent.detail
    _cluster(cfg, "1.35")
    [drift] = check_live_version(cfg, aws)
    assert drift.status is Status.FAIL and "runs 1.35" in drift.detail and "pins 1.34" in drift.detail
    assert drift.fix.startswith("set cluster.version to 1.35")


def test_the_pinned_version_running_passes(moto: str, make_cfg: Any) -> None:
    cfg = make_cfg()
    _cluster(cfg, "1.34")
    [same] = check_live_version(cfg, Aws(cfg.environment.region))
    assert same.status is Status.PASS


def _groups(cfg: Any, eks: Any, system: dict[str, int], l4: dict[str, int]) -> None:
    for pool, scaling in (("system", system), ("l4", l4)):
        eks.create_nodegroup(clusterName=cfg.cluster_name, nodegroupName=f"{pool}-20260101", nodeRole=ROLE,
                             subnets=["subnet-0123456789abcdef0"], labels={"mlops.io/pool": pool},
                             scalingConfig=scaling)


def test_raising_min_size_above_the_live_desired_size_is_left_to_up_with_the_manual_step(
        moto: str, make_cfg: Any) -> None:
    """EKS UpdateNodegroupConfig rejects minSize > desiredSize, and the stack keeps the live desired size (the
    autoscaler owns it): `mlplat up` raises it first (test_desired_sizes_moto.py); plain `pulumi up` users get
    the command. https://docs.aws.amazon.com/eks/latest/APIReference/API_NodegroupScalingConfig.html"""
    cfg = make_cfg({"node_pools": {"system": {"min_size": 3, "desired_size": 3}}})
    _groups(cfg, _cluster(cfg, "1.34"), {"minSize": 2, "desiredSize": 2, "maxSize": 4},
            {"minSize": 0, "desiredSize": 1, "maxSize": 4})
    results = {r.check: r for r in check_pool_sizes(cfg, Aws(cfg.environment.region))}
    assert results["node pool l4"].status is Status.PASS
    system = results["node pool system"]
    assert system.status is Status.WARN and "runs 2 node(s)" in system.detail
    assert "`mlplat up` raises its desired size to 3 before the aws layer" in system.detail
    assert system.fix == ("nothing with `mlplat up`; with plain `pulumi up` first run `aws eks "
                          f"update-nodegroup-config --cluster-name {cfg.cluster_name} --nodegroup-name "
                          "system-20260101 --scaling-config "
                          "minSize=2,maxSize=4,desiredSize=3`")


def test_lowering_max_size_below_the_live_desired_size_stops_preflight(moto: str, make_cfg: Any) -> None:
    """Lowering desired would drain nodes: never done for the user."""
    cfg = make_cfg({"node_pools": {"gpu": [{"name": "l4", "instance_types": ["g6.xlarge"], "capacity": "spot",
                                            "min_size": 0, "desired_size": 0, "max_size": 2}]}})
    _groups(cfg, _cluster(cfg, "1.34"), {"minSize": 2, "desiredSize": 2, "maxSize": 4},
            {"minSize": 0, "desiredSize": 3, "maxSize": 4})
    results = {r.check: r for r in check_pool_sizes(cfg, Aws(cfg.environment.region))}
    l4 = results["node pool l4"]
    assert l4.status is Status.FAIL and "runs 3 node(s)" in l4.detail and "drains nodes" in l4.detail
    assert "minSize=0,maxSize=3,desiredSize=2" in l4.fix


def _catalogue(stub: Stubber, pins: dict[str, str], version: str, missing: str) -> None:
    for addon, pinned in sorted(pins.items()):
        offered = ["v9.9.9-eksbuild.1"] if addon == missing else [pinned, "v0.0.1-eksbuild.1"]
        stub.add_response("describe_addon_versions", {"addons": [{
            "addonName": addon, "type": "networking", "owner": "aws",
            "addonVersions": [{"addonVersion": v, "architecture": ["amd64", "arm64"],
                               "compatibilities": [{"clusterVersion": version, "defaultVersion": False}]}
                              for v in offered]}]},
            {"addonName": addon, "kubernetesVersion": version})


def test_a_pinned_addon_version_eks_does_not_offer_fails(moto: str, make_cfg: Any) -> None:
    """CreateAddon/UpdateAddon accept only versions DescribeAddonVersions lists for the minor.
    https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeAddonVersions.html"""
    cfg = make_cfg()
    aws = Aws(cfg.environment.region)
    pins = minor_pins("1.34").addons
    with Stubber(aws.eks_catalog) as stub:
        _catalogue(stub, pins, "1.34", missing="coredns")
        results = {r.check: r for r in check_addon_versions(cfg, aws)}
        stub.assert_no_pending_responses()
    assert set(results) == {f"addon {a}" for a in pins}
    assert [n for n, r in results.items() if r.status is Status.FAIL] == ["addon coredns"]
    assert pins["coredns"] in results["addon coredns"].detail and "v9.9.9-eksbuild.1" in results["addon coredns"].detail
    assert "describe-addon-versions --kubernetes-version 1.34 --addon-name coredns" in results["addon coredns"].fix


def test_an_unreadable_addon_catalogue_is_a_warning_naming_the_permission(moto: str, make_cfg: Any) -> None:
    cfg = make_cfg()
    [warn] = check_addon_versions(cfg, Aws(cfg.environment.region))  # the moto server has no catalogue
    assert warn.status is Status.WARN and "eks:DescribeAddonVersions" in warn.fix
