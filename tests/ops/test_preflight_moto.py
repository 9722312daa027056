"""`mlplat preflight` against a real moto server process; Service Quotas through botocore's Stubber."""

from __future__ import annotations

import boto3
import pytest
from mlops_platform.core.errors import PreflightError
from mlops_platform.core.instances import QuotaFamily
from mlops_platform.ops._aws import Aws
from mlops_platform.ops.bootstrap import bootstrap
from mlops_platform.ops.preflight import Status, required_vcpus, run_preflight
from ops_stubs import stub_ami_releases, stub_quotas

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("moto")]

EU_WEST = {"environment": {"region": "eu-west-1"},
           "network": {"availability_zones": ["eu-west-1a", "eu-west-1b", "eu-west-1c"]}}


def _aws(cfg, quotas=None, **stub_kwargs) -> Aws:
    """Real clients at the moto server, except Service Quotas and the public EKS AMI parameters (no moto
    backend), which are stubbed."""
    aws = Aws(cfg.environment.region)
    stub_ami_releases(aws.ssm_public, cfg)
    stub_quotas(aws.quotas, quotas if quotas is not None else dict.fromkeys(required_vcpus(cfg), 1000.0),
                **stub_kwargs)
    return aws


def _by_check(report):
    return {r.check: r for r in report.results}


def test_healthy_environment_passes_every_check(moto, make_cfg):
    cfg = make_cfg()
    bootstrap(cfg)
    report = run_preflight(cfg, _aws(cfg))
    checks = _by_check(report)
    assert report.passed, report.to_json()
    assert set(checks) == {"account", "offerings system", "offerings l4", "quota g_vt spot",
                           "quota standard on_demand", "eks version", "state backend", "github oidc provider",
                           "autoscaling role", "api endpoint", "cluster version", "node pool sizes",
                           "addon versions", "ami x86_64/nvidia", "ami x86_64/standard"}
    assert checks["account"].status is Status.PASS
    assert checks["ami x86_64/standard"].detail == ("1.34.9-20260714 is the newest release for Kubernetes 1.34 "
                                                    "AL2023_x86_64_STANDARD in us-east-1")
    assert checks["eks version"].status in (Status.PASS, Status.WARN)
    assert "reviewed table" in checks["eks version"].detail  # moto has no DescribeClusterVersions
    assert checks["state backend"].detail.endswith("exists and is versioned")
    report.raise_for_failures()  # passes silently


def test_wrong_account_is_caught(moto, make_cfg):
    cfg = make_cfg({"environment": {"account_id": "432109876543"}})
    report = run_preflight(cfg, _aws(cfg))
    account = _by_check(report)["account"]
    assert account.status is Status.FAIL
    assert "123456789012" in account.detail and "432109876543" in account.detail
    assert "AWS_PROFILE" in account.fix
    with pytest.raises(PreflightError, match="account: credentials are for account 123456789012") as err:
        report.raise_for_failures()
    assert err.value.exit_code == 1


def test_instance_types_not_offered_in_enough_azs_are_caught(moto, make_cfg):
    # Real eu-west-1 offerings: p4d.24xlarge only in eu-west-1c; g6.xlarge not at all.
    cfg = make_cfg({**EU_WEST, "node_pools": {"gpu": [
        {"name": "a100", "instance_types": ["p4d.24xlarge"], "max_size": 1},
        {"name": "l4", "instance_types": ["g6.xlarge"], "capacity": "spot", "max_size": 2}]}})
    bootstrap(cfg)
    checks = _by_check(run_preflight(cfg, _aws(cfg)))
    assert checks["offerings system"].status is Status.PASS
    assert checks["offerings a100"].status is Status.FAIL
    assert "p4d.24xlarge not offered in eu-west-1a, eu-west-1b" in checks["offerings a100"].detail
    assert checks["offerings l4"].status is Status.FAIL
    assert "g6.xlarge not offered in eu-west-1a, eu-west-1b, eu-west-1c" in checks["offerings l4"].detail


