"""CI trust closed on both sides: the GitHub side planned with pulumi-github under the offline engine, the
AWS side pinned to the workflows GitHub then names in the token's subject."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mlops_platform.config import load_stack_file
from mlops_platform.config.sections import GithubConfig
from mlops_platform.core import iam
from mlops_platform.core.errors import ConfigError
from mlops_platform.engine import Plan, run_platform
from ruamel.yaml import YAML

STACKS = Path(__file__).resolve().parents[2] / "stacks"
SUB = f"{iam.GITHUB_OIDC_HOST}:sub"


def managed_stack(tmp_path: Path, env: str, github: dict[str, Any]) -> Path:
    yaml = YAML()
    doc = yaml.load((STACKS / f"Pulumi.{env}.yaml").read_text())
    if github:
        doc["config"]["mlops-platform:github"] = github
    else:
        doc["config"].pop("mlops-platform:github", None)
    out = tmp_path / f"Pulumi.{env}.yaml"
    with out.open("w") as fh:
        yaml.dump(doc, fh)
    return out


def test_pinned_trust_names_the_build_and_deploy_workflows_at_their_refs() -> None:
    doc = iam.github_actions_trust("arn:aws:iam::1:oidc-provider/x", "org/app", ["main"], ["prod"], pin_workflows=True)
    cond = doc["Statement"][0]["Condition"]
    assert cond["StringEquals"][SUB] == [
        "repo:org/app:ref:refs/heads/main:job_workflow_ref:org/app/.github/workflows/cd.yml@refs/heads/main",
        "repo:org/app:environment:prod:job_workflow_ref:org/app/.github/workflows/deploy.yml@refs/heads/main"]
    assert "StringLike" not in cond, "exact subjects: no wildcard can widen them"
    preview = iam.github_pull_request_trust("arn:aws:iam::1:oidc-provider/x", "org/app", pin_workflows=True)
    assert preview["Statement"][0]["Condition"]["StringLike"][SUB] == (
        "repo:org/app:pull_request:job_workflow_ref:org/app/.github/workflows/cd.yml@refs/pull/*/merge")


@pytest.mark.slow
def test_github_side_is_off_by_default_and_planned_nothing_then(tmp_path: Path) -> None:
    assert GithubConfig().manage is False
    stack = managed_stack(tmp_path, "dev", {})
    plan = run_platform(stack_file=stack)
    assert not [r for r in plan.resources if r.type.startswith(("github:", "pulumi:providers:github"))]


def test_prod_with_a_managed_github_side_needs_a_reviewer(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"github\.reviewer_team_ids.*prod deployments need a required reviewer"):
        load_stack_file(managed_stack(tmp_path, "prod", {"manage": True}))


def test_managed_github_side_restricts_each_projects_environment_and_pins_the_deploy_trust(
        plans: dict[str, Plan]) -> None:
    plan = plans["prod"]  # the shipped prod stack manages its GitHub side (team 4201337 approves)
    projects = plan.outputs["projects"]
    envs = plan.of_type("github:index/repositoryEnvironment:RepositoryEnvironment")
    assert len(envs) == len(projects)
    for e in envs:
        assert e.get("environment") == "prod" and e.get("canAdminsBypass") is False
        assert e.get("deploymentBranchPolicy") == {"protectedBranches": False, "customBranchPolicies": True}
        assert e.get("reviewers") == [{"teams": [4201337], "users": []}] and e.get("preventSelfReview") is True
    branch_policies = plan.of_type("github:index/repositoryEnvironmentDeploymentPolicy:"
                                   "RepositoryEnvironmentDeploymentPolicy")
    assert sorted(p.get("branchPattern") for p in branch_policies) == ["main"] * len(projects)
    claims = plan.of_type("github:index/actionsRepositoryOidcSubjectClaimCustomizationTemplate:"
                          "ActionsRepositoryOidcSubjectClaimCustomizationTemplate")
    assert all(c.get("useDefault") is False and "job_workflow_ref" in c.get("includeClaimKeys") for c in claims)
    for role in plan.of_type("aws:iam/role:Role"):
        if role.name.endswith("-ci-role"):
            subjects = json.loads(role.get("assumeRolePolicy"))["Statement"][0]["Condition"]["StringEquals"][SUB]
            deploys = [s for s in subjects if ":environment:" in s]
            assert deploys and all(s.endswith("/.github/workflows/deploy.yml@refs/heads/main") for s in deploys)
