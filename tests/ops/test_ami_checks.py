"""Preflight's AMI release check (ops/ami_checks.py): the pure verdicts, then the check through botocore's Stubber
answering AWS's public SSM parameters from the fixture (tests/fixtures/upstream/eks-ami-releases.json).

Why a Stubber and not the moto server: moto 5 serves no /aws/service/eks/... parameters, and (like AWS) refuses
to store any name under /aws, so no test can put them there; it is used to show that an unpublished
parameter is reported (ParameterNotFound from the real moto server).
Source of the parameter names: https://docs.aws.amazon.com/eks/latest/userguide/retrieve-ami-id.html
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber
from mlops_platform.core import contract
from mlops_platform.core.versions import VERSION_MATRIX, bottlerocket_release
from mlops_platform.ops._aws import Aws
from mlops_platform.ops.ami_checks import (
    bottlerocket_result,
    check_ami_releases,
    check_bottlerocket_rolls,
    minor_result,
    parameter_name,
    release_result,
    roll_result,
)
from mlops_platform.ops.checks import Status
from ops_stubs import AMI_RELEASES, ami_parameter, stub_ami_releases

WHERE = "Kubernetes 1.34 AL2023_x86_64_NVIDIA in us-east-1"


def test_the_pinned_release_against_the_newest_published() -> None:
    assert release_result("n", "1.34.9-20260714", "1.34.9-20260714", WHERE).status is Status.PASS
    older = release_result("n", "1.34.9-20260601", "1.34.9-20260714", WHERE)
    assert older.status is Status.PASS and "older release" in older.detail
    ahead = release_result("n", "1.34.9-20260801", "1.34.9-20260714", WHERE)
    assert ahead.status is Status.FAIL and "not rolled out to this region yet" in ahead.detail
    patch = release_result("n", "1.34.8-20260714", "1.34.9-20260714", WHERE)
    assert patch.status is Status.FAIL and "ships kubelet 1.34.9, not 1.34.8" in patch.detail
    assert patch.fix == "pin 1.34.9-20260714 in core/versions.py VERSION_MATRIX (node_release)"
    missing = release_result("n", "1.34.9-20260714", None, WHERE)
    assert missing.status is Status.FAIL and f"no EKS-optimized AMI is published for {WHERE}" in missing.detail


def test_every_matrix_pin_is_the_fixture_release_of_its_minor() -> None:
    """The matrix pins exactly the releases the fixture records (so the stubbed answers are the real ones)."""
    assert {v: pins.node_release for v, pins in VERSION_MATRIX.items()} == {v: AMI_RELEASES[v] for v in VERSION_MATRIX}


def test_parameter_names_follow_the_eks_docs() -> None:
    assert parameter_name("1.34", "AL2023_x86_64_NVIDIA") == (
        "/aws/service/eks/optimized-ami/1.34/amazon-linux-2023/x86_64/nvidia/recommended/release_version")


@pytest.mark.slow
@pytest.mark.xdist_group("moto")
def test_preflight_reads_one_parameter_per_pinned_ami_type(moto: str, make_cfg: Any) -> None:
    cfg = make_cfg()
    aws = Aws(cfg.environment.region)
    stub = stub_ami_releases(aws.ssm_public, cfg)
    results = {r.check: r for r in check_ami_releases(cfg, aws)}
    stub.assert_no_pending_responses()
    assert {n: r.status for n, r in results.items()} == {"ami x86_64/nvidia": Status.PASS,
                                                         "ami x86_64/standard": Status.PASS}
    behind = Aws(cfg.environment.region)
    stub_ami_releases(behind.ssm_public, cfg, {"1.34": "1.34.9-20260616"})  # the region lags one release
    failed = [r for r in check_ami_releases(cfg, behind) if r.status is Status.FAIL]
    assert len(failed) == 2 and all("not rolled out to this region yet" in r.detail for r in failed)


@pytest.mark.slow
@pytest.mark.xdist_group("moto")
def test_a_parameter_the_endpoint_does_not_publish_fails_the_check(moto: str, make_cfg: Any) -> None:
    """The real moto server answers ParameterNotFound for the EKS parameters, as AWS does for an unpublished
    minor / AMI type."""
    cfg = make_cfg()
    results = list(check_ami_releases(cfg, Aws(cfg.environment.region)))
    assert [r.status for r in results] == [Status.FAIL, Status.FAIL]
    assert results[0].detail == f"no EKS-optimized AMI is published for {WHERE}"


# --- Bottlerocket node groups: the pinned release's own parameter (versions.bottlerocket_release_parameter) ---

def test_a_bottlerocket_release_is_published_or_fails_the_check() -> None:
    param = "/aws/service/bottlerocket/aws-k8s-1.34-nvidia/x86_64/1.62.0/image_version"
    where = "Kubernetes 1.34 BOTTLEROCKET_x86_64_NVIDIA in us-east-1"
    ok = bottlerocket_result("n", param, "1.62.0-0a1b2c3d", where)
    assert ok.status is Status.PASS and ok.detail == f"node groups pin release 1.62.0-0a1b2c3d for {where}"
    missing = bottlerocket_result("n", param, None, where)
    assert missing.status is Status.FAIL and f"{param} is not published for {where}" in missing.detail
    assert "BOTTLEROCKET_NVIDIA_RELEASES" in missing.fix


def test_preflight_reads_the_pinned_bottlerocket_parameter_of_each_pool_type(make_cfg: Any) -> None:
    """Through botocore's Stubber (no network): the exact parameter names are expected, in order."""
    cfg = make_cfg()
    pools = [p.model_copy(update={"ami_type": "BOTTLEROCKET_x86_64_NVIDIA"}) for p in cfg.node_pools.gpu]
    cfg = cfg.model_copy(update={"node_pools": cfg.node_pools.model_copy(update={"gpu": pools})})
    version, release = cfg.cluster.version, bottlerocket_release(cfg.cluster.version)
    aws = Aws(cfg.environment.region)
    stub = Stubber(aws.ssm_public)
    system = parameter_name(version, cfg.node_pools.system.ami_type)  # AMI types are read sorted: AL2023 first
    stub.add_response("get_parameter", ami_parameter(system, AMI_RELEASES[version]), {"Name": system})
    bottlerocket = f"/aws/service/bottlerocket/aws-k8s-{version}-nvidia/x86_64/{release}/image_version"
    stub.add_response("get_parameter", ami_parameter(bottlerocket, f"{release}-0a1b2c3d"), {"Name": bottlerocket})
    with stub:
        results = {r.check: r for r in check_ami_releases(cfg, aws)}
    stub.assert_no_pending_responses()
    assert {n: r.status for n, r in results.items()} == {"ami x86_64/standard": Status.PASS,
                                                         "ami bottlerocket x86_64/nvidia": Status.PASS}
    assert f"pin release {release}-0a1b2c3d" in results["ami bottlerocket x86_64/nvidia"].detail


