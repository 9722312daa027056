"""Platform outputs for `mlplat new`: file and offline-plan sources, validation, and project names."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from mlops_platform.core import naming
from mlops_platform.core.contract import PlatformOutputs, ProjectOutput
from mlops_platform.core.errors import ConfigError, UsageError
from mlops_platform.core.naming import iam_name
from mlops_platform.scaffold.answers import OutputsSource
from mlops_platform.scaffold.outputs import offline_outputs, resolve_outputs
from mlops_platform.scaffold.project_names import project_names


@pytest.fixture(scope="module")
def dev_outputs() -> PlatformOutputs:
    return offline_outputs("dev")


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_offline_plan_is_marked_as_placeholder(dev_outputs: PlatformOutputs) -> None:
    resolved = resolve_outputs("dev", offline=True)
    assert resolved.source is OutputsSource.OFFLINE_PLAN and resolved.is_placeholder
    assert resolved.outputs == dev_outputs
    assert dev_outputs.environment == "dev" and dev_outputs.cluster_name == "mlops-dev"


def test_outputs_file_is_the_first_source(tmp_path: Path, dev_outputs: PlatformOutputs) -> None:
    path = _write(tmp_path, dev_outputs.model_dump(mode="json"))
    resolved = resolve_outputs("dev", path)
    assert (resolved.source, resolved.origin, resolved.outputs) == (OutputsSource.FILE, str(path), dev_outputs)
    assert not resolved.is_placeholder


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, '{\n  "region": "us-east-1",\n  oops\n}')
    with pytest.raises(ConfigError) as caught:
        resolve_outputs("dev", path)
    (issue,) = caught.value.issues
    assert (issue.file, issue.line) == (str(path), 3)
    assert "not valid JSON" in issue.message and "pulumi stack output --json" in issue.fix


def test_contract_violations_name_every_field(tmp_path: Path, dev_outputs: PlatformOutputs) -> None:
    raw = dev_outputs.model_dump(mode="json")
    del raw["cluster_name"]
    raw["buckets"]["models"]["arn"] = 7
    raw["surprise"] = True
    with pytest.raises(ConfigError) as caught:
        resolve_outputs("dev", _write(tmp_path, raw))
    assert {(i.path, i.message) for i in caught.value.issues} >= {
        ("cluster_name", "required output is missing"), ("surprise", "unknown output")}
    assert any(i.path == "buckets.models.arn" and i.value == 7 for i in caught.value.issues)


def test_outputs_of_another_environment_are_refused(tmp_path: Path, dev_outputs: PlatformOutputs) -> None:
    with pytest.raises(ConfigError, match="outputs of 'dev', not of --env prod"):
        resolve_outputs("prod", _write(tmp_path, dev_outputs.model_dump(mode="json")))


def test_missing_file_and_unknown_env_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="outputs file not found"):
        resolve_outputs("dev", tmp_path / "nope.json")
    with pytest.raises(UsageError, match=r"unknown environment 'qa'.*dev, staging, prod"):
        resolve_outputs("qa", offline=True)


def test_names_before_onboarding_follow_the_platform_naming(dev_outputs: PlatformOutputs) -> None:
    names = project_names("churn", dev_outputs)
    assert not names.onboarded
    assert names.namespace == naming.project_namespace("churn") == "churn"
    assert names.service_account == naming.project_service_account("churn") == "churn-workload"
    registry = f"{dev_outputs.account_id}.dkr.ecr.{dev_outputs.region}.amazonaws.com"
    assert names.ecr_repository_url == f"{registry}/{naming.project_repository('churn', dev_outputs.cluster_name)}"
    assert names.ci_role_arn == f"arn:aws:iam::{dev_outputs.account_id}:role/mlops-dev-churn-ci"
    assert names.ci_preview_role_arn == f"arn:aws:iam::{dev_outputs.account_id}:role/mlops-dev-churn-ci-preview"
    assert names.workload_role_arn.endswith(f":role/{iam_name('mlops-dev', 'churn', 'workload')}")
    bucket = dev_outputs.buckets["models"].name
    assert names.s3_prefixes["models"] == f"s3://{bucket}/{naming.project_prefix('churn')}"


def test_role_names_are_the_tenancy_layers_iam_names(dev_outputs: PlatformOutputs) -> None:
    slug = "a-forty-character-project-slug-for-names"
    names = project_names(slug, dev_outputs)
    role = names.ci_role_arn.rsplit("/", 1)[1]
    assert role == iam_name(dev_outputs.cluster_name, slug, "ci") and len(role) <= 64
    preview = names.ci_preview_role_arn.rsplit("/", 1)[1]
    assert preview == iam_name(dev_outputs.cluster_name, slug, "ci-preview") and len(preview) <= 64
    # a longer cluster name pushes the full name past IAM's 64: the tenancy layer's hashed truncation
    staging = project_names(slug, dev_outputs.model_copy(update={"cluster_name": "mlops-staging"}))
    long_preview = staging.ci_preview_role_arn.rsplit("/", 1)[1]
    assert len(f"mlops-staging-{slug}-ci-preview") > 64
    assert re.fullmatch(r"mlops-staging-a-forty-character-project-slug-for-n\w*-[0-9a-f]{8}", long_preview)
    assert len(long_preview) <= 64


def test_names_of_an_onboarded_project_come_from_the_outputs(dev_outputs: PlatformOutputs) -> None:
    project = ProjectOutput(name="churn", namespace="team-churn", service_account="churn-sa",
                            workload_role_arn="arn:aws:iam::210987654321:role/w",
                            ci_role_arn="arn:aws:iam::210987654321:role/c",
                            ci_preview_role_arn="arn:aws:iam::210987654321:role/p",
                            training_role_arn="arn:aws:iam::210987654321:role/t",
                            ecr_repository_url="210987654321.dkr.ecr.us-east-1.amazonaws.com/x/churn",
                            s3_prefixes={"models": "s3://b/projects/churn/"}, monthly_budget_usd=100)
    outputs = dev_outputs.model_copy(update={"projects": {"churn": project}})
    names = project_names("churn", outputs)
    assert names.onboarded
    assert (names.namespace, names.service_account, names.ci_role_arn, names.ci_preview_role_arn,
            names.training_role_arn) == ("team-churn", "churn-sa", "arn:aws:iam::210987654321:role/c",
                                         "arn:aws:iam::210987654321:role/p", "arn:aws:iam::210987654321:role/t")
    assert names.s3_prefixes == {"models": "s3://b/projects/churn/"}


def test_an_onboarded_project_of_an_older_platform_gets_the_derived_preview_role(
        dev_outputs: PlatformOutputs) -> None:
    project = ProjectOutput(name="churn", namespace="churn", service_account="churn-workload",
                            workload_role_arn="arn:aws:iam::210987654321:role/w",
                            ci_role_arn="arn:aws:iam::210987654321:role/c",
                            ecr_repository_url="210987654321.dkr.ecr.us-east-1.amazonaws.com/x/churn",
                            s3_prefixes={}, monthly_budget_usd=100)  # outputs before ci_preview_role_arn existed
    names = project_names("churn", dev_outputs.model_copy(update={"projects": {"churn": project}}))
    assert names.ci_preview_role_arn.endswith(f":role/{iam_name(dev_outputs.cluster_name, 'churn', 'ci-preview')}")
    assert names.training_role_arn.endswith(f":role/{iam_name(dev_outputs.cluster_name, 'churn', 'training')}")


def test_every_onboarded_project_reads_its_training_role_from_the_platform(dev_outputs: PlatformOutputs) -> None:
    """The tenancy layer exports each project's training role; `mlplat new` wires exactly that one."""
    assert dev_outputs.projects
    for slug, project in dev_outputs.projects.items():
        names = project_names(slug, dev_outputs)
        assert names.onboarded and names.training_role_arn == project.training_role_arn
        assert names.training_role_arn.endswith(f":role/{iam_name(dev_outputs.cluster_name, slug, 'training')}")
        assert names.training_role_arn != names.ci_role_arn
