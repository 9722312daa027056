"""`mlplat bootstrap / preflight` and the pre-operation gate through the CLI, against a moto server process."""

from __future__ import annotations

import json

import boto3
import pytest
from mlops_platform.core.errors import PreflightError
from mlops_platform.ops._aws import Aws
from mlops_platform.ops.preflight import required_vcpus
from mlops_platform.workflows import automation
from mlops_platform.workflows.automation import Operation
from ops_stubs import AMI_RELEASES, ami_parameter, quota_response

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("moto")]


@pytest.fixture
def quotas_stubbed(monkeypatch):
    """Every Aws built by the CLI gets a Stubber-backed Service Quotas client (moto has no EC2 quotas)."""
    from botocore.stub import Stubber

    def factory(cfg_value: float):
        def quotas(self: Aws):
            client = self.session.client("service-quotas", region_name=self.region)
            stubber = Stubber(client)
            for code in ("L-DB2E81BA", "L-1216C47A", "L-3819A6DF", "L-34B43A08", "L-417A185B", "L-7212CCBC"):
                stubber.add_response("get_service_quota", quota_response(code, cfg_value))
            stubber.activate()
            return client

        def ssm_public(self: Aws):
            """The public EKS AMI parameters (moto serves none): every AL2023 type of a minor shares one release."""
            client = self.session.client("ssm", region_name=self.region)
            stubber = Stubber(client)
            stubber.add_response("get_parameter", ami_parameter("/aws/service/eks/optimized-ami/1.34/release_version",
                                                                AMI_RELEASES["1.34"]))
            stubber.activate()
            return client
        monkeypatch.setattr(Aws, "quotas", property(quotas))
        monkeypatch.setattr(Aws, "ssm_public", property(ssm_public))

    return factory


def test_bootstrap_twice_through_the_cli(moto, mlplat, make_cfg, tmp_root):
    make_cfg()
    code, first = mlplat("bootstrap", "dev")
    assert code == 0 and "change(s) made" in first and "pulumi login 's3://mlops-dev-pulumi-state-" in first
    code, second = mlplat("bootstrap", "dev", "--json")
    data = json.loads(second)
    assert code == 0 and data["changed"] is False
    assert {s["change"] for s in data["steps"]} == {"unchanged"}
    assert data["secrets_provider"] == "awskms://alias/mlops-dev-pulumi-secrets?region=us-east-1"


def test_preflight_json_passes_for_a_healthy_env(moto, mlplat, make_cfg, tmp_root, quotas_stubbed):
    make_cfg()
    quotas_stubbed(1000.0)
    assert mlplat("bootstrap", "dev")[0] == 0
    code, out = mlplat("preflight", "dev", "--json")
    data = json.loads(out)
    assert code == 0 and data["passed"] is True
    assert {c["status"] for c in data["checks"]} <= {"pass", "warn"}


def test_preflight_wrong_account_exits_1_with_the_fix(moto, mlplat, make_cfg, tmp_root, quotas_stubbed):
    make_cfg({"environment": {"account_id": "210987654321"}})
    quotas_stubbed(1000.0)
    code, out = mlplat("preflight", "dev")
    assert code == 1
    assert "credentials are for account 123456789012, the dev stack deploys to 210987654321" in out
    assert "run `mlplat bootstrap dev`" in out  # the backend is missing too: every failure is listed


def test_gate_runs_preflight_before_up_and_only_the_account_guard_before_destroy(moto, make_cfg):
    cfg = make_cfg({"environment": {"account_id": "210987654321"}})
    aws = Aws("us-east-1")
    with pytest.raises(PreflightError, match="account"):
        automation._gate(cfg, aws, Operation.DESTROY)
    healthy = make_cfg()
    from ops_stubs import stub_quotas
    stub_quotas(aws.quotas, dict.fromkeys(required_vcpus(healthy), 1000.0))
    with pytest.raises(PreflightError, match="state backend"):  # not bootstrapped yet
        automation._gate(healthy, aws, Operation.UP)
    assert automation._gate(healthy, Aws("us-east-1"), Operation.DESTROY) == "skipped for destroy"
    assert boto3.client("s3", region_name="us-east-1").list_buckets()["Buckets"] == []
