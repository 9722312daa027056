"""Account singletons and the path to the API, checked against a real moto server (and a real socket)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlparse

import boto3
import pytest
from mlops_platform.ops._aws import Aws
from mlops_platform.ops.account_checks import (
    check_api_endpoint,
    check_autoscaling_role,
    check_github_oidc,
    check_spot_role,
    runner_commands,
    tcp_probe,
)
from mlops_platform.ops.checks import Status
from ops_configs import MOTO_ACCOUNT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("moto")]
GITHUB = "https://token.actions.githubusercontent.com"
GITHUB_ARN = f"arn:aws:iam::{MOTO_ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"


def _iam():
    return boto3.client("iam", region_name="us-east-1")


def test_github_provider_absent_is_created_by_the_aws_layer(moto, make_cfg):
    [result] = check_github_oidc(make_cfg(), Aws("us-east-1"))
    assert result.status is Status.PASS and "creates it" in result.detail


def test_an_existing_github_provider_must_be_reused_and_preflight_names_it(moto, make_cfg):
    # IAM: one OIDC provider per URL per account (CreateOpenIDConnectProvider -> EntityAlreadyExists).
    # https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateOpenIDConnectProvider.html
    _iam().create_open_id_connect_provider(Url=GITHUB, ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40])
    [result] = check_github_oidc(make_cfg(), Aws("us-east-1"))
    assert result.status is Status.FAIL
    assert f"github_oidc_provider_arn: {GITHUB_ARN}" in result.fix
    [reused] = check_github_oidc(make_cfg({"ci": {"github_oidc_provider_arn": GITHUB_ARN}}), Aws("us-east-1"))
    assert reused.status is Status.PASS and GITHUB_ARN in reused.detail


def test_a_github_provider_this_environment_created_is_no_conflict(moto, make_cfg):
    cfg = make_cfg()
    tags = [{"Key": k, "Value": v} for k, v in cfg.base_tags.items()]
    _iam().create_open_id_connect_provider(Url=GITHUB, ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40],
                                           Tags=tags)
    [result] = check_github_oidc(cfg, Aws("us-east-1"))
    assert result.status is Status.PASS and "created by this environment" in result.detail


def test_a_configured_provider_that_does_not_exist_fails(moto, make_cfg):
    [result] = check_github_oidc(make_cfg({"ci": {"github_oidc_provider_arn": GITHUB_ARN}}), Aws("us-east-1"))
    assert result.status is Status.FAIL and "does not exist" in result.detail


def test_autoscaling_role_is_reported_with_the_value_to_set(moto, make_cfg):
    # A fresh account has no AWSServiceRoleForAutoScaling until its first Auto Scaling group.
    # https://docs.aws.amazon.com/autoscaling/ec2/userguide/autoscaling-service-linked-role.html
    [fresh] = check_autoscaling_role(make_cfg(), Aws("us-east-1"))
    assert fresh.status is Status.PASS and "creates it before the EBS key" in fresh.detail
    [missing] = check_autoscaling_role(make_cfg({"account": {"create_autoscaling_service_role": False}}),
                                       Aws("us-east-1"))
    assert missing.status is Status.FAIL and "create_autoscaling_service_role: true" in missing.fix
    _iam().create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com")
    [taken] = check_autoscaling_role(make_cfg(), Aws("us-east-1"))
    assert taken.status is Status.FAIL
    assert taken.fix == ("in stacks/Pulumi.dev.yaml set\n      mlops-platform:account:\n"
                         "        create_autoscaling_service_role: false")
    [reused] = check_autoscaling_role(make_cfg({"account": {"create_autoscaling_service_role": False}}),
                                      Aws("us-east-1"))
    assert reused.status is Status.PASS


#: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/service-linked-roles-spot-instance-requests.html
KARPENTER_SPOT = {"gpu": {"provisioner": "karpenter"}, "node_pools": {"gpu": [
    {"name": "l4", "instance_types": ["g6.xlarge"], "capacity": "spot", "max_size": 2}]}}


def _spot_role_exists() -> None:
    """The role as the account holds it. Moto's CreateServiceLinkedRole derives the name from the service
    ("AWSServiceRoleForspot"); IAM names it AWSServiceRoleForEC2Spot (EC2 User Guide, link above)."""
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "spot.amazonaws.com"}}]}
    _iam().create_role(RoleName="AWSServiceRoleForEC2Spot", Path="/aws-service-role/spot.amazonaws.com/",
                       AssumeRolePolicyDocument=json.dumps(trust))


def test_spot_role_is_checked_only_for_karpenter_spot_pools_and_reported_with_the_value_to_set(moto, make_cfg):
    # Karpenter's spot CreateFleet needs AWSServiceRoleForEC2Spot, which a fresh account lacks.
    assert list(check_spot_role(make_cfg(), Aws("us-east-1"))) == []  # managed node groups: not needed
    keep = {**KARPENTER_SPOT, "account": {"create_spot_service_role": False}}
    [fresh] = check_spot_role(make_cfg(KARPENTER_SPOT), Aws("us-east-1"))
    assert fresh.status is Status.PASS and "AWSServiceRoleForEC2Spot does not exist" in fresh.detail
    [missing] = check_spot_role(make_cfg(keep), Aws("us-east-1"))
    assert missing.status is Status.FAIL and "create_spot_service_role: true" in missing.fix
    assert "--aws-service-name spot.amazonaws.com" in missing.fix
    _spot_role_exists()
    [taken] = check_spot_role(make_cfg(KARPENTER_SPOT), Aws("us-east-1"))
    assert taken.status is Status.FAIL and "has been taken" in taken.detail
    assert taken.fix == ("in stacks/Pulumi.dev.yaml set\n      mlops-platform:account:\n"
                         "        create_spot_service_role: false")
    [reused] = check_spot_role(make_cfg(keep), Aws("us-east-1"))
    assert reused.status is Status.PASS


@pytest.fixture
def listening() -> Iterator[int]:
    """A real TCP listener on 127.0.0.1 (the 'reachable endpoint')."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = int(server.getsockname()[1])
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                server.accept()[0].close()
            except OSError:
                continue
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield port
    stop.set()
    thread.join()
    server.close()


