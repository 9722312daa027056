"""What mocks cannot see: two registrations with one URN.

Pulumi's mock runtime accepts them (its `MockMonitor` overwrites the first), a real `pulumi up` stops with
"Duplicate resource URN '…'; try giving it a unique name" (pulumi/pulumi diag 2001, pulumi/pulumi#1687).
URN format: https://www.pulumi.com/docs/concepts/resources/names/#urns — `urn:pulumi:<stack>::<project>::
<parent types $-joined>$<type>::<name>`, the root stack left out of the chain. The offline engine computes
these URNs itself (engine/urns.py) and refuses a plan with a duplicate.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from mlops_platform.core.errors import EngineError
from mlops_platform.engine import Plan, Resource, run_program
from mlops_platform.engine.urns import (
    ROOT_STACK_TYPE,
    UrnTracker,
    engine_urn,
    qualified_type,
    recorded_problems,
)
from mlops_platform.policy.waivers import parse_waivers

STACK_URN = "urn:pulumi:dev::p::pulumi:pulumi:Stack::p-dev"


def _problems(plan: Plan) -> list[str]:
    return recorded_problems((r.urn, r.type, r.name, r.parent) for r in plan.resources)


def test_the_engine_urn_joins_the_whole_parent_chain_and_leaves_the_stack_out() -> None:
    assert engine_urn("dev", "p", "", "aws:s3/bucket:Bucket", "b") == "urn:pulumi:dev::p::aws:s3/bucket:Bucket::b"
    assert engine_urn("dev", "p", "a:b:A$a:b:M", "aws:iam/role:Role", "r") == (
        "urn:pulumi:dev::p::a:b:A$a:b:M$aws:iam/role:Role::r")
    assert qualified_type(STACK_URN) == ""
    assert qualified_type("urn:pulumi:dev::p::a:b:A$a:b:M::m") == "a:b:A$a:b:M"


def test_the_tracker_reports_a_duplicate_once_with_both_registrations() -> None:
    urns = UrnTracker("dev", "p")
    urns.add(STACK_URN, "pulumi:pulumi:Stack", "p-dev", "")
    for name in ("part", "part", "other"):
        urns.add(engine_urn("dev", "p", "", "a:b:Part", name), "a:b:Part", name, STACK_URN)
    [line] = urns.problems()
    assert line.startswith("duplicate resource URN urn:pulumi:dev::p::a:b:Part::part, registered 2 times: "
                           "a:b:Part 'part' (parent: the stack) (×2) — ")
    assert "fix: give each a unique name" in line


DUPLICATES = """
import pulumi
import pulumi_aws as aws

class Part(pulumi.ComponentResource):
    def __init__(self, name, opts=None):
        super().__init__("test:index:Part", name, None, opts)
        aws.s3.Bucket(f"{name}-data", opts=pulumi.ResourceOptions(parent=self))
        aws.s3.Bucket("shared", opts=pulumi.ResourceOptions(parent=self))  # not named after its component
        self.register_outputs({})

Part("part")
Part("part")
Part("other")
aws.Provider("east", region="us-east-1")
aws.Provider("east", region="us-east-2")
aws.s3.Bucket("logs")
aws.s3.Bucket("logs", opts=pulumi.ResourceOptions(parent=pulumi.ComponentResource("test:index:Other", "o")))
"""


def _program(directory: Path, source: str) -> Path:
    (directory / "Pulumi.yaml").write_text("name: tiny\nruntime: python\n")
    (directory / "__main__.py").write_text(source)
    return directory


def test_a_program_registering_duplicate_urns_fails_with_every_duplicate_named(tmp_path: Path) -> None:
    with pytest.raises(EngineError) as caught:
        run_program(_program(tmp_path, DUPLICATES), stack="dev")
    message = str(caught.value)
    part = "urn:pulumi:dev::tiny::test:index:Part::part"
    assert message.startswith(f"{tmp_path / '__main__.py'}: 4 resource URN problem(s), all listed:")
    assert f"duplicate resource URN {part}, registered 2 times: test:index:Part 'part' (parent: the stack) " \
           "(×2) — " in message  # components count
    bucket = "urn:pulumi:dev::tiny::test:index:Part$aws:s3/bucket:Bucket::"
    assert f"duplicate resource URN {bucket}part-data, registered 2 times: aws:s3/bucket:Bucket 'part-data' " \
           f"(parent: {part}) (×2) — " in message
    # Children of two different parents of one type share a URN: the parent's name is not part of it.
    assert f"duplicate resource URN {bucket}shared, registered 3 times: aws:s3/bucket:Bucket 'shared' " \
           "(parent: urn:pulumi:dev::tiny::test:index:Part::other); aws:s3/bucket:Bucket 'shared' " \
           f"(parent: {part}) (×2) — " in message
    assert "duplicate resource URN urn:pulumi:dev::tiny::pulumi:providers:aws::east, registered 2 times: " \
           "pulumi:providers:aws 'east' (parent: the stack) (×2)" in message  # explicit providers count
    assert "a real `pulumi up` fails with 'Duplicate resource URN'; fix: give each a unique name" in message
    assert "::logs" not in message  # same type and name under another parent type: a different URN
    assert caught.value.exit_code == 4


SAME_MOCK_URN = """
import pulumi

