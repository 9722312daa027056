"""Waivers: validated, expiring, matched by exact URN or glob; waived findings stay visible."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from mlops_platform.core.errors import WaiverError
from mlops_platform.policy import all_specs, evaluate
from mlops_platform.policy.report import build_report
from mlops_platform.policy.waivers import Waiver, load_waivers, parse_waivers
from policy_plans import Patch, config_for, urn, variant

TODAY = date(2026, 11, 1)
NAMES = [s.name for s in all_specs()]
CLUSTER = urn("aws:eks/cluster:Cluster", "eks")


def entry(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {"policy": "eks-private-endpoint", "urn": CLUSTER, "approver": "sec@example.com",
                               "reason": "Onboarding week, office CIDR only.", "expires": TODAY + timedelta(days=30)}
    return {**base, **overrides}


def test_valid_file_loads_and_matches_exact_and_glob(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text("waivers:\n"
                    f"  - policy: eks-private-endpoint\n    urn: '{CLUSTER}'\n    reason: Office CIDR only, one week.\n"
                    "    approver: sec@example.com\n    expires: 2026-11-20\n"
                    "  - policy: k8s-probes\n    urn: 'urn:pulumi:test::*::kubernetes:apps/v1:Deployment::*'\n"
                    "    reason: Batch-like deployment, no endpoint.\n    approver: sre@example.com\n"
                    "    expires: 2026-12-01\n")
    waivers = load_waivers(path, NAMES, today=TODAY)
    assert len(waivers.entries) == 2
    assert waivers.find("eks-private-endpoint", CLUSTER) is waivers.entries[0]
    assert waivers.find("k8s-probes", urn("kubernetes:apps/v1:Deployment", "x")) is waivers.entries[1]
    assert waivers.find("k8s-probes", urn("kubernetes:apps/v1:StatefulSet", "x")) is None
    assert waivers.find("eks-secrets-encryption", CLUSTER) is None


def test_every_malformed_field_is_named_with_index_and_value() -> None:
    bad = {"waivers": [entry(), entry(approver="not-an-email", colour="red"), {"policy": "eks-private-endpoint"}]}
    with pytest.raises(WaiverError) as err:
        parse_waivers(bad, "stacks/waivers.yaml", NAMES, TODAY)
    text = err.value.render()
    assert "stacks/waivers.yaml: waivers[1].approver" in text and "'not-an-email'" in text
    assert "waivers[1].colour: Extra inputs are not permitted" in text
    for field in ("urn", "reason", "approver", "expires"):
        assert f"waivers[2].{field}: Field required" in text
    assert err.value.exit_code == 1


def test_expired_unknown_and_too_long_waivers_fail() -> None:
    data = {"waivers": [entry(expires=TODAY - timedelta(days=1)), entry(policy="no-such-policy"),
                        entry(expires=TODAY + timedelta(days=400))]}
    with pytest.raises(WaiverError) as err:
        parse_waivers(data, "w.yaml", NAMES, TODAY)
    text = err.value.render()
    assert "w.yaml: waivers[0].expires: expired on 2026-10-31" in text
    assert "waivers[1].policy: no such policy (got 'no-such-policy')" in text
    assert "waivers[2].expires: more than 366 days ahead" in text


@pytest.mark.parametrize("pattern", ["*", "**", "urn:pulumi:*", "urn:pulumi:dev::*::pulumi:pulumi:Stack::*",
                                     "urn:pulumi:*::mlops-platform-aws::pulumi:pulumi:Stack::*", "urn:pulumi:dev::*",
                                     "urn:pulumi:dev::mlops-*", "*pulumi:pulumi:Stack*", "urn:pulumi:[dp]*"])
def test_stack_urn_globs_over_any_stack_or_project_are_refused(pattern: str) -> None:
    """REVIEW-deploy L5: a pack config shared by many projects (a Pulumi Cloud policy group) would waive a stack
    finding for all of them; the waiver must name one stack of one project."""
    with pytest.raises(WaiverError) as err:
        parse_waivers({"waivers": [entry(policy="gpu-total-cap", urn=pattern)]}, "stacks/waivers.yaml", NAMES, TODAY)
    assert err.value.render() == (
        "stacks/waivers.yaml: waivers[0].urn: matches the stack URN of any stack or project it does not name (one "
        f"pack config can serve many projects: it would waive them all) (got {pattern!r}) — fix: name one stack of "
        "one project, urn:pulumi:<stack>::<project>::pulumi:pulumi:Stack::<project>-<stack> (one waiver per stack)")


def test_project_specific_stack_urns_and_resource_globs_stay_allowed() -> None:
    allowed = ["urn:pulumi:dev::mlops-platform-aws::pulumi:pulumi:Stack::mlops-platform-aws-dev",
               "urn:pulumi:dev::mlops-platform-aws::pulumi:pulumi:Stack::*", "urn:pulumi:dev::mlops-platform-aws::*",
               # the shipped stacks/waivers.yaml: a resource glob that can never match a stack URN
               "urn:pulumi:*::*::*aws:iam/rolePolicy:RolePolicy::*-lb-controller-policy"]
    waivers = parse_waivers({"waivers": [entry(urn=u) for u in allowed]}, "w.yaml", NAMES, TODAY)
    assert [w.urn for w in waivers.entries] == allowed


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(WaiverError, match="not found"):
        load_waivers(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("waivers: [\n")
    with pytest.raises(WaiverError, match="not valid YAML"):
        load_waivers(broken)
    broken.write_text("- a\n")
    with pytest.raises(WaiverError, match="expected a mapping"):
        load_waivers(broken)
    broken.write_text("")
    assert load_waivers(broken).entries == ()


def test_waived_findings_stay_visible_and_stop_blocking() -> None:
    plan = variant(Patch("eks", "vpcConfig.endpointPublicAccess", True), Patch("eks", "version", "1.29"))
    evaluation = evaluate(plan, config_for())
    waivers = parse_waivers({"waivers": [entry(), entry(policy="k8s-probes", urn="urn:*:nothing")]}, "w.yaml",
                            NAMES, TODAY)
    report = build_report(evaluation, "stack.yaml", waivers, [r["urn"] for r in plan["resources"]])
    waived = [f for f in report.violations if f.waived]
    assert [f.policy for f in waived] == ["eks-private-endpoint"]
    assert waived[0].waiver == Waiver.model_validate(entry())
    assert [f.policy for f in report.blocking] == ["eks-supported-version"]
    assert [w.policy for w in report.unused_waivers] == ["k8s-probes"]
    assert report.summary()["waived"] == 1 and not report.passed


#: The cluster nested two components deep, its URN written the way the real engine writes it (and `pulumi
#: stack --show-urns` prints it): every ancestor's type `$`-joined, the root stack left out
#: (https://www.pulumi.com/docs/concepts/resources/names/#urns). The mock runtime's would have kept only the
#: parent's last type: `urn:pulumi:test::fixtures::mlops:aws:Cluster$aws:eks/cluster:Cluster::eks`.
NESTED_CLUSTER = "urn:pulumi:test::fixtures::mlops:aws:Platform$mlops:aws:Cluster$aws:eks/cluster:Cluster::eks"


def test_a_waiver_copied_from_the_real_stack_waives_a_nested_resource() -> None:
    flat = variant(Patch("eks", "vpcConfig.endpointPublicAccess", True))
    plan = json.loads(json.dumps(flat).replace(json.dumps(CLUSTER), json.dumps(NESTED_CLUSTER)))
    [cluster] = [r for r in plan["resources"] if r["urn"] == NESTED_CLUSTER]
    cluster["parent"] = NESTED_CLUSTER.replace("$aws:eks/cluster:Cluster::eks", "::test-cluster")
    evaluation = evaluate(plan, config_for())
    exact, glob = entry(urn=NESTED_CLUSTER), entry(urn="urn:pulumi:test::*::*$aws:eks/cluster:Cluster::eks")
    for written in (exact, glob):
        waivers = parse_waivers({"waivers": [written]}, "w.yaml", NAMES, TODAY)
        report = build_report(evaluation, "stack.yaml", waivers, [r["urn"] for r in plan["resources"]])
        [waived] = [f for f in report.violations if f.waived]
        assert (waived.policy, waived.urn) == ("eks-private-endpoint", NESTED_CLUSTER)
        assert not report.unused_waivers
