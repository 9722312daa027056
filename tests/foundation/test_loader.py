"""Layer 2: reading stack files — every bad input becomes one ConfigError listing file, line, path, value, fix."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from mlops_platform.config import load_env, load_from_pulumi_config, load_stack_file, stack_file_for
from mlops_platform.core.errors import ConfigError, ConfigIssue, UsageError
from ruamel.yaml import YAML

from .stackfiles import issue_at, sections, write_stack

VALID = """\
# a dev stack
config:
  aws:region: us-east-1
  mlops-platform:environment:
    name: dev
    tier: dev
    account_id: "123456789012"
    region: us-east-1
    owners: [ml-platform@example.com]
    cost_center: ml-platform
  mlops-platform:network:
    availability_zones: [us-east-1a, us-east-1b]
    nat: single
  mlops-platform:cluster:
    version: "1.34"
    admin_principal_arns: [arn:aws:iam::123456789012:role/platform-admins]
  mlops-platform:budget:
    monthly_usd: 5000
"""


def stack(tmp_path: Path, text: str, name: str = "dev") -> Path:
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def edited(old: str, new: str) -> str:
    assert old in VALID, old
    return VALID.replace(old, new, 1)


def line_of(path: Path, needle: str) -> int:
    """1-based line of the first line containing `needle`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def load_issues(path: Path) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as exc:
        load_stack_file(path)
    assert all(i.file == str(path) for i in exc.value.issues)
    return exc.value.issues


def test_valid_file_loads(tmp_path: Path) -> None:
    cfg = load_stack_file(stack(tmp_path, VALID))
    assert (cfg.environment.name, cfg.cluster.version, cfg.budget.monthly_usd) == ("dev", "1.34", 5000)


def test_unknown_key_says_did_you_mean_with_its_line(tmp_path: Path) -> None:
    path = stack(tmp_path, edited("    nat: single", "    nat: single\n    availabilty_zone: [us-east-1c]"))
    issue = issue_at(load_issues(path), "network.availabilty_zone")
    assert issue.message == "unknown key"
    assert issue.fix.startswith("did you mean 'availability_zones'?")
    assert "allowed keys: availability_zones, cidr" in issue.fix
    assert issue.line == line_of(path, "availabilty_zone:")
    assert issue.value == ["us-east-1c"]


def test_unknown_section_suggests_the_closest_section(tmp_path: Path) -> None:
    path = stack(tmp_path, VALID + "  mlops-platform:netwrok:\n    nat: none\n")
    issue = issue_at(load_issues(path), "netwrok")
    assert "did you mean 'network'?" in issue.fix
    assert issue.line == line_of(path, "mlops-platform:netwrok")


def test_unknown_key_inside_a_list_item_is_checked_against_the_item_model(tmp_path: Path) -> None:
    pools = "  mlops-platform:node_pools:\n    gpu:\n      - name: l4\n        instance_types: [g6.xlarge]\n" \
            "        max_sise: 2\n"
    path = stack(tmp_path, VALID + pools)
    issue = issue_at(load_issues(path), "node_pools.gpu[0].max_sise")
    assert issue.fix.startswith("did you mean 'max_size'?")
    assert "ami_type" in issue.fix  # the GPU pool's own keys
    assert issue.line == line_of(path, "max_sise")


@pytest.mark.parametrize(("old", "new", "path", "message", "value"), [
    ("monthly_usd: 5000", "monthly_usd: lots", "budget.monthly_usd", "valid number", "lots"),
    ('version: "1.34"', "version: 1.34", "cluster.version", "valid string", 1.34),
    ("owners: [ml-platform@example.com]", "owners: ml-platform@example.com", "environment.owners", "valid list",
     "ml-platform@example.com"),
    ("nat: single", "nat: [single]", "network.nat", "Input should be", ["single"]),
])
def test_wrong_types_name_field_value_and_line(tmp_path: Path, old: str, new: str, path: str, message: str,
                                               value: object) -> None:
    file = stack(tmp_path, edited(old, new))
    issue = issue_at(load_issues(file), path)
    assert message in issue.message
    assert issue.value == value
    assert issue.line == line_of(file, new.split(":")[0])
    assert issue.fix