def part(type_, name, parent=None):
    return pulumi.ComponentResource(type_, name, None, pulumi.ResourceOptions(parent=parent))

# The mock runtime keeps only a parent's last type: both `x` get `test:index:M$test:index:X::x` there, while
# the engine's URNs differ (`A$M$X` and `B$M$X`).
part("test:index:X", "x", part("test:index:M", "m", part("test:index:A", "a")))
part("test:index:X", "x", part("test:index:M", "m", part("test:index:B", "b")))
"""


def test_resources_only_the_mock_runtime_names_alike_are_planned_under_their_engine_urns(tmp_path: Path) -> None:
    plan = run_program(_program(tmp_path, SAME_MOCK_URN), stack="dev")
    assert sorted(r.urn for r in plan.of_type("test:index:X")) == [
        "urn:pulumi:dev::tiny::test:index:A$test:index:M$test:index:X::x",
        "urn:pulumi:dev::tiny::test:index:B$test:index:M$test:index:X::x"]
    assert _problems(plan) == []


def test_no_shipped_environment_registers_a_urn_twice(plan: Plan) -> None:
    # Building `plan` already ran the check (engine/runner.py); checking the recorded URNs again keeps this
    # true for every layer and shard the plan merges, whichever run stored it.
    assert plan.resources and _problems(plan) == []


def test_the_karpenter_variant_registers_no_urn_twice(karpenter_plan: Plan) -> None:
    assert karpenter_plan.resources and _problems(karpenter_plan) == []



def _rebuilt_urn(res: Resource, by_urn: dict[str, Resource]) -> tuple[str, int]:
    """`res`'s engine URN rebuilt from its ancestors' types alone (and how many ancestors there are): walking
    up the recorded parents, only the root stack (never recorded in a plan) may end the chain."""
    chain: list[str] = []
    parent = res.parent
    while parent in by_urn:
        chain.append(by_urn[parent].type)
        parent = by_urn[parent].parent
    assert not parent or parent.split("::")[2] == ROOT_STACK_TYPE, f"{res.urn}: parent {parent} is not planned"
    stack, project = res.urn.removeprefix("urn:pulumi:").split("::")[:2]
    return engine_urn(stack, project, "$".join(reversed(chain)), res.type, res.name), len(chain)


def test_every_planned_urn_is_the_engine_urn_of_its_ancestor_chain(plan: Plan) -> None:
    # What `pulumi stack --show-urns` prints (Pulumi docs, "Resource names" #urns): waivers and reports name
    # these, so a URN copied from the real stack matches the plan's. The mock runtime's own would keep only the
    # parent's last type and prefix top-level resources with `pulumi:pulumi:Stack$`.
    by_urn = {r.urn: r for r in plan.resources}
    rebuilt = {r.urn: _rebuilt_urn(r, by_urn) for r in plan.resources}
    assert [urn for urn, (engine, _) in rebuilt.items() if urn != engine] == []
    assert not [urn for urn in by_urn if "pulumi:pulumi:Stack$" in urn]
    assert sum(depth >= 2 for _, depth in rebuilt.values()) > 50  # nested components: where the two differ


#: A resource three components deep as `pulumi stack --show-urns` lists it for prod (format: Pulumi docs,
#: "Resource names" #urns). The mock runtime's URN of it is `…::mlops:k8s:GatewayIssuers$kubernetes:…`.
ROOT_CA = ("urn:pulumi:prod::mlops-platform-cluster::mlops:k8s:ClusterLayer$mlops:k8s:ServingStack$"
           "mlops:k8s:GatewayIssuers$kubernetes:cert-manager.io/v1:Certificate::prod-k8s-serving-tls-root-ca")


def test_a_urn_copied_from_the_real_stack_is_planned_and_a_waiver_for_it_matches(plans: dict[str, Plan]) -> None:
    assert ROOT_CA in {r.urn for r in plans["prod"].resources}
    waivers = parse_waivers({"waivers": [
        {"policy": "k8s-probes", "urn": pattern, "reason": "Copied from `pulumi stack --show-urns`.",
         "approver": "sec@example.com", "expires": date(2026, 12, 1)}
        for pattern in (ROOT_CA, "urn:pulumi:prod::*::*$mlops:k8s:GatewayIssuers$*::*-root-ca")]},
        "w.yaml", ["k8s-probes"], date(2026, 11, 1))
    assert [w.covers("k8s-probes", ROOT_CA) for w in waivers.entries] == [True, True]
