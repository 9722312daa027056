"""Continuous training's own role (issue #10 §3): trusted for the project's platform environment only, the
project's `datasets` and `models` prefixes with their key, never the push/deploy role's rights.

The trust is read as IAM evaluates it (docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_
condition_operators.html: StringEquals is exact, StringLike matches `*`/`?`; operators AND, values OR) against
the subjects GitHub sends (docs.github.com/en/actions/reference/security/oidc, "Example subject claims":
`repo:ORG/REPO:environment:ENV` for a job naming an environment, `…:pull_request`, `…:ref:refs/heads/B`; with
a customized claim, `…:job_workflow_ref:ORG/REPO/<workflow>@<ref>` appended).
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from mlops_platform.config import PlatformConfig
from mlops_platform.core import iam, naming
from mlops_platform.core.naming import ProjectRole
from mlops_platform.engine import Plan, run_platform
from ruamel.yaml import YAML

STACKS = Path(__file__).resolve().parents[2] / "stacks"
SUB, AUD = f"{iam.GITHUB_OIDC_HOST}:sub", f"{iam.GITHUB_OIDC_HOST}:aud"
PROVIDER = "arn:aws:iam::210987654321:oidc-provider/token.actions.githubusercontent.com"


def _one(plan: Plan, type_: str, suffix: str) -> Any:
    (res,) = [r for r in plan.of_type(type_) if r.name.endswith(suffix)]
    return res


def training_role(plan: Plan, project: str) -> Any:
    return _one(plan, "aws:iam/role:Role", f"-project-{project}-training-role")


def training_policy(plan: Plan, project: str) -> dict[str, Any]:
    return dict(json.loads(_one(plan, "aws:iam/rolePolicy:RolePolicy", f"-project-{project}-training-policy")
                           .get("policy")))


def admits(trust: dict[str, Any], subject: str, audience: str = "sts.amazonaws.com") -> bool:
    """Whether a GitHub token with this `sub` and `aud` satisfies some statement's conditions."""
    claims = {SUB: subject, AUD: audience}

    def holds(op: str, key: str, values: Any) -> bool:
        test = fnmatchcase if op == "StringLike" else str.__eq__
        return any(test(claims[key], v) for v in (values if isinstance(values, list) else [values]))

    return any(all(holds(op, key, values) for op, keys in stmt["Condition"].items() for key, values in keys.items())
               for stmt in trust["Statement"])


def pinned(repo: str, context: str, workflow: str, ref: str) -> str:
    return f"repo:{repo}:{context}:job_workflow_ref:{repo}/{workflow}@{ref}"


def test_environment_trust_is_exactly_the_environment_subject() -> None:
    doc = iam.github_environment_trust(PROVIDER, "org/app", "prod", iam.TRAINING_WORKFLOW)
    assert doc["Statement"] == [{
        "Effect": "Allow", "Action": ["sts:AssumeRoleWithWebIdentity"], "Principal": {"Federated": PROVIDER},
        "Condition": {"StringEquals": {AUD: "sts.amazonaws.com", SUB: "repo:org/app:environment:prod"}}}]
    assert admits(doc, "repo:org/app:environment:prod")
    for subject in ("repo:org/app:pull_request", "repo:org/app:ref:refs/heads/main",
                    "repo:org/app:environment:staging", "repo:org/other:environment:prod",
                    "repo:org/app:environment:prod-x"):
        assert not admits(doc, subject), subject
    assert not admits(doc, "repo:org/app:environment:prod", audience="https://github.com/org")


def test_managed_environment_trust_pins_the_training_workflow_at_main() -> None:
    doc = iam.github_environment_trust(PROVIDER, "org/app", "prod", iam.TRAINING_WORKFLOW, pin_workflows=True)
    own = pinned("org/app", "environment:prod", iam.TRAINING_WORKFLOW, "refs/heads/main")
    assert doc["Statement"][0]["Condition"] == {"StringEquals": {AUD: "sts.amazonaws.com", SUB: own}}
    for subject in (pinned("org/app", "environment:prod", iam.DEPLOY_WORKFLOW, "refs/heads/main"),
                    pinned("org/app", "environment:prod", iam.TRAINING_WORKFLOW, "refs/heads/feature"),
                    pinned("org/app", "pull_request", iam.TRAINING_WORKFLOW, "refs/pull/1/merge"),
                    pinned("org/app", "ref:refs/heads/main", iam.TRAINING_WORKFLOW, "refs/heads/main")):
        assert not admits(doc, subject), subject