def test_tcp_probe_tells_open_from_closed_quickly(listening):
    assert tcp_probe("127.0.0.1", listening, 1.0) is None
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = int(sock.getsockname()[1])
    assert "ConnectionRefused" in (tcp_probe("127.0.0.1", closed, 1.0) or "")


def _cluster(cfg) -> str:
    eks = boto3.client("eks", region_name="us-east-1")
    return eks.create_cluster(name=cfg.cluster_name, roleArn=f"arn:aws:iam::{MOTO_ACCOUNT}:role/eks",
                              resourcesVpcConfig={"subnetIds": []})["cluster"]["endpoint"]


def test_api_endpoint_of_an_existing_cluster_is_probed_on_443(moto, make_cfg, listening):
    cfg = make_cfg({"cluster": {"deployer_role_arns": [f"arn:aws:iam::{MOTO_ACCOUNT}:role/deployer"]}})
    [absent] = check_api_endpoint(cfg, Aws("us-east-1"))
    assert absent.status is Status.PASS and "does not exist yet" in absent.detail
    endpoint = _cluster(cfg)
    seen = []

    def reachable(host: str, port: int, timeout: float) -> str | None:
        seen.append((host, port, timeout))
        return tcp_probe("127.0.0.1", listening, timeout)
    [ok] = check_api_endpoint(cfg, Aws("us-east-1"), reachable)
    assert ok.status is Status.PASS and seen == [(urlparse(endpoint).hostname, 443, 3.0)]
    [blocked] = check_api_endpoint(cfg, Aws("us-east-1"), lambda h, p, t: "TimeoutError: timed out")
    assert blocked.status is Status.WARN and "stops after the aws layer" in blocked.detail
    for command in runner_commands(cfg):
        assert command in blocked.fix
    assert "aws codebuild start-build --project-name mlops-dev-deployer --region us-east-1" in blocked.fix


def test_mlplat_up_stops_before_any_stack_with_the_exact_lines_when_the_role_exists(
        moto, make_cfg, tmp_root, mlplat, monkeypatch):
    """The account already has the role (any Auto Scaling group creates it): the default
    create_autoscaling_service_role: true would fail the first `up` half-way (IAM CreateServiceLinkedRole refuses a
    taken name). `up` stops in preflight, before any stack, with the lines to set (account_checks.py says why it
    does not pass the value itself)."""
    from mlops_platform.workflows import automation

    make_cfg()
    _iam().create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com")
    touched = []
    monkeypatch.setattr(automation, "require_tools", lambda aws, op: "pulumi")  # no Pulumi CLI here
    monkeypatch.setattr(automation, "_stack", lambda cfg, layer, create: touched.append(layer))
    code, out = mlplat("up", "dev", "--json")
    error = json.JSONDecoder().raw_decode(out)[0]["error"]  # stdout first; stderr after it
    assert code == error["exit_code"] != 0 and error["code"] == "preflight"
    assert ("autoscaling role: AWSServiceRoleForAutoScaling already exists in the account (not created by dev)"
            in error["message"])
    assert "mlops-platform:account:\n        create_autoscaling_service_role: false" in error["message"]
    assert touched == []


def test_mlplat_up_stops_with_the_exact_lines_when_the_spot_role_exists(moto, make_cfg, tmp_root, mlplat, monkeypatch):
    from mlops_platform.workflows import automation

    make_cfg(KARPENTER_SPOT)
    _spot_role_exists()
    touched = []
    monkeypatch.setattr(automation, "require_tools", lambda aws, op: "pulumi")  # no Pulumi CLI here
    monkeypatch.setattr(automation, "_stack", lambda cfg, layer, create: touched.append(layer))
    code, out = mlplat("up", "dev", "--json")
    error = json.JSONDecoder().raw_decode(out)[0]["error"]
    assert code == error["exit_code"] != 0 and error["code"] == "preflight"
    assert "spot role: AWSServiceRoleForEC2Spot already exists in the account (not created by dev)" in error["message"]
    assert "mlops-platform:account:\n        create_spot_service_role: false" in error["message"]
    assert touched == []
