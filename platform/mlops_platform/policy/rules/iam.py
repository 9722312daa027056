"""IAM: no administrator grants, no wildcard actions or resources, no privilege escalation, tight trust."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from mlops_platform.core.iam import GITHUB_OIDC_HOST
from mlops_platform.policy.config import PolicySettings, Severity
from mlops_platform.policy.registry import Area, OnUnknown, checkov, fsbp, resource_policy
from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.graph import Res
from mlops_platform.policy.sdk.iam import (
    ADMIN_POLICY_ARNS,
    ESCALATION_ACTIONS,
    Statement,
    grants,
    is_public_principal,
    matches,
    statements,
    trust_findings,
    wildcard_actions,
)
from mlops_platform.policy.sdk.values import UNKNOWN, Defer, as_list, fmt, is_unknown

_IAM_DOCS = "https://docs.aws.amazon.com/IAM/latest/UserGuide"
_DOC_TYPES = (t.IAM_POLICY, t.IAM_ROLE_POLICY, t.IAM_ROLE)
_DOC_NOTE = "Deferred when a policy document is unknown (e.g. built from ARNs created in the same update)."


def permission_documents(res: Res) -> list[tuple[str, Any]]:
    """(label, document) of every permission policy a resource carries."""
    if res.type in (t.IAM_POLICY, t.IAM_ROLE_POLICY):
        return [("policy", res.get("policy"))]
    if res.type == t.IAM_ROLE:
        inline = res.get("inlinePolicies")
        if is_unknown(inline):
            return [("inlinePolicies", UNKNOWN)]
        return [(f"inlinePolicies[{p.get('name', i)!s}]", p.get("policy"))
                for i, p in enumerate(as_list(inline)) if isinstance(p, dict)]
    return []


def _allow_statements(res: Res) -> Iterator[tuple[str, Statement] | Defer]:
    for label, doc in permission_documents(res):
        stmts = statements(doc)
        if stmts is UNKNOWN:
            yield Defer(label)
            continue
        for stmt in stmts or []:
            if stmt.allows:
                yield label, stmt


@resource_policy(
    name="iam-no-admin", area=Area.IAM, resource_types=(*_DOC_TYPES, t.IAM_ROLE_POLICY_ATTACHMENT),
    severity=Severity.CRITICAL, description="No policy grants \"*\" on \"*\", and no role gets an administrator "
                                            "managed policy.",
    remediation="Grant the actions the workload calls on the resources it owns; for humans use the platform's "
                "admin roles through EKS access entries, not AdministratorAccess on workload roles.",
    url=f"{_IAM_DOCS}/best-practices.html#grant-least-privilege", compliance=checkov("CKV_AWS_62", "CKV_AWS_274")
    + fsbp("IAM.1"), on_unknown=OnUnknown.DEFER, unknown_note=_DOC_NOTE,
)
def iam_no_admin(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    if res.type == t.IAM_ROLE_POLICY_ATTACHMENT:
        arn = res.get("policyArn")
        if arn in ADMIN_POLICY_ARNS:
            yield f"policyArn {fmt(arn)} attaches administrator access"
        return
    yield from (f"managedPolicyArns includes {a}" for a in as_list(res.get("managedPolicyArns"))
                if a in ADMIN_POLICY_ARNS)
    for item in _allow_statements(res):
        if isinstance(item, Defer):
            yield item
        elif grants(item[1], "*:*") and "*" in item[1].resources:
            yield f"{item[0]}: {item[1].label()} allows every action on every resource"


@resource_policy(
    name="iam-no-wildcard-action", area=Area.IAM, resource_types=_DOC_TYPES, severity=Severity.HIGH,
    description="Allow statements name actions: no \"*\", no \"service:*\", no NotAction.",
    remediation="List the API actions the workload calls (e.g. s3:GetObject, s3:PutObject) instead of "
                "\"s3:*\"; IAM Access Analyzer can generate the list from CloudTrail.",
    url=f"{_IAM_DOCS}/reference_policies_elements_action.html", compliance=checkov("CKV_AWS_63", "CKV_AWS_289"),
    on_unknown=OnUnknown.DEFER, unknown_note=_DOC_NOTE,
)
def iam_no_wildcard_action(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    for item in _allow_statements(res):
        if isinstance(item, Defer):
            yield item
        elif wildcard_actions(item[1]):
            yield f"{item[0]}: {item[1].label()} allows wildcard actions {fmt(wildcard_actions(item[1]))}"


@resource_policy(
    name="iam-no-wildcard-resource", area=Area.IAM, resource_types=_DOC_TYPES, severity=Severity.HIGH,
    description="Write actions are scoped to resources; Resource \"*\" only for actions AWS cannot scope.",
    remediation="Replace Resource \"*\" with the ARNs the workload owns (bucket/prefix/*, repository ARN, key "
                "ARN). Actions without resource-level permissions belong in `wildcard_resource_actions`.",
    url=f"{_IAM_DOCS}/reference_policies_elements_resource.html", compliance=checkov("CKV_AWS_355", "CKV_AWS_356"),
    settings=("wildcard_resource_actions",), on_unknown=OnUnknown.DEFER, unknown_note=_DOC_NOTE,
)
def iam_no_wildcard_resource(res: Res, settings: PolicySettings) -> Iterator[str | Defer]:
    allowed = settings.wildcard_resource_actions
    for item in _allow_statements(res):
        if isinstance(item, Defer):
            yield item
            continue
        label, stmt = item
        if "*" not in stmt.resources or wildcard_actions(stmt):
            continue  # wildcard actions are iam-no-wildcard-action's finding
        unscoped = [a for a in stmt.actions if not any(matches(p, a) for p in allowed)]
        if unscoped:
            yield f"{label}: {stmt.label()} allows {fmt(unscoped)} on Resource \"*\""


@resource_policy(
    name="iam-no-privilege-escalation", area=Area.IAM, resource_types=_DOC_TYPES, severity=Severity.CRITICAL,
    description="No policy lets its holder grant itself more permissions (PassRole, policy edits, keys).",
    remediation="Remove iam:* write actions from workload policies; if a role must pass a role, scope "
                "iam:PassRole to that role's ARN with an iam:PassedToService condition.",
    url=f"{_IAM_DOCS}/id_roles_use_passrole.html", compliance=checkov("CKV_AWS_286", "CKV_AWS_287", "CKV_AWS_288",
                                                                    "CKV_AWS_289", "CKV_AWS_290"),
    on_unknown=OnUnknown.DEFER, unknown_note=_DOC_NOTE,
)
def iam_no_privilege_escalation(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    for item in _allow_statements(res):
        if isinstance(item, Defer):
            yield item
            continue
        label, stmt = item
        if "*" not in stmt.resources:
            continue  # scoped to named resources: reviewed grants, not open escalation
        risky = [a for a in ESCALATION_ACTIONS if grants(stmt, a)]
        if risky:
            yield f"{label}: {stmt.label()} allows {fmt(risky)} on Resource \"*\""


_WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"


def _trust_problems(stmt: Statement) -> Iterator[str]:
    if is_public_principal(stmt) and not stmt.conditions:
        yield f"{stmt.label()} lets any principal (\"*\") assume the role with no condition"
    if grants(stmt, _WEB_IDENTITY) and stmt.principals.get("Federated"):
        subjects = [v for k in stmt.conditions.values() for key, v in (k or {}).items() if key.endswith(":sub")]
        if not subjects:
            yield f"{stmt.label()} trusts {fmt(list(stmt.principals['Federated']))} with no `sub` condition: " \
                  "any identity of that provider can assume the role"
        elif any(v == "*" or v == ["*"] for v in subjects):
            yield f"{stmt.label()} accepts any `sub` (\"*\")"
        else:
            loose = _any_github_owner(stmt)
            if loose:
                yield f"{stmt.label()} trusts GitHub repositories of any owner: {fmt(loose)} (a wildcard before " \
                      "`repo:<owner>/`; anyone can create a repository of that name in their own account)"


def _any_github_owner(stmt: Statement) -> list[str]:
    """GitHub `sub` patterns that leave the owner open. GitHub subjects start `repo:<owner>/<repo>:`
    (docs.github.com/en/actions/reference/security/oidc, "Example subject claims")."""
    out = []
    for op, values in stmt.condition_values(f"{GITHUB_OIDC_HOST}:sub"):
        if "Not" in op or is_unknown(values):
            continue
        if "Like" not in op:
            continue  # an exact subject names one owner (or is a customised claim this check does not read)
        for value in (str(v) for v in as_list(values)):
            fixed = value.split("*", 1)[0].split("?", 1)[0]  # what the pattern pins before its first wildcard
            could_be_repo = "repo:".startswith(fixed) or fixed.startswith("repo:")
            if could_be_repo and not re.match(r"^repo:[^/:]+/", fixed):
                out.append(value)
    return out


@resource_policy(
    name="iam-restricted-trust", area=Area.IAM, resource_types=(t.IAM_ROLE,), severity=Severity.CRITICAL,
    description="Role trust policies name who may assume them; web-identity trust is pinned to a subject "
                "(for GitHub, to repositories of one owner: no wildcard before `repo:<owner>/`).",
    remediation="Trust named principals (service, account role, OIDC provider) and, for OIDC, add "
                "StringEquals conditions on `<issuer>:sub` and `<issuer>:aud`.",
    url=f"{_IAM_DOCS}/id_roles_create_for-idp_oidc.html", compliance=checkov("CKV_AWS_60", "CKV_AWS_61"),
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when assumeRolePolicy is unknown.",
)
def iam_restricted_trust(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    yield from trust_findings(res, _trust_problems)
