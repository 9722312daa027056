"""`mlplat cost / preview / up / destroy` through the real CLI entry point, offline (no AWS, no Pulumi CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlops_platform import policy
from mlops_platform.core.errors import PolicyViolationError
from mlops_platform.workflows import automation, review
from mlops_platform.workflows.automation import PULUMI_INSTALL_HINT, offline_review, protected_resources


@pytest.fixture
def no_pulumi(monkeypatch, tmp_path):
    """An empty PATH, and an Automation API that must not be reached."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    def touched(*_a, **_k):
        raise AssertionError("the Automation API was used although the Pulumi CLI is missing")

    import pulumi.automation as auto
    monkeypatch.setattr(auto, "create_or_select_stack", touched)
    monkeypatch.setattr(auto, "select_stack", touched)


def test_cost_json_for_a_shipped_environment(mlplat, no_credentials):
    code, out = mlplat("cost", "dev", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["env"] == "dev" and data["price_source"].startswith("price table")  # no credentials: table
    assert data["estimated_monthly_p90_usd"] == data["total"]["p90"] <= data["budget_usd"]
    assert {li["name"] for li in data["lines"]} >= {"eks control plane", "pool system", "pool a10g", "pool l4"}


def test_cost_compare_and_terminal_chart(mlplat, no_credentials):
    code, out = mlplat("cost", "dev", "--compare", "prod", "--prices", "table")
    assert code == 0
    assert "monthly cost dev → prod" in out
    assert "pool a100-train" in out and "█" in out and "░" in out


def test_cost_compare_json_has_both_sides_and_the_diff(mlplat, no_credentials):
    code, out = mlplat("cost", "staging", "--compare", "prod", "--json", "--prices", "table")
    data = json.loads(out)
    assert code == 0
    total = next(d for d in data["diff"] if d["name"] == "total")
    assert total["delta_p90"] == pytest.approx(data["right"]["total"]["p90"] - data["left"]["total"]["p90"], abs=0.02)


def test_cost_png_is_written(mlplat, no_credentials, tmp_path):
    target = tmp_path / "cost.png"
    code, _ = mlplat("cost", "dev", "--compare", "staging", "--png", str(target), "--prices", "table")
    assert code == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cost_over_budget_fails_unless_no_fail(mlplat, no_credentials, make_cfg, tmp_root):
    make_cfg({"budget": {"monthly_usd": 50}})
    code, out = mlplat("cost", "dev")
    assert code == 1
    assert "exceeds budget.monthly_usd 50 USD" in out
    code, out = mlplat("cost", "dev", "--no-fail")
    assert code == 0 and "p90 is" in out


def test_up_without_pulumi_cli_says_how_to_install_it(mlplat, aws_env, no_pulumi):
    code, out = mlplat("up", "dev")
    assert code == 5
    assert "the Pulumi CLI is not on PATH" in out
    assert "get.pulumi.com" in out and PULUMI_INSTALL_HINT.split(":")[0] in out
    assert "AWS credentials" not in out  # credentials exist here: only the CLI is reported


def test_missing_cli_and_credentials_are_reported_together(mlplat, no_credentials, no_pulumi):
    code, out = mlplat("preview", "staging")
    assert code == 5
    assert "the Pulumi CLI is not on PATH" in out and "AWS credentials not found" in out and "AWS_PROFILE" in out


def test_destroy_prod_is_refused_before_any_tool_is_needed(mlplat, aws_env, no_pulumi):
    code, out = mlplat("destroy", "prod")
    assert code == 2
    assert "refusing to destroy prod: it is prod" in out and "--force-destroy-protected-data" in out
    code, out = mlplat("destroy", "prod", "--force-destroy-protected-data")
    assert code == 5 and "Pulumi CLI is not on PATH" in out  # forced: goes on to the tool check


def test_destroy_of_a_deletion_protected_staging_is_refused(mlplat, aws_env, no_pulumi, make_cfg, tmp_root):
    make_cfg({"environment": {"name": "qa", "tier": "staging"}, "cluster": {"deletion_protection": True}})
    code, out = mlplat("destroy", "qa")
    assert code == 2 and "has cluster.deletion_protection on" in out


def test_invalid_stack_stops_before_tools(mlplat, aws_env, no_pulumi, make_cfg, tmp_root):
    path = tmp_root / "stacks" / "Pulumi.broken.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text("config:\n  mlops-platform:environment:\n    name: broken\n    tier: gold\n", encoding="utf-8")
    code, out = mlplat("up", "broken")
    assert code == 3 and "environment.tier" in out and "Pulumi CLI" not in out


def test_protected_resources_come_from_the_exported_state():
    deployment = {"resources": [{"urn": "urn:pulumi:prod::p::aws:s3/bucket:Bucket::data", "protect": True},
                                {"urn": "urn:pulumi:prod::p::aws:iam/role:Role::r"}]}
    assert protected_resources(deployment) == ["urn:pulumi:prod::p::aws:s3/bucket:Bucket::data"]
    assert protected_resources(None) == []


KEY_URN = "urn:pulumi:dev::mlops-platform::aws:kms/key:Key::secrets"


def _subject(tier: str, rotation: bool | None) -> review.Subject:
    """A one-resource plan (instead of planning a whole environment) evaluated by the real pack."""
    resources = [] if rotation is None else [{
        "urn": KEY_URN, "type": "aws:kms/key:Key", "name": "secrets", "parent": "", "dependencies": [],
        "inputs": {"enableKeyRotation": rotation, "description": "secrets"}}]
    return review.Subject({"stack": "dev", "resources": resources, "outputs": {}},
                          Path("stacks/Pulumi.dev.yaml"), policy.preset(tier))


def test_offline_review_blocks_on_unwaived_mandatory_violations(monkeypatch, tmp_root):
    monkeypatch.setattr(review, "environment", lambda env, shard=None: _subject("prod", rotation=False))
    with pytest.raises(PolicyViolationError, match=r"kms-rotation: aws:kms/key:Key::secrets") as err:
        offline_review("dev")
    assert "mlplat review dev" in str(err.value) and err.value.exit_code == 1


def test_offline_review_passes_and_summarises(monkeypatch, tmp_root):
    monkeypatch.setattr(review, "environment", lambda env, shard=None: _subject("dev", rotation=None))
    assert offline_review("dev").startswith("offline review passed (")


def test_policy_pack_dir_is_the_shipped_pack():
    assert automation.policy_pack_dir().name == "policypack"
    assert automation.policy_pack_dir().parent.name == "platform"


def test_png_without_matplotlib_is_a_usage_error_naming_the_fix(mlplat, no_credentials, monkeypatch, tmp_path):
    from mlops_platform.ops import display

    monkeypatch.setattr(display, "matplotlib_available", lambda: False)
    code, out = mlplat("cost", "dev", "--png", str(tmp_path / "c.png"), "--prices", "table")
    assert code == 2 and "pip install matplotlib" in out and not (tmp_path / "c.png").exists()
