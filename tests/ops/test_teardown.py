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
    monkeypatch.setattr(automation, "_gate", lambda cfg, aws, op: ran.append("gate") or "skipped")
    monkeypatch.setattr(automation, "_execute", lambda stack, op, out, force: ran.append(str(stack)) or "{}")
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
    monkeypatch.setattr(automation, "_gate", lambda cfg, aws, op: "skipped")
    monkeypatch.setattr(automation, "_endpoint", lambda cfg: "https://ABC.gr7.eu-west-1.eks.amazonaws.com")
    monkeypatch.setattr(automation, "_stack", lambda cfg, layer, create: layer)
    monkeypatch.setattr(automation, "_execute", lambda stack, op, out, force: ran.append(stack.value) or "{}")
    monkeypatch.setattr(automation, "lift_cluster_deletion_protection",
                        lambda cfg, aws, out: ran.append("lift"))
    automation.run_operation("prod", automation.Operation.DESTROY, force_destroy_protected_data=True,
                             aws=object(), on_output=lambda _: None,  # type: ignore[arg-type]
                             probe=lambda h, p, t: None)
    assert ran == ["tenants", "cluster", "lift", "aws"]
