"""`mlplat review` and `mlplat policy` through the real CLI entry point (exit codes, formats, files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlops_platform.cli import main
from mlops_platform.policy import all_specs
from mlops_platform.policy.catalogue import CATALOGUE, render_catalogue
from policy_plans import Patch, urn, variant


def write_plan(tmp_path: Path, *changes: Patch) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(variant(*changes)))
    return path


@pytest.fixture(autouse=True)
def _no_repo_waivers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reviews here must not pick up the repository's stacks/waivers.yaml."""
    monkeypatch.setenv("MLPLAT_ROOT", str(tmp_path))


def test_clean_plan_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review", "--plan", str(write_plan(tmp_path)), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["violations"] == [] and data["summary"]["passed"] is True


def test_mandatory_violation_exits_one_after_printing_the_report(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    plan = write_plan(tmp_path, Patch("db", "publiclyAccessible", True))
    assert main(["review", "--plan", str(plan)]) == 1
    captured = capsys.readouterr()
    assert "rds-not-public" in captured.out and "FAILED: 1 blocking" in captured.out
    assert "1 unwaived mandatory violation(s)" in captured.err


def test_dev_tier_reports_but_does_not_block(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = write_plan(tmp_path, Patch("db", "publiclyAccessible", True))
    assert main(["review", "--plan", str(plan), "--tier", "dev", "--format", "json"]) == 0
    violation = json.loads(capsys.readouterr().out)["violations"][0]
    assert violation["enforcement"] == "advisory" and violation["policy"] == "rds-not-public"


def test_waiver_file_unblocks_and_expired_waiver_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = write_plan(tmp_path, Patch("db", "publiclyAccessible", True))
    waivers = tmp_path / "waivers.yaml"
    entry = (f"waivers:\n  - policy: rds-not-public\n    urn: '{urn('aws:rds/instance:Instance', 'db')}'\n"
             "    reason: Migration window with vendor access.\n    approver: dba@example.com\n")
    waivers.write_text(entry + "    expires: 2099-01-01\n")
    # the 2099 date is too far ahead: waivers must be re-reviewed within a year
    assert main(["review", "--plan", str(plan), "--waivers", str(waivers)]) == 1
    assert "waivers[0].expires: more than 366 days ahead" in capsys.readouterr().err
    waivers.write_text(entry + "    expires: 2020-01-01\n")
    assert main(["review", "--plan", str(plan), "--waivers", str(waivers)]) == 1
    assert f"{waivers}: waivers[0].expires: expired on 2020-01-01" in capsys.readouterr().err


def test_default_waivers_file_is_stacks_waivers_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "waivers.yaml").write_text("waivers: [{policy: nope}]\n")
    assert main(["review", "--plan", str(write_plan(tmp_path))]) == 1
    assert "stacks/waivers.yaml: waivers[0].urn: Field required" in capsys.readouterr().err


def test_output_file_and_sarif(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "reports" / "review.sarif"
    plan = write_plan(tmp_path, Patch("repo", "imageTagMutability", "MUTABLE"))
    assert main(["review", "--plan", str(plan), "--format", "sarif", "--output", str(out)]) == 1
    log = json.loads(out.read_text())
    assert log["runs"][0]["results"][0]["ruleId"] == "ecr-immutable-tags"
    assert f"wrote sarif report to {out}" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["review"], ["review", "dev", "--plan", "x.json"], ["review", "--plan", "x.json"],
                                  ["review", "--plan", "x.json", "--stack", "dev"],
                                  ["review", "--plan", "x.json", "--tier", "qa"],
                                  ["policy", "config", "--tier", "qa"]])
def test_usage_errors_exit_two(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "error:" in capsys.readouterr().err


def test_bad_policy_config_exits_three(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "policy.yaml"
    cfg.write_text("default: blocking\n")
    assert main(["review", "--plan", str(write_plan(tmp_path)), "--policy-config", str(cfg)]) == 3
    assert f"{cfg}: default" in capsys.readouterr().err


def test_policy_list_json_covers_every_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in data["policies"]] == [s.name for s in all_specs()]
    first = data["policies"][0]
    assert set(first) >= {"severity", "remediation", "url", "compliance", "levels", "unknown_at_preview"}
    assert main(["policy", "list"]) == 0
    assert "eks-private-endpoint" in capsys.readouterr().out


def test_policy_config_prints_the_pulumi_policy_pack_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "config", "--tier", "dev"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["eks-private-endpoint"] == {"enforcementLevel": "advisory"}
    assert len(doc) == len(all_specs())


def test_committed_catalogue_is_up_to_date() -> None:
    assert CATALOGUE.read_text(encoding="utf-8") == render_catalogue(), "run `mlplat policy docs`"
    assert main(["policy", "docs", "--check"]) == 0


def test_catalogue_documents_every_policy() -> None:
    text = render_catalogue()
    for spec in all_specs():
        assert f"### `{spec.name}`" in text and spec.remediation in text