@pytest.mark.parametrize(("old", "new", "path", "fix"), [
    ('account_id: "123456789012"', 'account_id: "1234"', "environment.account_id", "12-digit account id"),
    ("region: us-east-1\n    owners", "region: US-East\n    owners", "environment.region", "an AWS region code"),
    ("name: dev", "name: Dev_Env", "environment.name", "a DNS label"),
    ("owners: [ml-platform@example.com]", "owners: [not-an-email]", "environment.owners[0]", "an email address"),
    ("tier: dev", "tier: production", "environment.tier", "use one of 'dev', 'staging' or 'prod'"),
])
def test_format_errors_explain_the_expected_format(tmp_path: Path, old: str, new: str, path: str, fix: str) -> None:
    issue = issue_at(load_issues(stack(tmp_path, edited(old, new))), path)
    assert fix in issue.fix


def test_empty_file(tmp_path: Path) -> None:
    [issue] = load_issues(stack(tmp_path, ""))
    assert (issue.path, issue.message) == ("config", "the file has no `config:` mapping")
    assert "mlops-platform:<section>" in issue.fix


@pytest.mark.parametrize("text", ["just a sentence", "foo: bar\n", "config: not-a-mapping\n", "- a\n- b\n"])
def test_file_without_a_config_mapping(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="has no `config:` mapping") as exc:
        load_stack_file(stack(tmp_path, text))
    assert [i.path for i in exc.value.issues] == ["config"]


def test_config_without_platform_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no platform configuration in this file") as exc:
        load_stack_file(stack(tmp_path, "config:\n  aws:region: us-east-1\n"))
    assert "mlops-platform:environment" in exc.value.issues[0].fix


def test_non_yaml_file_reports_the_line(tmp_path: Path) -> None:
    path = stack(tmp_path, VALID + "  mlops-platform:gpu: {max_total_gpus: 4\n")
    [issue] = load_issues(path)
    assert issue.path == "<file>"
    assert issue.message.startswith("not valid YAML")
    assert issue.line is not None and issue.line >= line_of(path, "mlops-platform:gpu")


def test_duplicate_keys_are_a_yaml_error(tmp_path: Path) -> None:
    path = stack(tmp_path, VALID + "  mlops-platform:budget:\n    monthly_usd: 1\n")
    [issue] = load_issues(path)
    assert "duplicate key" in issue.message


@pytest.mark.parametrize(("content", "message"), [
    pytest.param(bytes(range(256)), "not a UTF-8 text file", id="binary"),
    pytest.param(b"\x00\x01\x02config:", "not valid YAML", id="control-characters"),
    pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a UTF-8 text file", id="png"),
])
def test_binary_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_bytes(content)
    [issue] = load_issues(path)
    assert issue.path == "<file>"
    assert message in issue.message
    assert issue.fix


def test_missing_required_sections(tmp_path: Path) -> None:
    text = VALID.split("  mlops-platform:cluster:")[0]
    issues = load_issues(stack(tmp_path, text))
    assert {(i.path, i.message) for i in issues} == {("cluster", "required field is missing"),
                                                    ("budget", "required field is missing")}
    assert all("docs/configuration.md" in i.fix for i in issues)


def test_missing_required_field_points_at_its_section(tmp_path: Path) -> None:
    path = stack(tmp_path, edited("    cost_center: ml-platform\n", ""))
    issue = issue_at(load_issues(path), "environment.cost_center")
    assert issue.message == "required field is missing"
    assert issue.line == line_of(path, "mlops-platform:environment")


def test_aws_region_must_match_the_environment(tmp_path: Path) -> None:
    path = stack(tmp_path, edited("aws:region: us-east-1", "aws:region: eu-west-1"))
    [issue] = load_issues(path)
    assert (issue.path, issue.value, issue.line) == ("aws:region", "eu-west-1", line_of(path, "aws:region"))
    assert issue.fix == "set aws:region to us-east-1 (or drop it)"


def test_environment_name_must_match_the_stack_file_name(tmp_path: Path) -> None:
    path = stack(tmp_path, VALID, name="staging")
    [issue] = load_issues(path)
    assert (issue.path, issue.value) == ("environment.name", "dev")
    assert issue.message == "does not match the stack name 'staging'"
    assert issue.line == line_of(path, "name: dev")


def test_rule_issues_carry_file_and_line(tmp_path: Path) -> None:
    path = stack(tmp_path, edited("nat: single", "nat: single\n    flow_log_retention_days: 10"))
    issue = issue_at(load_issues(path), "network.flow_log_retention_days")
    assert issue.line == line_of(path, "flow_log_retention_days")
    assert issue.value == 10