def test_gpu_quota_below_max_pool_size_is_caught_with_the_request_command(moto, make_cfg):
    cfg = make_cfg()
    bootstrap(cfg)
    low = {(QuotaFamily.STANDARD, "on_demand"): 1152.0, (QuotaFamily.G_VT, "spot"): 8.0}
    checks = _by_check(run_preflight(cfg, _aws(cfg, low)))
    gpu = checks["quota g_vt spot"]
    assert gpu.status is Status.FAIL
    assert "L-3819A6DF: 8 vCPUs; 8 free < 16" in gpu.detail  # g6.xlarge 4 vCPUs × max_size 4
    assert "--quota-code L-3819A6DF --desired-value 16" in gpu.fix
    assert checks["quota standard on_demand"].status is Status.PASS


def _launch(ec2, count: int, tags: dict[str, str] | None = None) -> list[str]:
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}] if tags else []
    out = ec2.run_instances(ImageId=image, InstanceType="m6i.xlarge", MinCount=count, MaxCount=count,
                            TagSpecifications=spec)
    return [i["InstanceId"] for i in out["Instances"]]


def test_vcpus_other_instances_hold_are_not_free(moto, make_cfg):
    cfg = make_cfg()
    bootstrap(cfg)
    ec2 = boto3.client("ec2", region_name=cfg.environment.region)
    others = _launch(ec2, 2)  # 8 vCPUs some other workload of the account holds
    _launch(ec2, 1, {"eks:cluster-name": cfg.cluster_name})  # a node of this environment: inside max_size
    quotas = {(QuotaFamily.STANDARD, "on_demand"): 20.0, (QuotaFamily.G_VT, "spot"): 64.0}
    standard = _by_check(run_preflight(cfg, _aws(cfg, quotas)))["quota standard on_demand"]
    assert standard.status is Status.FAIL
    assert "L-1216C47A: 20 vCPUs, 8 held by other instances; 12 free < 16 needed" in standard.detail
    assert "--desired-value 24" in standard.fix  # what the pools need on top of what is held
    ec2.terminate_instances(InstanceIds=others)
    standard = _by_check(run_preflight(cfg, _aws(cfg, quotas)))["quota standard on_demand"]
    assert standard.status is Status.PASS and "20 free ≥ 16" in standard.detail


def test_never_adjusted_quota_falls_back_to_the_aws_default(moto, make_cfg):
    cfg = make_cfg()
    bootstrap(cfg)
    values = {(QuotaFamily.STANDARD, "on_demand"): 5.0, (QuotaFamily.G_VT, "spot"): 64.0}
    aws = _aws(cfg, values, defaults_only=frozenset(values))
    checks = _by_check(run_preflight(cfg, aws))
    assert checks["quota standard on_demand"].status is Status.FAIL  # default 5 < 16
    assert checks["quota g_vt spot"].status is Status.PASS


def test_missing_state_backend_points_at_bootstrap(moto, make_cfg):
    cfg = make_cfg()
    backend = _by_check(run_preflight(cfg, _aws(cfg)))["state backend"]
    assert backend.status is Status.FAIL
    assert backend.fix == "run `mlplat bootstrap dev`"


def test_an_aws_error_becomes_a_failed_check_naming_the_permission(moto, make_cfg):
    # moto's Service Quotas backend knows only VPC quotas: EC2 codes make it answer an HTML error page.
    cfg = make_cfg()
    checks = _by_check(run_preflight(cfg, Aws(cfg.environment.region)))
    quotas = checks["quotas"]
    assert quotas.status is Status.FAIL
    assert quotas.detail.startswith("AWS call failed: ") and "<html" not in quotas.detail
    assert "servicequotas:GetServiceQuota" in quotas.fix
    assert checks["account"].status is Status.PASS  # one failing check does not hide the others