def test_every_project_gets_its_training_role_trusted_for_its_environment_only(
        plan: Plan, cfg: PlatformConfig) -> None:
    projects = plan.outputs["projects"]
    for p in cfg.projects:
        role = training_role(plan, p.name)
        assert role.get("name") == naming.project_role_name(cfg.cluster_name, p.name, ProjectRole.TRAINING)
        trust = json.loads(role.get("assumeRolePolicy"))
        provider = trust["Statement"][0]["Principal"]["Federated"]
        assert trust == iam.github_environment_trust(provider, p.github_repo, cfg.environment.name,
                                                     iam.TRAINING_WORKFLOW, pin_workflows=cfg.github.manage)
        assert cfg.github.manage  # the shipped stacks manage their GitHub side: the pinned form
        own = pinned(p.github_repo, f"environment:{cfg.environment.name}", iam.TRAINING_WORKFLOW, "refs/heads/main")
        assert admits(trust, own)
        for branch in p.branches:  # the deploy role's subjects never open this one
            assert not admits(trust, pinned(p.github_repo, f"ref:refs/heads/{branch}", iam.BUILD_WORKFLOW,
                                            f"refs/heads/{branch}"))
        assert not admits(trust, pinned(p.github_repo, "pull_request", iam.BUILD_WORKFLOW, "refs/pull/7/merge"))
        assert not admits(trust, pinned(p.github_repo, f"environment:{cfg.environment.name}", iam.DEPLOY_WORKFLOW,
                                        "refs/heads/main"))
        assert projects[p.name]["training_role_arn"] not in ("", projects[p.name]["ci_role_arn"])


def _s3_objects(policy: dict[str, Any]) -> list[str]:
    return [r for s in policy["Statement"] for r in s["Resource"] if r.startswith("arn:aws:s3:::") and "/" in r]


def expected_policy(plan: Plan, cfg: PlatformConfig, project: str) -> dict[str, Any]:
    """The training role's document spelt out (not rebuilt with the builders under test)."""
    out, prefix = plan.outputs, naming.project_prefix(project)
    stmts: list[dict[str, Any]] = []
    for role in ("datasets", "models"):
        arn = out["buckets"][role]["arn"]
        stmts += [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject",
                                                 "s3:DeleteObject", "s3:AbortMultipartUpload"],
                   "Resource": [f"{arn}/{prefix}*"]},
                  {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [arn],
                   "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}}}]
    stmts.append({"Effect": "Allow", "Action": ["eks:DescribeCluster"], "Resource": [cluster_arn(cfg)]})
    stmts.append({"Effect": "Allow", "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey",
                                                "kms:DescribeKey"], "Resource": [out["kms_key_arns"]["s3"]]})
    return {"Version": "2012-10-17", "Statement": stmts}


def cluster_arn(cfg: PlatformConfig) -> str:
    """EKS cluster ARN format: docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelastic
    kubernetesservice.html#amazonelastickubernetesservice-resources-for-iam-policies."""
    env = cfg.environment
    return f"arn:aws:eks:{env.region}:{env.account_id}:cluster/{cfg.cluster_name}"


def test_training_rights_are_the_projects_prefixes_and_key_only(plan: Plan, cfg: PlatformConfig) -> None:
    for p in cfg.projects:
        assert training_policy(plan, p.name) == expected_policy(plan, cfg, p.name)


def test_another_tenants_prefixes_and_the_push_rights_are_out_of_reach(plan: Plan, cfg: PlatformConfig) -> None:
    names = [p.name for p in cfg.projects]
    for project in names:
        policy = training_policy(plan, project)
        actions = {a for s in policy["Statement"] for a in s["Action"]}
        assert {a.split(":")[0] for a in actions} == {"s3", "kms", "eks"}
        assert actions & {"eks:DescribeCluster"} == {a for a in actions if a.startswith("eks:")}
        objects = _s3_objects(policy)
        assert objects and all(o.endswith(f"/{naming.project_prefix(project)}*") for o in objects)
        for other in set(names) - {project}:
            for bucket in plan.outputs["buckets"].values():
                target = f"{bucket['arn']}/{naming.project_prefix(other)}model.pkl"
                assert not any(fnmatchcase(target, o) for o in objects), (project, target)
        lists = [s for s in policy["Statement"] if "s3:ListBucket" in s["Action"]]
        assert all(s["Condition"] == {"StringLike": {"s3:prefix": [f"{naming.project_prefix(project)}*"]}}
                   for s in lists)


def test_training_kubernetes_rights_are_the_submitter_group_only(plan: Plan, cfg: PlatformConfig) -> None:
    for p in cfg.projects:
        entry = _one(plan, "aws:eks/accessEntry:AccessEntry", f"-project-{p.name}-training-access")
        assert entry.get("kubernetesGroups") == [naming.project_pipeline_submitters(p.name)]
        assert not [a for a in plan.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
                    if f"-project-{p.name}-training-" in a.name]


@pytest.mark.slow
def test_without_pipelines_training_keeps_its_prefixes_and_gets_no_cluster_access(tmp_path: Path) -> None:
    yaml = YAML()
    doc = yaml.load((STACKS / "Pulumi.dev.yaml").read_text())
    doc["config"]["mlops-platform:pipelines"] = {"enabled": False}
    stack = tmp_path / "Pulumi.dev.yaml"
    with stack.open("w") as fh:
        yaml.dump(doc, fh)
    plan = run_platform(stack_file=stack)
    for name, project in plan.outputs["projects"].items():
        assert project["training_role_arn"] and not project["pipeline_role_arn"]
        policy = training_policy(plan, name)
        assert {a.split(":")[0] for s in policy["Statement"] for a in s["Action"]} == {"s3", "kms"}
        assert not [e for e in plan.of_type("aws:eks/accessEntry:AccessEntry")
                    if f"-project-{name}-training-" in e.name]