# --- live Bottlerocket groups against the pin: the roll the next `up` performs (review M2) ---

def test_a_live_release_against_the_pin_passes_warns_or_fails() -> None:
    assert roll_result("gpu-1", "1.62.0-0a1b2c3d", "1.62.0-0a1b2c3d").status is Status.PASS
    older = roll_result("gpu-1", "1.58.0-5e6f7a8b", "1.62.0-0a1b2c3d")
    assert older.status is Status.WARN
    assert older.detail.startswith("up will roll gpu-1: 1.58.0-5e6f7a8b → 1.62.0-0a1b2c3d")
    newer = roll_result("gpu-1", "1.63.1-9c8d7e6f", "1.62.0-0a1b2c3d")
    assert newer.status is Status.FAIL and "newer than the pinned 1.62.0-0a1b2c3d" in newer.detail
    assert "BOTTLEROCKET_NVIDIA_RELEASES to 1.63.1" in newer.fix
    # numeric, not string order: 1.100 is newer than 1.62
    assert roll_result("g", "1.100.0-aa", "1.62.0-bb").status is Status.FAIL


def _group(name: str, pool: str, release: str, version: str = "1.34") -> dict[str, Any]:
    return {"nodegroup": {"nodegroupName": name, "releaseVersion": release, "version": version,
                          "labels": {contract.POOL_LABEL: pool}}}


def test_a_bottlerocket_group_on_another_minor_names_the_one_update_that_keeps_the_pin() -> None:
    """hashicorp/terraform-provider-aws#40902: `up` alone would send only the version (ops/upgrade.py)."""
    assert minor_result("gpu-1", "1.35", "1.35", "cmd") is None
    assert minor_result("gpu-1", "", "1.35", "cmd") is None
    moved = minor_result("gpu-1", "1.34", "1.35", "aws eks update-nodegroup-version ...")
    assert moved is not None and moved.status is Status.WARN and moved.check == "bottlerocket minor gpu-1"
    assert "runs Kubernetes 1.34, the stack pins 1.35" in moved.detail
    assert moved.fix == "before `up`, run: aws eks update-nodegroup-version ..."


