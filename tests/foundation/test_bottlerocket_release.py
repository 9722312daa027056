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
from mlops_platform.config import load_stack_file, stack_file_for
from mlops_platform.config.rules import check_rules
from mlops_platform.core import versions
from mlops_platform.core.layers import Layer
from mlops_platform.engine import Plan, run_platform
from mlops_platform.ops.upgrade import Stage, plan_upgrade

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
BOTTLEROCKET = "BOTTLEROCKET_x86_64_NVIDIA"
SYSTEM = "BOTTLEROCKET_x86_64"


def _bottlerocket_pools(env: str = "dev") -> list[dict[str, Any]]:
    cfg = load_stack_file(stack_file_for(env))
    return [{**p.model_dump(mode="json", exclude_defaults=True), "name": p.name, "ami_type": BOTTLEROCKET}
            for p in cfg.node_pools.gpu]


@pytest.fixture(scope="module")
def bottlerocket_stack(tmp_path_factory: pytest.TempPathFactory, shipped_variant: Any) -> Path:
    """The dev stack with every pool on Bottlerocket: the GPU pools' NVIDIA variant, the system pool's standard one
    (pinned the same way since review L3; AL2023's matrix release is asserted on the shipped plans, test_eks_facts)."""
    pools = {"system": {"ami_type": SYSTEM}, "gpu": _bottlerocket_pools()}
    return shipped_variant("dev", {"node_pools": pools}, tmp_path_factory.mktemp("br"))


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
    # a Bottlerocket system pool pins the same release of the minor's standard variant (review L3: it floated)
    assert versions.bottlerocket_release_parameter(minor, "BOTTLEROCKET_x86_64") == (
        f"/aws/service/bottlerocket/aws-k8s-{minor}/x86_64/{release}/image_version")
    assert versions.bottlerocket_release_parameter(minor, "BOTTLEROCKET_ARM_64") == (
        f"/aws/service/bottlerocket/aws-k8s-{minor}/arm64/{release}/image_version")


def test_every_planned_bottlerocket_node_group_carries_the_pinned_release(aws_plan: Plan,
                                                                          bottlerocket_stack: Path) -> None:
    minor = load_stack_file(bottlerocket_stack).cluster.version
    groups = [g for g in aws_plan.of_type(NODE_GROUP) if g.get("amiType") == BOTTLEROCKET]
    assert len(groups) == 2  # the dev stack's a10g and l4 pools
    release = versions.bottlerocket_release(minor)
    for group in groups:
        assert (group.get("version"), group.get("releaseVersion")) == (minor, f"{release}-OFFLINE"), group.name
    (system,) = [g for g in aws_plan.of_type(NODE_GROUP) if g.get("amiType") == SYSTEM]
    assert (system.get("version"), system.get("releaseVersion")) == (minor, f"{release}-OFFLINE")


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
    assert [i.path for i in issues] == ["node_pools.system.ami_type", "node_pools.gpu[0].ami_type",
                                        "node_pools.gpu[1].ami_type"]
    assert issues[0].value == SYSTEM
    assert issues[1].message == ("the version matrix pins no Bottlerocket release for a BOTTLEROCKET_x86_64_NVIDIA "
                                 f"node group on cluster.version {minor}: its AMI release would float (an update "
                                 "could roll the nodes)")
    assert issues[1].value == BOTTLEROCKET and "core/versions.py BOTTLEROCKET_NVIDIA_RELEASES" in issues[1].fix


def test_a_bottlerocket_system_pool_is_pinned_or_refused(monkeypatch: pytest.MonkeyPatch,
                                                        bottlerocket_stack: Path) -> None:
    """The system pool's Bottlerocket types pin like the GPU ones (versions.bottlerocket_release_parameter, read by
    aws/nodepools.py); a minor without a pinned release is refused for it too, never left to float."""
    loaded = load_stack_file(bottlerocket_stack)
    system = loaded.node_pools.system.model_copy(update={"ami_type": "BOTTLEROCKET_ARM_64",
                                                         "instance_types": ["m7g.xlarge"]})
    cfg = loaded.model_copy(update={"node_pools": loaded.node_pools.model_copy(update={"system": system}),
                                    "cluster": loaded.cluster.model_copy(update={"version": "1.34"})})
    assert [i for i in check_rules(cfg) if i.path.startswith("node_pools.system")] == []
    step = next(s for s in plan_upgrade(cfg, "1.35").steps if s.name == system.name)
    assert (step.from_version, step.to_version) == ("bottlerocket v1.62.0 (aws-k8s-1.34)",
                                                    "bottlerocket v1.62.0 (aws-k8s-1.35)")
    assert "aws-k8s-1.35/arm64/1.62.0/image_version" in step.command
    monkeypatch.delitem(versions.BOTTLEROCKET_NVIDIA_RELEASES, cfg.cluster.version)
    (issue,) = [i for i in check_rules(cfg) if i.path.startswith("node_pools.system")]
    assert issue.path == "node_pools.system.ami_type" and issue.value == "BOTTLEROCKET_ARM_64"
    assert "its AMI release would float" in issue.message


def test_the_documented_preview_grant_covers_every_parameter_the_aws_layer_reads() -> None:
    """docs/operations.md tells whoever previews the aws layer to allow ssm:GetParameter on one resource ARN
    (review L4); every pinned parameter (each minor, each Bottlerocket AMI type) must fall under it."""
    import fnmatch
    import re

    doc = (Path(__file__).parents[2] / "docs" / "operations.md").read_text(encoding="utf-8")
    (resource,) = re.findall(r'"Resource": "(arn:aws:ssm:<region>::parameter/aws/service/bottlerocket/\*)"', doc)
    grant = resource.replace("<region>", "us-east-1")
    for minor in versions.SUPPORTED_EKS_VERSIONS:
        for ami_type in versions.BOTTLEROCKET_SSM_ARCH:
            parameter = versions.bottlerocket_release_parameter(minor, ami_type)
            assert fnmatch.fnmatchcase(f"arn:aws:ssm:us-east-1::parameter{parameter}", grant), parameter
