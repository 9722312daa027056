"""Preflight's pure parts: AZ coverage, vCPU demand per quota bucket, EKS support table."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from botocore.stub import Stubber
from mlops_platform.core.instances import QuotaFamily
from mlops_platform.ops._aws import Aws
from mlops_platform.ops.preflight import (
    Status,
    check_eks_version,
    offering_results,
    quota_family_of,
    required_azs,
    required_vcpus,
    table_status,
    vcpus_in_use,
)


def test_gpu_pools_need_two_azs_and_the_system_pool_needs_all():
    assert required_azs(is_gpu=True, configured=3) == 2
    assert required_azs(is_gpu=False, configured=3) == 3


def test_vcpu_demand_sums_max_size_times_largest_type_per_family_and_capacity(make_cfg):
    cfg = make_cfg({"node_pools": {"gpu": [
        {"name": "l4", "instance_types": ["g6.xlarge", "g6.2xlarge"], "capacity": "spot", "max_size": 4},
        {"name": "a10g", "instance_types": ["g5.12xlarge"], "capacity": "spot", "max_size": 2},
        {"name": "a100", "instance_types": ["p4d.24xlarge"], "capacity": "on_demand", "max_size": 1},
    ]}})
    assert required_vcpus(cfg) == {
        (QuotaFamily.STANDARD, "on_demand"): 4 * 4,  # system pool m6i.xlarge × max 4
        (QuotaFamily.G_VT, "spot"): 4 * 8 + 2 * 48,
        (QuotaFamily.P, "on_demand"): 96,
    }


@pytest.mark.parametrize(("instance_type", "family"), [
    ("m6i.xlarge", QuotaFamily.STANDARD), ("t3.micro", QuotaFamily.STANDARD), ("im4gn.large", QuotaFamily.STANDARD),
    ("g4dn.xlarge", QuotaFamily.G_VT), ("vt1.3xlarge", QuotaFamily.G_VT), ("gr6.4xlarge", QuotaFamily.G_VT),
    ("p5.48xlarge", QuotaFamily.P), ("inf2.xlarge", None), ("trn1.2xlarge", None), ("dl1.24xlarge", None),
    ("x2idn.16xlarge", None), ("mac2.metal", None), ("u-6tb1.metal", None), ("f1.2xlarge", None),
])
def test_quota_family_of_instance_types_in_and_out_of_the_catalog(instance_type, family):
    assert quota_family_of(instance_type) is family


def test_vcpus_in_use_count_other_instances_per_bucket(make_cfg):
    cluster = make_cfg().cluster_name

    def instance(type_: str, spot: bool = False, tags: dict[str, str] | None = None, **extra):
        return {"InstanceType": type_, **({"InstanceLifecycle": "spot"} if spot else {}),
                "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()], **extra}
    used = vcpus_in_use([
        instance("m6i.xlarge"), instance("m6i.xlarge", spot=True),
        instance("g6.2xlarge", spot=True), instance("g6.2xlarge", tags={"eks:cluster-name": cluster}),
        instance("g6.2xlarge", tags={f"kubernetes.io/cluster/{cluster}": "owned"}),
        instance("g6.2xlarge", tags={"eks:cluster-name": "someone-elses"}),
        instance("c9z.huge", CpuOptions={"CoreCount": 8, "ThreadsPerCore": 2}),  # not in the catalog
        instance("inf2.xlarge"),  # Inferentia has a quota of its own
    ], cluster)
    assert used == {(QuotaFamily.STANDARD, "on_demand"): 4 + 16, (QuotaFamily.STANDARD, "spot"): 4,
                    (QuotaFamily.G_VT, "spot"): 8, (QuotaFamily.G_VT, "on_demand"): 8}


def test_type_missing_from_an_az_fails_with_the_az_and_the_fix(make_cfg):
    cfg = make_cfg({"network": {"availability_zones": ["us-east-1a", "us-east-1b"]}})
    azs = ["us-east-1a", "us-east-1b"]
    offered = {"m6i.xlarge": {"us-east-1a", "us-east-1b"}, "g6.xlarge": {"us-east-1a"}}
    results = {r.check: r for r in offering_results(cfg, azs, offered)}
    assert results["offerings system"].status is Status.PASS
    gpu = results["offerings l4"]
    assert gpu.status is Status.FAIL
    assert "g6.xlarge not offered in us-east-1b" in gpu.detail
    assert "node_pools.gpu[0].instance_types" in gpu.fix


@pytest.mark.parametrize(("today", "expected"), [
    (date(2026, 11, 1), "STANDARD_SUPPORT"),
    (date(2027, 1, 1), "EXTENDED_SUPPORT"),
    (date(2028, 1, 1), "UNSUPPORTED"),
])
def test_table_status_follows_the_release_calendar(today, expected):
    assert table_status("1.34", today) == expected


def test_unknown_version_is_unsupported():
    assert table_status("1.20", date(2026, 11, 1)) == "UNSUPPORTED"


def _eks_stubbed(version_status: str | None):
    """EKS DescribeClusterVersions has no moto backend: a Stubber answer shaped like the real one."""
    aws = Aws("us-east-1")
    stubber = Stubber(aws.eks)
    versions = [] if version_status is None else [{
        "clusterVersion": "1.34", "clusterType": "eks", "defaultPlatformVersion": "eks.9", "defaultVersion": False,
        "releaseDate": datetime(2025, 10, 2), "endOfStandardSupportDate": datetime(2026, 12, 2),
        "endOfExtendedSupportDate": datetime(2027, 12, 2), "status": version_status.lower().replace("_", "-"),
        "versionStatus": version_status, "kubernetesPatchVersion": "1.34.2"}]
    stubber.add_response("describe_cluster_versions", {"clusterVersions": versions},
                         {"clusterVersions": ["1.34"], "includeAll": True})
    stubber.activate()
    return aws


@pytest.mark.parametrize(("api_status", "expected"), [
    ("STANDARD_SUPPORT", Status.PASS), ("EXTENDED_SUPPORT", Status.WARN), ("UNSUPPORTED", Status.FAIL),
    (None, Status.FAIL),  # the API does not know the version at all
])
def test_eks_version_uses_the_eks_api_when_it_answers(aws_env, make_cfg, api_status, expected):
    [result] = check_eks_version(make_cfg(), _eks_stubbed(api_status), today=date(2026, 11, 1))
    assert result.status is expected
    assert "(EKS API)" in result.detail
    if expected is not Status.PASS:
        assert "cluster.version" in result.fix
