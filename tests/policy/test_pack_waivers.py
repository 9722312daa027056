"""The real pack honours the live waivers its policy config carries (`mlplat up`, `mlplat policy config ENV`),
matching them on real URNs with the offline review's code, while an unwaived finding and a bad waiver still fail."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from mlops_platform.cli import main
from mlops_platform.policy.config import SCHEMA_FILE, schema_document
from mlops_platform.policy.evaluate import evaluate
from mlops_platform.workflows.review import deploy_config, platform_config

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
