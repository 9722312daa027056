"""Layer 1: IAM document helpers and `check_document`, the ECR lifecycle policy, budget notifications."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlops_platform.aws.budget import notifications
from mlops_platform.aws.ecr import lifecycle_policy
from mlops_platform.core import iam

ACCOUNT = "123456789012"
GITHUB_PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
REPO_ARN = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/base-images"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def allow(actions: Any, resources: Any = None, **extra: Any) -> dict[str, Any]:
    stmt = {"Effect": "Allow", "Action": actions, **extra}
    if resources is not None:
        stmt["Resource"] = resources
    return stmt


@pytest.mark.parametrize(("doc", "key_policy"), [
    pytest.param(iam.service_trust("eks.amazonaws.com"), False, id="service-trust"),
    pytest.param(iam.github_actions_trust(GITHUB_PROVIDER, "org/repo", ["main"], ["prod"]), False, id="github-trust"),
    pytest.param(iam.document(*iam.ecr_access([REPO_ARN], push=True)), False, id="ecr-push"),
    pytest.param(iam.document(iam.kms_use([KEY_ARN])), False, id="kms-use"),
    pytest.param(iam.kms_key_policy(ACCOUNT, ["logs.us-east-1.amazonaws.com"], ["arn:aws:iam::1:role/x"]), True,
                 id="key-policy"),
    pytest.param(iam.document(iam.statement(["s3:*"], ["arn:aws:s3:::b"], effect="Deny", principal={"AWS": "*"},
                                            condition={"Bool": {"aws:SecureTransport": "false"}})), False,
                 id="deny-wildcards-are-fine"),
])
def test_documents_the_platform_builds_pass(doc: dict[str, Any], key_policy: bool) -> None:
    assert iam.check_document(doc, key_policy=key_policy) == []


@pytest.mark.parametrize(("doc", "problem"), [
    pytest.param({"Version": "2008-10-17", "Statement": [allow(["s3:GetObject"], ["arn:aws:s3:::b/*"])]},
                 "Version must be 2012-10-17", id="old-version"),
    pytest.param({"Version": "2012-10-17", "Statement": []}, "Statement must be a non-empty list", id="no-statements"),
    pytest.param({"Version": "2012-10-17", "Statement": {"Effect": "Allow"}}, "Statement must be a non-empty list",
                 id="statement-not-a-list"),
    pytest.param(iam.document({"Effect": "Maybe", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b"]}),
                 "Statement[0]: Effect must be Allow or Deny", id="bad-effect"),
    pytest.param(iam.document(allow("*", ["arn:aws:s3:::b"])), "Statement[0]: wildcard action ['*']",
                 id="star-action-string"),
    pytest.param(iam.document(allow(["s3:GetObject"], ["arn:aws:s3:::b"]), allow(["s3:*"], ["arn:aws:s3:::b"])),
                 "Statement[1]: wildcard action ['s3:*']", id="service-wildcard-second-statement"),
    pytest.param(iam.document(allow(["s3:GetObject", "ecr:GetAuthorizationToken"], "*")),
                 "Statement[0]: Resource '*' for scopable actions ['s3:GetObject']", id="star-resource"),
    pytest.param(iam.document(allow(["sts:AssumeRole"], None, Principal="*")), "Statement[0]: wildcard principal",
                 id="star-principal"),
    pytest.param(iam.document(allow(["sts:AssumeRole"], None, Principal={"AWS": ["arn:aws:iam::1:root", "*"]})),
                 "Statement[0]: wildcard principal", id="star-in-principal-list"),
    pytest.param(iam.document(allow(["sts:AssumeRoleWithWebIdentity"], None, Principal={"Federated": GITHUB_PROVIDER})),
                 "Statement[0]: federated trust without conditions", id="federated-unconditioned"),
    pytest.param(iam.kms_key_policy(ACCOUNT), "Statement[0]: wildcard action ['kms:*']",
                 id="key-policy-checked-as-identity-policy"),
])
def test_check_document_names_each_problem(doc: dict[str, Any], problem: str) -> None:
    assert problem in iam.check_document(doc)


def test_unscopable_actions_may_use_star_resource() -> None:
    doc = iam.document(iam.statement(["ecr:GetAuthorizationToken", "sts:GetCallerIdentity"], "*"))
    assert iam.check_document(doc) == []


def test_check_document_reports_every_problem_of_every_statement() -> None:
    doc = {"Version": "1", "Statement": [allow("*", "*"), allow(["sts:AssumeRole"], None, Principal="*")]}
    problems = iam.check_document(doc)
    assert problems[0] == "Version must be 2012-10-17"
    assert "Statement[0]: wildcard action ['*']" in problems
    assert "Statement[1]: wildcard principal" in problems
    assert any(p.startswith("Statement[0]: Resource '*'") for p in problems)


def test_github_trust_is_scoped_to_the_repository_and_audience() -> None:
    doc = iam.github_actions_trust(GITHUB_PROVIDER, "org/repo", ["main", "release"], ["prod"])
    cond = doc["Statement"][0]["Condition"]
    host = iam.GITHUB_OIDC_HOST
    assert cond["StringEquals"] == {f"{host}:aud": "sts.amazonaws.com"}
    assert cond["StringLike"][f"{host}:sub"] == ["repo:org/repo:ref:refs/heads/main",
                                                 "repo:org/repo:ref:refs/heads/release",
                                                 "repo:org/repo:environment:prod"]  # never pull requests


def test_pull_request_trust_is_exactly_the_repositorys_pull_requests() -> None:
    doc = iam.github_pull_request_trust(GITHUB_PROVIDER, "org/repo")
    host = iam.GITHUB_OIDC_HOST
    assert doc["Statement"][0]["Condition"] == {"StringEquals": {f"{host}:aud": "sts.amazonaws.com",
                                                                 f"{host}:sub": "repo:org/repo:pull_request"}}
    assert iam.check_document(doc) == []


def test_key_policy_lets_services_use_the_key_only_from_the_account() -> None:
    doc = iam.kms_key_policy(ACCOUNT, ["logs.us-east-1.amazonaws.com"])
    services = next(s for s in doc["Statement"] if s.get("Sid") == "ServicesUse")
    assert services["Principal"] == {"Service": ["logs.us-east-1.amazonaws.com"]}
    assert services["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    assert "kms:*" not in services["Action"]


def _rules(days: int) -> list[dict[str, Any]]:
    return list(json.loads(lifecycle_policy(days))["rules"])


def test_ecr_lifecycle_policy_structure() -> None:
    assert _rules(7) == [
        {"rulePriority": 1, "description": "expire untagged images after 7 days",
         "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                       "countNumber": 7}, "action": {"type": "expire"}},
    ]


@given(st.integers(1, 3650))
def test_ecr_lifecycle_never_expires_a_tagged_image(days: int) -> None:
    """A rule with tagStatus `any` or `tagged` (or an image count) would expire images a serving
    deployment may still reference; only untagged images expire.
    https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html#lifecycle_policy_parameters"""
    rules = _rules(days)
    assert {r["selection"]["tagStatus"] for r in rules} == {"untagged"}
    assert [r["selection"]["countNumber"] for r in rules] == [days]
    assert all(isinstance(r["selection"]["countNumber"], int) for r in rules)


def test_budget_notifications_alert_at_each_threshold_and_on_forecast() -> None:
    notes = notifications([50, 80, 100], ["b@example.com", "a@example.com", "a@example.com"])
    assert [(n.notification_type, n.threshold) for n in notes] == [
        ("ACTUAL", 50.0), ("ACTUAL", 80.0), ("ACTUAL", 100.0), ("FORECASTED", 100.0)]
    assert {n.threshold_type for n in notes} == {"PERCENTAGE"}
    assert all(n.subscriber_email_addresses == ["a@example.com", "b@example.com"] for n in notes)