def test_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    text = (VALID.replace("tier: dev", "tier: production").replace('account_id: "123456789012"', "account_id: nope")
            .replace("nat: single", "nat: sometimes\n    cidr: 10.0.0.0/33").replace("monthly_usd: 5000", "monthly: 5")
            .replace('version: "1.34"', 'version: "1.34"\n    endpoint: public'))
    path = stack(tmp_path, text)
    issues = load_issues(path)
    paths = {i.path for i in issues}
    assert paths >= {"environment.tier", "environment.account_id", "network.nat", "network.cidr",
                     "budget.monthly", "budget.monthly_usd", "cluster.endpoint"}
    assert len(issues) >= 5
    assert all(i.line is not None for i in issues)
    rendered = ConfigError(issues, str(path)).render()
    assert rendered.startswith(f"{len(issues)} configuration error(s) in {path}:")


def test_rendered_issue_has_file_line_path_value_and_fix(tmp_path: Path) -> None:
    path = stack(tmp_path, edited("nat: single", "nat: sometimes"))
    with pytest.raises(ConfigError) as exc:
        load_stack_file(path)
    line = line_of(path, "nat: sometimes")
    assert f"{path}:{line}: network.nat: Input should be" in str(exc.value)
    assert "(got 'sometimes') — fix: use one of 'one_per_az', 'single' or 'none'" in str(exc.value)


def test_encrypted_values_never_appear_in_errors(tmp_path: Path) -> None:
    ciphertext = "v1:AAAAAAAAAAAAAAAAAAAAAAAAxQh0sEcReT"
    text = VALID + f"  mlops-platform:monitoring:\n    storage_gib:\n      secure: {ciphertext}\n"
    issue = issue_at(load_issues(stack(tmp_path, text)), "monitoring.storage_gib")
    assert issue.value == "[secret]"
    assert ciphertext not in issue.render()


def test_encrypted_secret_fields_load_as_a_masked_secret(tmp_path: Path) -> None:
    text = VALID + "  mlops-platform:monitoring:\n    slack_webhook_url:\n      secure: v1:AAAAB3NzaC1\n"
    cfg = load_stack_file(stack(tmp_path, text))
    assert cfg.monitoring.slack_webhook_url is not None
    assert "v1:AAAAB3NzaC1" not in repr(cfg.monitoring) + str(cfg.monitoring.slack_webhook_url)


def test_dict_key_errors_name_the_key_not_a_pseudo_field(tmp_path: Path) -> None:
    path = stack(tmp_path, edited("cost_center: ml-platform", 'cost_center: ml-platform\n    tags: {"bad key!": x}'))
    [issue] = load_issues(path)
    assert issue.path == "environment.tags.bad key!"
    assert issue.value == "bad key!"


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"stack file not found — fix: pass an existing file"):
        load_stack_file(tmp_path / "Pulumi.nope.yaml")


def test_stack_level_checks_are_reported_with_schema_errors(tmp_path: Path) -> None:
    path = stack(tmp_path, edited("aws:region: us-east-1", "aws:region: eu-west-1").replace("nat: single", "nat: x"),
                 name="staging")
    paths = {i.path for i in load_issues(path)}
    assert paths == {"network.nat", "aws:region", "environment.name"}


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_pulumi_config_path_equals_the_stack_file_path(env: str) -> None:
    """In `pulumi up`, structured config arrives as JSON strings per `mlops-platform:<section>` key."""
    doc = YAML(typ="safe").load(stack_file_for(env).read_text(encoding="utf-8"))["config"]
    values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in doc.items()}
    assert load_from_pulumi_config(values, env) == load_env(env)


def test_pulumi_config_errors_name_the_stack_file(tmp_path: Path) -> None:
    values = {f"mlops-platform:{k}": json.dumps(v) for k, v in sections("dev", {"network": {"nat": "x"}}).items()}
    with pytest.raises(ConfigError) as exc:
        load_from_pulumi_config(values, "dev")
    issue = issue_at(exc.value.issues, "network.nat")
    assert issue.file == str(stack_file_for("dev"))


def test_written_stack_round_trips(tmp_path: Path) -> None:
    cfg = load_stack_file(write_stack(tmp_path, sections("prod")))
    assert cfg.is_prod and cfg.deletion_protection
