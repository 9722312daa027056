"""Bottlerocket managed node groups pin their AMI release from the version matrix, so a routine `up` never rolls
GPU nodes onto a newer Bottlerocket: the release is `core/versions.py` BOTTLEROCKET_NVIDIA_RELEASES, read as
the EKS release version from Bottlerocket's version-specific public SSM parameter (the path names the release,
so the value never moves), and a bump is a reviewed change of that dict.

Sources (cited where the facts are used, `versions.bottlerocket_release_parameter`):
- parameter names: bottlerocket-os/bottlerocket QUICKSTART-EKS.md "Finding an AMI" (`/aws/service/bottlerocket/
  <variant>/<arch>/latest/image_version`; "replace `latest` with that version"; NVIDIA variants append `-nvidia`);
- the parameter's value is a node group's release version (`1.30.0-ca9b9399`): hashicorp/terraform-provider-aws
  #40903; a node group's `releaseVersion: 1.47.0-6154605b`: aws-controllers-k8s/community#2644.
The dev stack's aws layer is planned once with its GPU pools on Bottlerocket (the offline engine answers the
parameter with `<release>-OFFLINE`: the build is only known to AWS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mlops_platform.config import load_stack_file
from mlops_platform.config.rules import check_rules
from mlops_platform.core import versions
from mlops_platform.core.layers import Layer
from mlops_platform.engine import Plan, run_platform
from mlops_platform.ops.upgrade import Stage, plan_upgrade

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
BOTTLEROCKET = "BOTTLEROCKET_x86_64_NVIDIA"


def _bottlerocket_pools(env: str = "dev") -> list[dict[str, Any]]:
    cfg = load_stack_file(Path("stacks") / f"Pulumi.{env}.yaml")
    return [{**p.model_dump(mode="json", exclude_defaults=True), "name": p.name, "ami_type": BOTTLEROCKET}
            for p in cfg.node_pools.gpu]


@pytest.fixture(scope="module")
def bottlerocket_stack(tmp_path_factory: pytest.TempPathFactory, shipped_variant: Any) -> Path:
    return shipped_variant("dev", {"node_pools": {"gpu": _bottlerocket_pools()}}, tmp_path_factory.mktemp("br"))


@pytest.fixture(scope="module")
def aws_plan(bottlerocket_stack: Path) -> Plan:
    """The aws layer only: the node groups live there."""
    return run_platform(stack_file=bottlerocket_stack, layer=Layer.AWS)


@pytest.mark.parametrize("minor", versions.SUPPORTED_EKS_VERSIONS)
def test_the_parameter_names_the_matrix_release_never_latest(minor: str) -> None:
    release = versions.bottlerocket_release(minor)
    assert versions.bottlerocket_release_parameter(minor, BOTTLEROCKET) == (
        f"/aws/service/bottlerocket/aws-k8s-{minor}-nvidia/x86_64/{release}/image_version")
    assert versions.bottlerocket_release_parameter(minor, "BOTTLEROCKET_ARM_64_NVIDIA") == (
        f"/aws/service/bottlerocket/aws-k8s-{minor}-nvidia/arm64/{release}/image_version")
    assert versions.bottlerocket_release_parameter(minor, "AL2023_x86_64_NVIDIA") is None  # pinned by value
    assert versions.bottlerocket_release_parameter(minor, "BOTTLEROCKET_x86_64") is None  # no GPU variant


def test_every_planned_bottlerocket_node_group_carries_the_pinned_release(aws_plan: Plan,
                                                                          bottlerocket_stack: Path) -> None:
    minor = load_stack_file(bottlerocket_stack).cluster.version
    groups = [g for g in aws_plan.of_type(NODE_GROUP) if g.get("amiType") == BOTTLEROCKET]
    assert len(groups) == 2  # the dev stack's a10g and l4 pools
    release = versions.bottlerocket_release(minor)
    for group in groups:
        assert (group.get("version"), group.get("releaseVersion")) == (minor, f"{release}-OFFLINE"), group.name
    system = next(g for g in aws_plan.of_type(NODE_GROUP) if g.get("amiType", "").startswith("AL2023"))
    assert system.get("releaseVersion") == versions.minor_pins(minor).node_release


def test_a_release_bump_is_a_matrix_change(monkeypatch: pytest.MonkeyPatch, bottlerocket_stack: Path) -> None:
    """The only input of the pin is the matrix: changing BOTTLEROCKET_NVIDIA_RELEASES changes the parameter the
    node groups read (and so their release), and the upgrade plan names the release a minor bump runs."""
    loaded = load_stack_file(bottlerocket_stack)
    cfg = loaded.model_copy(update={"cluster": loaded.cluster.model_copy(update={"version": "1.34"})})
    before = versions.bottlerocket_release_parameter("1.34", BOTTLEROCKET)
    monkeypatch.setitem(versions.BOTTLEROCKET_NVIDIA_RELEASES, "1.34", "1.63.0")
    assert versions.bottlerocket_release_parameter("1.34", BOTTLEROCKET) == str(before).replace("1.62.0", "1.63.0")
    monkeypatch.undo()
    steps = [s for s in plan_upgrade(cfg, "1.35").steps if s.stage is Stage.NODE_GROUP and s.name != "system"]
    assert {(s.from_version, s.to_version) for s in steps} == {(
        "bottlerocket v1.62.0 (aws-k8s-1.34-nvidia)", "bottlerocket v1.62.0 (aws-k8s-1.35-nvidia)")}


def test_a_minor_the_matrix_pins_no_release_for_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                           bottlerocket_stack: Path) -> None:
    cfg = load_stack_file(bottlerocket_stack)
    minor = cfg.cluster.version
    assert [i for i in check_rules(cfg) if i.path.endswith("ami_type")] == []
    monkeypatch.delitem(versions.BOTTLEROCKET_NVIDIA_RELEASES, minor)
    issues = [i for i in check_rules(cfg) if i.path.endswith("ami_type")]
    assert [i.path for i in issues] == ["node_pools.gpu[0].ami_type", "node_pools.gpu[1].ami_type"]
    assert issues[0].message == ("the version matrix pins no Bottlerocket release for a BOTTLEROCKET_x86_64_NVIDIA "
                                 f"node group on cluster.version {minor}: its AMI release would float (an update "
                                 "could roll the nodes)")
    assert issues[0].value == BOTTLEROCKET and "core/versions.py BOTTLEROCKET_NVIDIA_RELEASES" in issues[0].fix
