"""GitHub Actions roles: a role that pull-request workflows can assume only reads.

Anyone who can push a branch can open a pull request, and the workflow it runs is the branch's own. If
the role its OIDC token opens may push images, write artifacts or deploy, protected branches and
deployment environments are bypassed. Deploying belongs to a role trusted on branches or environments.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlops_platform.policy._graph import Res, StackView
from mlops_platform.policy._iam import Statement, matches, statements
from mlops_platform.policy._values import UNKNOWN, Defer, Violation, as_list
from mlops_platform.policy.config import PolicySettings, Severity
from mlops_platform.policy.registry import Area, OnUnknown, stack_policy
from mlops_platform.policy.rules.irsa import (
    ROLE_PERMISSION_TYPES,
    role_documents,
    role_policy_links,
    web_identity_trusts,
)

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
#: Action patterns that only read (IAM action names: Get/List/Describe and batch reads).
READ_ONLY_ACTIONS = ("*:Get*", "*:List*", "*:Describe*", "*:BatchGet*", "*:BatchCheck*", "*:View*")
_MANAGED = "arn:aws:iam::aws:policy/"
_PR_SUBJECT = "pull_request"


def _subject_patterns(stmt: Statement) -> list[tuple[str, str]] | None:
    """(operator, pattern) tests on the token's `sub`; None when the statement does not test it."""
    tests = [(op, str(v)) for op, values in stmt.condition_values(f"{GITHUB_OIDC_HOST}:sub")
             for v in as_list(values)]
    return tests or None


def _admits_pull_requests(stmt: Statement) -> bool:
    """Whether some repository's pull-request token satisfies the statement's `sub` tests."""
    tests = _subject_patterns(stmt)
    if tests is None:
        return True  # no subject test at all: every workflow of every repository
    for op, pattern in tests:
        context = pattern.split(":", 2)[2] if pattern.count(":") >= 2 else pattern
        if ("Like" in op and matches(context, _PR_SUBJECT)) or context == _PR_SUBJECT:
            return True
    return False


def _github_issuer(federated: str) -> str | None:
    return GITHUB_OIDC_HOST if federated.endswith(f":oidc-provider/{GITHUB_OIDC_HOST}") else None


def pull_request_roles(stack: StackView) -> Iterator[Res | Defer]:
    """Roles whose trust lets GitHub Actions pull-request workflows assume them (each once)."""
    seen: set[str] = set()
    for found in web_identity_trusts(stack, _github_issuer):
        if isinstance(found, Defer):
            yield found
            continue
        role, stmt, _ = found
        if role.urn not in seen and _admits_pull_requests(stmt):
            seen.add(role.urn)
            yield role


def write_actions(stmt: Statement) -> list[str]:
    """Actions an Allow statement grants beyond reading (NotAction grants everything else)."""
    if not stmt.allows:
        return []
    if stmt.not_actions:
        return [f"NotAction {list(stmt.not_actions)}"]
    return [a for a in stmt.actions if not any(matches(p, a) for p in READ_ONLY_ACTIONS)]


def _managed_writes(role: Res, attachments: list[Res]) -> Iterator[str]:
    given = [(f"attachment {a.name!r}", a.get("policyArn")) for a in attachments]
    given += [("managedPolicyArns", arn) for arn in as_list(role.get("managedPolicyArns"))]
    for where, arn in given:
        if _writing_managed_policy(arn):
            yield f"{where}: {arn}"


def _writing_managed_policy(arn: Any) -> bool:
    """An AWS-managed policy other than the read-only/view-only ones."""
    return isinstance(arn, str) and arn.startswith(_MANAGED) and not any(
        word in arn for word in ("ReadOnly", "ViewOnly"))


@stack_policy(
    name="github-pull-request-read-only", area=Area.IAM, resource_types=ROLE_PERMISSION_TYPES, severity=Severity.HIGH,
    description="Roles GitHub Actions pull-request workflows can assume (OIDC `sub` matching "
                "repo:<repo>:pull_request, or not tested) only read: no pushes, writes or deploys.",
    remediation="Split the role: trust pull requests (`repo:<repo>:pull_request`, StringEquals) on a read-only "
                "preview role (Get/List/Describe, ECR pulls, an EKS view access policy), and trust branches "
                "(`repo:<repo>:ref:refs/heads/main`) or environments (`repo:<repo>:environment:prod`) on the "
                "role that pushes and deploys.",
    url="https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/"
        "configuring-openid-connect-in-amazon-web-services",
    on_unknown=OnUnknown.DEFER,
    unknown_note="Deferred when a trust or permission document of a pull-request role is unknown.",
)
def github_pull_request_read_only(stack: StackView, _: PolicySettings) -> Iterator[Violation | Defer]:
    links = role_policy_links(stack)
    for role in pull_request_roles(stack):
        if isinstance(role, Defer):
            yield role
            continue
        writes = list(_managed_writes(role, links.attached.of(role)))
        for where, doc in role_documents(stack, links, role):
            stmts = statements(doc)
            if stmts is UNKNOWN:
                yield Defer(where, role.urn)
                continue
            writes += [f"{where}: {a}" for s in stmts or [] for a in write_actions(s)]
        if writes:
            shown = "; ".join(writes[:4]) + (f" (+{len(writes) - 4} more)" if len(writes) > 4 else "")
            yield Violation(f"role {role.name!r} is assumable by pull-request workflows but grants {shown}",
                            role.urn)
