"""The real pack honours the live waivers its policy config carries (`mlplat up`, `mlplat policy config ENV`),
matching them on real URNs with the offline review's code, while an unwaived finding and a bad waiver still fail."""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from mlops_platform.cli import main
from mlops_platform.policy import all_specs
from mlops_platform.policy.config import SCHEMA_FILE, schema_document
from mlops_platform.policy.config_files import to_pulumi_config
from mlops_platform.policy.evaluate import (
    Diagnostic,
    analyzer,
    configure_request,
    evaluate,
    root_stack_resource,
    stack_resource,
)
from mlops_platform.policy.report import build_report
from mlops_platform.policy.waivers import NO_WAIVERS, Waiver, Waivers
from mlops_platform.workflows.review import deploy_config, platform_config
from policy_plans import Patch, config_for, urn, variant
from pulumi.runtime import proto

POLICY = "iam-no-wildcard-resource"
LB_POLICY = "aws:iam/rolePolicy:RolePolicy::prod-lb-controller-policy"


def _wildcard_findings(plan: dict[str, Any], cfg: Any) -> list[str]:
    return [d.urn for d in evaluate(plan, cfg).diagnostics if d.policy == POLICY and not d.deferred]


def _with_rogue_policy(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan plus a second role policy with the same wildcard document under a name no waiver covers."""
    out = copy.deepcopy(plan)
    lb = next(e for e in out["resources"] if e["urn"].endswith(LB_POLICY))
    rogue = copy.deepcopy(lb)
    rogue["urn"] = lb["urn"].replace("prod-lb-controller-policy", "prod-rogue-policy")
    out["resources"].append(rogue)
    return out


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_deploy_config_carries_the_live_waiver(env: str) -> None:
    cfg = deploy_config(env)
    assert [(w.policy, w.urn.endswith("-lb-controller-policy")) for w in cfg.waivers] == [(POLICY, True)]
    Draft202012Validator(schema_document()).validate(json.loads(cfg.model_dump_json(by_alias=True)))


def test_policy_config_cli_hands_the_pack_the_live_waivers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "config", "prod"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [w["urn"] for w in doc[POLICY]["waivers"]] == [deploy_config("prod").waivers[0].urn]
    assert not any("waivers" in entry for name, entry in doc.items() if name != POLICY)
    # the per-policy entries are the committed schema's `waivers` items (config.schema.json)
    Draft202012Validator(json.loads(SCHEMA_FILE.read_text())).validate({"waivers": doc[POLICY]["waivers"]})


def test_pack_skips_the_waived_lb_controller_policy_but_not_an_unwaived_wildcard(plans: Any) -> None:
    plan = _with_rogue_policy(plans["prod"].to_json())
    unwaived = _wildcard_findings(plan, platform_config("prod"))
    assert any(u.endswith(LB_POLICY) for u in unwaived)  # without the waiver the pack refuses it
    waived = _wildcard_findings(plan, deploy_config("prod"))
    assert not any(u.endswith(LB_POLICY) for u in waived)
    assert any(u.endswith("::prod-rogue-policy") for u in waived)


def test_pack_reports_an_expired_waiver_and_waives_nothing_with_it(plans: Any) -> None:
    cfg = deploy_config("prod")
    expired = cfg.waivers[0].model_copy(update={"expires": cfg.waivers[0].expires.replace(year=2020)})
    found = [d for d in evaluate(plans["prod"].to_json(), cfg.model_copy(update={"waivers": [expired]})).diagnostics
             if d.policy == POLICY and not d.deferred]
    assert any("policy config waivers: waivers[0].expires: expired on 2020-" in d.message for d in found)
    assert any(d.urn.endswith(LB_POLICY) for d in found)


# --- stack-level findings (a stack policy's violation naming no resource) -----------------------------------

STACK_POLICY = "gpu-total-cap"
#: the reference stack's own URN (policy_plans: stack `test`, project `fixtures`), what the review reports on
ROOT = "urn:pulumi:test::fixtures::pulumi:pulumi:Stack::fixtures-test"


def _over_cap() -> dict[str, Any]:
    """The reference stack with a GPU pool above the environment's cap: one stack-level finding."""
    return variant(Patch("gpu-l4", "scalingConfig.maxSize", 40))


def _stack_waiver(urn: str, expires: date | None = None) -> Waiver:
    return Waiver(policy=STACK_POLICY, urn=urn, reason="Capacity test week, approved by finance.",
                  approver="ml-platform@example.com", expires=expires or date.today() + timedelta(days=30))


def _stack_findings(plan: dict[str, Any], *waivers: Waiver, routed: bool = True) -> list[Diagnostic]:
    cfg = config_for().model_copy(update={"waivers": list(waivers)})
    return [d for d in evaluate(plan, cfg, routed=routed).diagnostics if d.policy == STACK_POLICY and not d.deferred]


def test_an_unwaived_stack_level_finding_is_reported_on_the_stacks_urn() -> None:
    plan = _over_cap()
    (found,) = _stack_findings(plan)
    assert found.urn == ""  # the pack reports it without a resource
    report = build_report(evaluate(plan, config_for()), "stacks/Pulumi.test.yaml", NO_WAIVERS,
                          [r["urn"] for r in plan["resources"]])
    assert [f.urn for f in report.violations if f.policy == STACK_POLICY] == [ROOT]


@pytest.mark.parametrize("routed", [True, False])
@pytest.mark.parametrize("pattern", [ROOT, "urn:pulumi:test::fixtures::pulumi:pulumi:Stack::*"])
def test_pack_waives_a_stack_level_finding_on_the_stack_urn_as_the_review_does(pattern: str, routed: bool) -> None:
    plan = _over_cap()
    waiver = _stack_waiver(pattern)
    assert _stack_findings(plan, waiver, routed=routed) == []
    # the offline review marks the very same finding waived by the very same entry
    report = build_report(evaluate(plan, config_for()), "stacks/waivers.yaml", Waivers("stacks/waivers.yaml",
                          (waiver,)), [r["urn"] for r in plan["resources"]])
    (finding,) = [f for f in report.violations if f.policy == STACK_POLICY]
    assert finding.waived and finding.waiver == waiver and not report.unused_waivers


def test_a_waiver_of_another_stack_or_a_resource_does_not_waive_the_stack_finding() -> None:
    other_stack = _stack_waiver("urn:pulumi:prod::fixtures::pulumi:pulumi:Stack::fixtures-prod")
    a_resource = _stack_waiver(urn("aws:eks/nodeGroup:NodeGroup", "gpu-l4"))
    assert [d.urn for d in _stack_findings(_over_cap(), other_stack, a_resource)] == [""]


def test_an_expired_stack_waiver_is_reported_and_waives_nothing_in_the_pack() -> None:
    expired = _stack_waiver(ROOT).model_copy(update={"expires": date.today() - timedelta(days=1)})
    found = _stack_findings(_over_cap(), expired)
    assert any(f"policy config waivers: waivers[0].expires: expired on {expired.expires.isoformat()}" in d.message
               for d in found)
    assert "GPU pools can scale to 40 GPUs (gpu-l4=40x1), over the cap of 8" in [d.message for d in found]
    too_long = _stack_waiver(ROOT, date.today() + timedelta(days=400))
    assert any("more than 366 days ahead" in d.message for d in _stack_findings(_over_cap(), too_long))


def test_pack_finds_the_stack_urn_from_resource_urns_when_the_engine_sends_no_root_resource() -> None:
    """The pack called like the engine (AnalyzeStack over the stack's resources), with and without the root
    stack resource: both waive on the stack's URN."""
    plan = _over_cap()
    by_urn = {e["urn"]: e for e in plan["resources"]}
    spec = next(s for s in all_specs() if s.name == STACK_POLICY)
    cfg = config_for().model_copy(update={"waivers": [_stack_waiver(ROOT)]})
    servicer = analyzer([spec])
    servicer.Configure(configure_request({k: v for k, v in to_pulumi_config(cfg).items() if k == STACK_POLICY}), None)
    resources = [stack_resource(e, by_urn) for e in plan["resources"]]
    root = root_stack_resource("test", list(by_urn))
    assert root is not None and root.urn == ROOT
    for request in (resources, [root, *resources]):
        assert list(servicer.AnalyzeStack(proto.AnalyzeStackRequest(resources=request), None).diagnostics) == []
    unwaived = analyzer([spec])
    unwaived.Configure(configure_request({k: v for k, v in to_pulumi_config(config_for()).items()
                                          if k == STACK_POLICY}), None)
    assert len(unwaived.AnalyzeStack(proto.AnalyzeStackRequest(resources=resources), None).diagnostics) == 1
