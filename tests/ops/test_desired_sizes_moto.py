"""`mlplat up` raises a node group's desired size to a raised min_size before the aws layer (ops/desired_sizes.py),
against a real moto server (moto 5 serves CreateNodegroup, DescribeNodegroup and UpdateNodegroupConfig).

The fact: the stack ignores desired-size drift (aws/nodepools.py `ignore_changes`), so the engine sends the new min
with the live desired size, and EKS requires minSize ≤ desiredSize ≤ maxSize in every scaling config.
https://docs.aws.amazon.com/eks/latest/APIReference/API_NodegroupScalingConfig.html
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from mlops_platform.core.errors import PreflightError
from mlops_platform.ops._aws import Aws
from mlops_platform.ops.desired_sizes import planned_raises, raise_desired_sizes
from mlops_platform.workflows import automation

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("moto")]

ROLE = "arn:aws:iam::123456789012:role/eks"
RAISED = {"node_pools": {"system": {"min_size": 3, "desired_size": 3, "max_size": 4}}}
#: min raised above the live max too (dev GPU pools must scale to zero, so the system pool shows both cases)
ABOVE_MAX = {"node_pools": {"system": {"min_size": 5, "desired_size": 5, "max_size": 6}}}


def _live(cfg: Any, system: dict[str, int], l4: dict[str, int]) -> Any:
    eks = boto3.client("eks", region_name=cfg.environment.region)
    eks.create_cluster(name=cfg.cluster_name, version="1.34", roleArn=ROLE,
                       resourcesVpcConfig={"subnetIds": ["subnet-0123456789abcdef0"]})
    for pool, scaling in (("system", system), ("l4", l4), ("unmanaged", {"minSize": 0, "desiredSize": 0,
                                                                         "maxSize": 1})):
        eks.create_nodegroup(clusterName=cfg.cluster_name, nodegroupName=f"{pool}-20260101", nodeRole=ROLE,
                             subnets=["subnet-0123456789abcdef0"], labels={"mlops.io/pool": pool},
                             scalingConfig=scaling)
    return eks


def _scaling(eks: Any, cfg: Any, group: str) -> dict[str, int]:
    return dict(eks.describe_nodegroup(clusterName=cfg.cluster_name, nodegroupName=group)["nodegroup"]["scalingConfig"])


def test_up_raises_desired_to_the_new_min_keeping_the_live_min(moto: str, make_cfg: Any) -> None:
    cfg = make_cfg(RAISED)
    eks = _live(cfg, {"minSize": 2, "desiredSize": 2, "maxSize": 4}, {"minSize": 0, "desiredSize": 0, "maxSize": 1})
    said: list[str] = []
    raised = raise_desired_sizes(cfg, Aws(cfg.environment.region), said.append)
    assert [(r.pool, r.nodegroup, r.desired_from, r.desired_to) for r in raised] == [
        ("system", "system-20260101", 2, 3)]
    # a valid request on its own: the live min kept (the engine raises it next)
    assert _scaling(eks, cfg, "system-20260101") == {"minSize": 2, "desiredSize": 3, "maxSize": 4}
    assert _scaling(eks, cfg, "l4-20260101")["desiredSize"] == 0  # within its sizes: untouched
    assert _scaling(eks, cfg, "unmanaged-20260101")["desiredSize"] == 0  # not a configured pool: untouched
    assert said == ["raising the desired size of node group system-20260101 from 2 to 3 (node_pools "
                    "system.min_size; EKS needs desired ≥ min)\n"]
    assert raise_desired_sizes(cfg, Aws(cfg.environment.region), said.append) == []  # idempotent


def test_a_new_min_above_the_live_max_lifts_max_with_it(moto: str, make_cfg: Any) -> None:
    cfg = make_cfg(ABOVE_MAX)
    eks = _live(cfg, {"minSize": 2, "desiredSize": 2, "maxSize": 4}, {"minSize": 0, "desiredSize": 0, "maxSize": 1})
    [raised] = raise_desired_sizes(cfg, Aws(cfg.environment.region), lambda _: None)
    assert raised.scaling_config == _scaling(eks, cfg, "system-20260101") == {"minSize": 2, "desiredSize": 5,
                                                                              "maxSize": 5}


def test_nothing_to_raise_without_a_cluster_or_within_the_sizes(moto: str, make_cfg: Any) -> None:
    cfg = make_cfg()
    assert raise_desired_sizes(cfg, Aws(cfg.environment.region), print) == []  # no cluster yet
    _live(cfg, {"minSize": 2, "desiredSize": 2, "maxSize": 4}, {"minSize": 0, "desiredSize": 1, "maxSize": 4})
    assert raise_desired_sizes(cfg, Aws(cfg.environment.region), print) == []


def test_a_refused_update_stops_before_the_aws_layer_with_the_manual_command(moto: str, make_cfg: Any) -> None:
    """moto answers every UpdateNodegroupConfig; a refusal (no permission, update in progress) is stubbed."""
    cfg = make_cfg(RAISED)
    _live(cfg, {"minSize": 2, "desiredSize": 2, "maxSize": 4}, {"minSize": 0, "desiredSize": 2, "maxSize": 4})
    aws = Aws(cfg.environment.region)
    [change] = planned_raises(cfg, [boto3.client("eks", region_name="us-east-1").describe_nodegroup(
        clusterName=cfg.cluster_name, nodegroupName="system-20260101")["nodegroup"]])
    real = aws.eks
    stubbed = boto3.client("eks", region_name=cfg.environment.region)
    stubbed.describe_cluster = real.describe_cluster  # type: ignore[method-assign]
    stubbed.list_nodegroups = real.list_nodegroups  # type: ignore[method-assign]
    stubbed.describe_nodegroup = real.describe_nodegroup  # type: ignore[method-assign]
    aws.eks = stubbed
    with Stubber(stubbed) as stub:
        stub.add_client_error("update_nodegroup_config", "AccessDeniedException", "not authorized",
                              http_status_code=403)
        with pytest.raises(PreflightError, match=r"node group system-20260101 .*failed before the aws layer: "
                                                 r"AccessDeniedException") as err:
            raise_desired_sizes(cfg, aws, lambda _: None)
    assert ("--scaling-config minSize=2,maxSize=4,desiredSize=3` and wait until the group is ACTIVE"
            in str(err.value))
    assert change.scaling_config == {"minSize": 2, "desiredSize": 3, "maxSize": 4}


def test_mlplat_up_json_reports_the_raise_and_runs_it_before_the_aws_layer(
        moto: str, make_cfg: Any, tmp_root: Any, mlplat: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = make_cfg(RAISED)
    eks = _live(cfg, {"minSize": 2, "desiredSize": 2, "maxSize": 4}, {"minSize": 0, "desiredSize": 2, "maxSize": 4})
    seen: list[dict[str, int]] = []
    monkeypatch.setattr(automation, "require_tools", lambda aws, op: "pulumi")  # no Pulumi CLI here
    monkeypatch.setattr(automation, "_gate", lambda cfg, aws, op, shard=None: "review skipped")
    monkeypatch.setattr(automation, "_stack", lambda cfg, layer, create: layer)
    monkeypatch.setattr(automation, "_execute", lambda stack, op, out, force, refresh=False: seen.append(
        _scaling(eks, cfg, "system-20260101")) or "{'update': 3}")
    code, out = mlplat("up", "dev", "--layer", "aws", "--json")
    # stdout holds the one object; the engine's stream (after it here: stdout + stderr) went to stderr
    data, end = json.JSONDecoder().raw_decode(out)
    assert "raising the desired size of node group system-20260101 from 2 to 3" in out[end:]
    assert code == 0 and data["summary"] == "aws: {'update': 3}"
    assert seen == [{"minSize": 2, "desiredSize": 3, "maxSize": 4}]  # raised before the engine ran
    assert data["desired_size_raises"] == [{"pool": "system", "nodegroup": "system-20260101", "desired_from": 2,
                                            "desired_to": 3,
                                            "scaling_config": {"minSize": 2, "desiredSize": 3, "maxSize": 4}}]


def test_a_gpu_node_group_karpenter_replaces_is_never_scaled_up(make_cfg: Any) -> None:
    """With gpu.provisioner: karpenter the aws layer deletes the GPU node groups: raising one would launch GPU
    nodes only to delete them."""
    over = {"gpu": {"max_total_gpus": 64, "provisioner": "karpenter"},
            "node_pools": {"system": {"min_size": 3, "desired_size": 3, "max_size": 4}}}
    cfg = make_cfg(over)
    assert cfg.karpenter
    groups = [{"nodegroupName": f"{pool}-1", "labels": {"mlops.io/pool": pool},
               "scalingConfig": {"minSize": 0, "desiredSize": 0, "maxSize": 4}} for pool in ("system", "l4")]
    cfg_gpu_min = cfg.model_copy(update={"node_pools": cfg.node_pools.model_copy(update={
        "gpu": [cfg.node_pools.gpu[0].model_copy(update={"min_size": 1})]})})
    assert [r.pool for r in planned_raises(cfg_gpu_min, groups)] == ["system"]
