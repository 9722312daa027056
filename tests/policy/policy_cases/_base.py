"""What every case module shares: the case types, their helpers, and URNs of the reference stack."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlops_platform.core.iam import GITHUB_OIDC_HOST
from policy_plans import (
    ACCOUNT,
    Add,
    Change,
    Patch,
    doc,
    res,
    urn,
)

DEFERRED, PASSES, VIOLATES = "deferred", "passes", "violates"
C0 = "spec.template.spec.containers.0"  # the serving Deployment's container
POD = "spec.template.spec"
T_CLUSTER, T_LT = "aws:eks/cluster:Cluster", "aws:ec2/launchTemplate:LaunchTemplate"
T_NG = "aws:eks/nodeGroup:NodeGroup"
T_DEPLOY = "kubernetes:apps/v1:Deployment"
STACK_LEVEL = ""  # a stack policy finding not tied to one resource


@dataclass(frozen=True)
class Failing:
    changes: tuple[Change, ...]
    on: tuple[str, ...]  # URNs the violations must name ("" for the stack)
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    passing: tuple[tuple[Change, ...], ...]  # each entry: changes to the reference stack that still pass
    failing: tuple[Failing, ...]
    unknown: tuple[tuple[Change, ...], str]  # changes introducing an unknown, and the expected outcome
    pass_settings: dict[str, Any] = field(default_factory=dict)


def fail(on: str | tuple[str, ...], *changes: Change, **settings: Any) -> Failing:
    return Failing(tuple(changes), (on,) if isinstance(on, str) else on, settings)


def ok(*changes: Change) -> tuple[Change, ...]:
    return tuple(changes)


def u(outcome: str, *changes: Change) -> tuple[tuple[Change, ...], str]:
    return tuple(changes), outcome


def on(type_: str, name: str) -> str:
    return urn(type_, name)


def deploy(path: str, value: Any) -> Patch:
    return Patch("fraud-serving", path, value)


CLUSTER = on(T_CLUSTER, "eks")
LT = on(T_LT, "nodes-lt")
SYSTEM, GPU = on(T_NG, "system"), on(T_NG, "gpu-l4")
DATA, LOGS = on("aws:s3/bucket:Bucket", "data"), on("aws:s3/bucket:Bucket", "logs")
REPO = on("aws:ecr/repository:Repository", "repo")
APP_POLICY, APP_ROLE = on("aws:iam/rolePolicy:RolePolicy", "app-policy"), on("aws:iam/role:Role", "app-role")
DEPLOY = on(T_DEPLOY, "fraud-serving")
ENV_BUDGET = on("aws:budgets/budget:Budget", "env-budget")
DB, KEY = on("aws:rds/instance:Instance", "db"), on("aws:kms/key:Key", "key")
NOTIFY = "notifications.0.subscriberEmailAddresses"
NAMESPACE = on("kubernetes:core/v1:Namespace", "fraud-ns")


def app_doc(*statements: dict[str, Any]) -> Patch:
    return Patch("app-policy", "policy", doc(*statements))


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


GITHUB_OIDC = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB_OIDC_HOST}"
PR_ROLE = on("aws:iam/role:Role", "gh-role")


def gh_role(subject: str | list[str] | None, op: str = "StringEquals", excluding: str | None = None) -> Add:
    """A GitHub Actions OIDC role named gh-role trusting `subject` (None: no subject test), minus `excluding`."""
    cond: dict[str, Any] = {"StringEquals": {f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com"}}
    if subject is not None:
        cond.setdefault(op, {})[f"{GITHUB_OIDC_HOST}:sub"] = subject
    if excluding is not None:
        cond["StringNotLike"] = {f"{GITHUB_OIDC_HOST}:sub": excluding}
    return Add(res("aws:iam/role:Role", "gh-role", {"name": "gh-role", "tags": {}, "assumeRolePolicy": doc(
        {"Effect": "Allow", "Principal": {"Federated": GITHUB_OIDC}, "Action": "sts:AssumeRoleWithWebIdentity",
         "Condition": cond})}))


def gh_policy(*actions: str) -> Add:
    return Add(res("aws:iam/rolePolicy:RolePolicy", "gh-policy", {"role": "gh-role", "policy": doc(
        allow(list(actions), "*"))}, ["gh-role"]))


PULL_REQUESTS = "repo:org/fraud:pull_request"
READS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "eks:DescribeCluster", "ecr:DescribeImages")
PUSH = ("ecr:PutImage", "ecr:BatchGetImage")