def test_preflight_compares_each_live_bottlerocket_group_with_its_pin(make_cfg: Any) -> None:
    """Through botocore's Stubber (moto serves neither the Bottlerocket parameters nor a group's releaseVersion):
    one parameter read for two groups of the same type; the system group (AL2023) is not compared."""
    cfg = make_cfg()
    pools = [p.model_copy(update={"ami_type": "BOTTLEROCKET_x86_64_NVIDIA"}) for p in cfg.node_pools.gpu]
    cfg = cfg.model_copy(update={"node_pools": cfg.node_pools.model_copy(update={"gpu": pools})})
    version, release, gpu = cfg.cluster.version, bottlerocket_release(cfg.cluster.version), pools[0].name
    aws = Aws(cfg.environment.region)
    eks, ssm = Stubber(aws.eks), Stubber(aws.ssm_public)
    cluster = {"name": cfg.cluster_name}
    eks.add_response("describe_cluster", {"cluster": {"name": cfg.cluster_name, "version": version}}, cluster)
    names = ["system-a", "gpu-old", "gpu-new"]
    eks.add_response("list_nodegroups", {"nodegroups": names}, {"clusterName": cfg.cluster_name})
    answers = [_group("system-a", cfg.node_pools.system.name, AMI_RELEASES[version]),
               _group("gpu-old", gpu, "1.58.0-5e6f7a8b", "1.33"), _group("gpu-new", gpu, "1.63.0-1a2b3c4d")]
    for name, answer in zip(names, answers, strict=True):
        eks.add_response("describe_nodegroup", answer, {"clusterName": cfg.cluster_name, "nodegroupName": name})
    parameter = f"/aws/service/bottlerocket/aws-k8s-{version}-nvidia/x86_64/{release}/image_version"
    ssm.add_response("get_parameter", ami_parameter(parameter, f"{release}-0a1b2c3d"), {"Name": parameter})
    with eks, ssm:
        results = {r.check: r for r in check_bottlerocket_rolls(cfg, aws)}
    eks.assert_no_pending_responses()
    ssm.assert_no_pending_responses()
    assert {n: r.status for n, r in results.items()} == {"bottlerocket minor gpu-old": Status.WARN,
                                                         "bottlerocket release gpu-old": Status.WARN,
                                                         "bottlerocket release gpu-new": Status.FAIL}
    assert f"aws eks update-cluster-version --region {cfg.environment.region}" in results[
        "bottlerocket minor gpu-old"].fix
    assert f"--kubernetes-version {version} --release-version" in results["bottlerocket minor gpu-old"].fix
    old = results["bottlerocket release gpu-old"]
    assert f"up will roll gpu-old: 1.58.0-5e6f7a8b → {release}-0a1b2c3d" in old.detail


def test_no_cluster_no_bottlerocket_comparison(make_cfg: Any) -> None:
    cfg = make_cfg()
    aws = Aws(cfg.environment.region)
    with Stubber(aws.eks) as eks:
        eks.add_client_error("describe_cluster", "ResourceNotFoundException", http_status_code=404)
        assert list(check_bottlerocket_rolls(cfg, aws)) == []


def test_with_karpenter_a_live_bottlerocket_gpu_group_is_not_compared(make_cfg: Any) -> None:
    """`up` deletes it (Karpenter provisions the pool): neither a roll nor a minor move is reported, nothing read."""
    cfg = make_cfg({"gpu": {"max_total_gpus": 64, "provisioner": "karpenter"}})
    pools = [p.model_copy(update={"ami_type": "BOTTLEROCKET_x86_64_NVIDIA"}) for p in cfg.node_pools.gpu]
    cfg = cfg.model_copy(update={"node_pools": cfg.node_pools.model_copy(update={"gpu": pools})})
    aws = Aws(cfg.environment.region)
    with Stubber(aws.eks) as eks, Stubber(aws.ssm_public) as ssm:
        eks.add_response("describe_cluster", {"cluster": {"name": cfg.cluster_name, "version": "1.34"}})
        eks.add_response("list_nodegroups", {"nodegroups": ["l4-1"]})
        eks.add_response("describe_nodegroup", _group("l4-1", pools[0].name, "1.58.0-5e6f7a8b", "1.33"))
        assert list(check_bottlerocket_rolls(cfg, aws)) == []
        eks.assert_no_pending_responses()
        ssm.assert_no_pending_responses()
