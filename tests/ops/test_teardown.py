"""`mlplat destroy` beyond `pulumi destroy`: the aws layer never goes under the in-cluster layers, and a forced
destroy lifts EKS deletion protection (pure parts + botocore Stubber: the moto server ignores
UpdateClusterConfig deletionProtection)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber
from mlops_platform.config import load_env
from mlops_platform.core.errors import UsageError
from mlops_platform.core.layers import Layer
from mlops_platform.ops._aws import Aws
from mlops_platform.workflows import automation
from mlops_platform.workflows.teardown import (
    CONTROLLER_CLUSTER_TAG,
    await_controller_load_balancers,
    controller_load_balancers,
    lift_cluster_deletion_protection,
    live_resources,
    refuse_aws_under_upper_layers,
)


def test_only_cloud_resources_count_as_held() -> None:
    state = {"resources": [{"type": "pulumi:pulumi:Stack"}, {"type": "pulumi:providers:aws"},
                           {"type": "aws:iam/role:Role"}, {"type": "kubernetes:core/v1:Namespace"}]}
    assert live_resources(state) == 2
    assert live_resources({"resources": []}) == live_resources(None) == 0


def test_the_aws_layer_is_not_destroyed_under_the_in_cluster_layers() -> None:
    cfg = load_env("dev")
    held = {Layer.TENANTS: 0, Layer.CLUSTER: 12}
    with pytest.raises(UsageError, match=r"refusing to destroy the aws layer of dev: cluster \(12 resource") as err:
        refuse_aws_under_upper_layers(cfg, held.__getitem__)
    assert "mlplat destroy dev" in str(err.value) and "MLPLAT_OPERATION=destroy" in str(err.value)
    refuse_aws_under_upper_layers(cfg, lambda layer: 0)  # both empty: allowed


def test_destroy_layer_aws_alone_stops_before_touching_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    monkeypatch.setattr(automation, "require_tools", lambda aws, op: "pulumi")
    monkeypatch.setattr(automation, "_held", lambda cfg, layer: 3 if layer is Layer.TENANTS else 0)
    monkeypatch.setattr(automation, "_gate", lambda cfg, aws, op, shard=None: ran.append("gate") or "skipped")
    monkeypatch.setattr(automation, "_execute",
                        lambda stack, op, out, force, refresh=False: ran.append(str(stack)) or "{}")
    with pytest.raises(UsageError, match="tenants \\(3 resource"):
        automation.run_operation("dev", automation.Operation.DESTROY, layer=Layer.AWS,
                                 aws=object(), on_output=lambda _: None)  # type: ignore[arg-type]
    assert ran == []


def _describe(name: str, protected: bool) -> dict[str, Any]:
    return {"cluster": {"name": name, "status": "ACTIVE", "deletionProtection": protected}}


def test_a_forced_destroy_turns_off_eks_deletion_protection_first() -> None:
    """EKS refuses DeleteCluster while deletion protection is on; `pulumi state unprotect` does not touch it.
    https://docs.aws.amazon.com/eks/latest/userguide/deletion-protection.html"""
    cfg = load_env("prod")
    aws, said = Aws(cfg.environment.region), []
    name = cfg.cluster_name
    with Stubber(aws.eks) as stub:
        stub.add_response("describe_cluster", _describe(name, True), {"name": name})
        stub.add_response("update_cluster_config", {"update": {"id": "u-1", "status": "InProgress",
                                                                "type": "DeletionProtectionUpdate"}},
                          {"name": name, "deletionProtection": False})
        stub.add_response("describe_cluster", _describe(name, False), {"name": name})  # the waiter's poll
        lift_cluster_deletion_protection(cfg, aws, said.append)
        stub.assert_no_pending_responses()
    assert said == [f"turning off EKS deletion protection of {name} (forced destroy)\n"]


def test_an_unprotected_or_absent_cluster_is_left_alone() -> None:
    cfg = load_env("prod")
    aws = Aws(cfg.environment.region)
    with Stubber(aws.eks) as stub:
        stub.add_response("describe_cluster", _describe(cfg.cluster_name, False), {"name": cfg.cluster_name})
        stub.add_client_error("describe_cluster", "ResourceNotFoundException", http_status_code=404)
        lift_cluster_deletion_protection(cfg, aws, print)
        lift_cluster_deletion_protection(cfg, aws, print)
        stub.assert_no_pending_responses()


def test_a_forced_prod_destroy_lifts_protection_just_before_the_aws_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    monkeypatch.setattr(automation, "require_tools", lambda aws, op: "pulumi")
    monkeypatch.setattr(automation, "_gate", lambda cfg, aws, op, shard=None: "skipped")
    monkeypatch.setattr(automation, "_endpoint", lambda cfg: "https://ABC.gr7.eu-west-1.eks.amazonaws.com")
    monkeypatch.setattr(automation, "_stack", lambda cfg, layer, create: layer)
    monkeypatch.setattr(automation, "_execute",
                        lambda stack, op, out, force, refresh=False: ran.append(stack.value) or "{}")
    monkeypatch.setattr(automation, "lift_cluster_deletion_protection",
                        lambda cfg, aws, out: ran.append("lift"))
    monkeypatch.setattr(automation, "await_controller_load_balancers", lambda cfg, aws, out: ran.append("nlb gone"))
    automation.run_operation("prod", automation.Operation.DESTROY, force_destroy_protected_data=True,
                             aws=object(), on_output=lambda _: None,  # type: ignore[arg-type]
                             probe=lambda h, p, t: None)
    assert ran == ["tenants", "cluster", "nlb gone", "lift", "aws"]


def _nlb(aws: Aws, subnet: str, name: str, cluster: str | None) -> str:
    tags = [{"Key": CONTROLLER_CLUSTER_TAG, "Value": cluster}] if cluster else []
    lb = aws.elbv2.create_load_balancer(Name=name, Subnets=[subnet], Scheme="internal", Type="network",
                                        Tags=tags or [{"Key": "owner", "Value": "someone-else"}])
    return str(lb["LoadBalancers"][0]["LoadBalancerArn"])


@pytest.mark.slow
@pytest.mark.xdist_group("moto")  # the worker that has the moto server already: none started for this test alone
def test_the_aws_layer_waits_for_the_controllers_load_balancers_and_refuses_while_they_stay(moto: str) -> None:
    """Against the moto server: only load balancers tagged by the controller for this cluster count."""
    cfg = load_env("dev")
    aws, said = Aws(cfg.environment.region), []
    vpc = aws.ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = aws.ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    _nlb(aws, subnet, "other-cluster", "another-cluster")
    _nlb(aws, subnet, "not-the-controllers", None)
    await_controller_load_balancers(cfg, aws, said.append, timeout=0)  # none of this cluster's: passes at once
    assert said == []
    ours = _nlb(aws, subnet, "k8s-envoyga-models", cfg.cluster_name)
    assert controller_load_balancers(aws, cfg.cluster_name) == [ours]
    with pytest.raises(UsageError, match=r"(?s)Load Balancer Controller's load balancer\(s\) .*still exist.*"
                                         r"mlplat destroy dev --layer cluster"):
        await_controller_load_balancers(cfg, aws, said.append, timeout=0)
    # the controller deletes it while we wait: one poll, then the aws layer may go
    await_controller_load_balancers(cfg, aws, said.append, timeout=60, poll=5,
                                    sleep=lambda _: aws.elbv2.delete_load_balancer(LoadBalancerArn=ours))
    assert said == ["waiting for 1 load balancer(s) of the AWS Load Balancer Controller to go\n"]
    assert controller_load_balancers(aws, cfg.cluster_name) == []
