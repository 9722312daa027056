"""Reading IAM-style policy documents (IAM, S3 bucket, KMS key, ECR repository policies).

Documents arrive as JSON strings. One normalised `Statement` shape, so every policy asks the same
questions the same way: who (principals), may do what (actions) on what (resources), under which
conditions.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from mlops_platform.policy.sdk.values import UNKNOWN, Defer, as_list, parse_json_document

#: Actions that let a principal grant itself more power (Checkov CKV_AWS_286..290 family).
ESCALATION_ACTIONS = (
    "iam:PassRole", "iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:AttachRolePolicy",
    "iam:AttachUserPolicy", "iam:AttachGroupPolicy", "iam:PutRolePolicy", "iam:PutUserPolicy",
    "iam:PutGroupPolicy", "iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:UpdateLoginProfile",
    "iam:UpdateAssumeRolePolicy", "iam:AddUserToGroup", "sts:AssumeRole",
)
ADMIN_POLICY_ARNS = ("arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::aws:policy/IAMFullAccess",
                     "arn:aws:iam::aws:policy/PowerUserAccess")


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    principals: dict[str, tuple[str, ...]] = field(default_factory=dict)  # {"AWS": (...), "*": ("*",)}
    conditions: dict[str, dict[str, Any]] = field(default_factory=dict)
    sid: str = ""

    @property
    def allows(self) -> bool:
        return self.effect == "Allow"

    def label(self) -> str:
        return f"statement {self.sid!r}" if self.sid else "a statement"

    def condition_values(self, key: str) -> list[tuple[str, Any]]:
        """(operator, value) pairs testing `key` (case-insensitive, as IAM compares keys)."""
        out = []
        for op, tests in self.conditions.items():
            for k, v in (tests or {}).items():
                if str(k).lower() == key.lower():
                    out.append((op, v))
        return out


def statements(document: Any) -> list[Statement] | None:
    """Statements of a document (string or mapping); UNKNOWN → UNKNOWN; unparsable/absent → None."""
    if isinstance(document, str):
        cached = _statements_of_text(document)
        return list(cached) if isinstance(cached, tuple) else cached
    return _statements_of(document)


@lru_cache(maxsize=4096)
def _statements_of_text(text: str) -> tuple[Statement, ...] | Any:
    # Each document is read by several policies (and project roles repeat the same shapes): parse once.
    found = _statements_of(text)
    return tuple(found) if isinstance(found, list) else found


def _statements_of(document: Any) -> list[Statement] | None:
    doc = parse_json_document(document)
    if doc is UNKNOWN:
        return UNKNOWN  # type: ignore[return-value,unused-ignore]
    if not isinstance(doc, dict):
        return None
    return [_statement(s) for s in as_list(doc.get("Statement")) if isinstance(s, dict)]


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v if isinstance(v, str) else "<unknown>" if v is UNKNOWN else str(v) for v in as_list(value))


def _principals(value: Any) -> dict[str, tuple[str, ...]]:
    if value is None:
        return {}
    if isinstance(value, str):
        return {"*": ("*",)} if value == "*" else {"AWS": (value,)}
    if isinstance(value, dict):
        return {str(k): _strings(v) for k, v in value.items()}
    return {"<unknown>": ("<unknown>",)}


def _statement(raw: dict[str, Any]) -> Statement:
    return Statement(
        effect=str(raw.get("Effect", "")), actions=_strings(raw.get("Action")),
        not_actions=_strings(raw.get("NotAction")), resources=_strings(raw.get("Resource")),
        not_resources=_strings(raw.get("NotResource")), principals=_principals(raw.get("Principal")),
        conditions=cond if isinstance(cond := raw.get("Condition"), dict) else {},
        sid=str(raw.get("Sid", "")))


def is_public_principal(stmt: Statement) -> bool:
    """Principal `*` (or AWS `*`): anyone, in any account."""
    return any("*" in values for values in stmt.principals.values())


@lru_cache(maxsize=65536)
def matches(pattern: str, action: str) -> bool:
    """IAM wildcard match, case-insensitive (IAM action names are)."""
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def trust_statements(role: Any, urn: str | None = None) -> Iterator[Statement | Defer]:
    """Each Allow statement of a role's trust document (`assumeRolePolicy`); one Defer instead when the
    document is unknown until apply (naming `urn`, for stack policies). `role` is anything with `get`."""
    stmts = statements(role.get("assumeRolePolicy"))
    if stmts is UNKNOWN:
        yield Defer("assumeRolePolicy", urn)
        return
    yield from (s for s in stmts or [] if s.allows)


def trust_findings(role: Any, check: Callable[[Statement], Iterable[str | Defer]]) -> Iterator[str | Defer]:
    """What `check` finds in each Allow statement of a role's trust, or the Defer of an unknown trust."""
    for stmt in trust_statements(role):
        if isinstance(stmt, Defer):
            yield stmt
        else:
            yield from check(stmt)


def grants(stmt: Statement, action: str) -> bool:
    """Whether an Allow statement's Action (or NotAction) covers `action`."""
    if not stmt.allows:
        return False
    if stmt.not_actions:
        return not any(matches(p, action) for p in stmt.not_actions)
    return any(matches(p, action) for p in stmt.actions)


def wildcard_actions(stmt: Statement) -> list[str]:
    """Actions that are `*`, `service:*`, or a NotAction (which allows everything else)."""
    if stmt.not_actions:
        return [f"NotAction {list(stmt.not_actions)}"]
    return [a for a in stmt.actions if a == "*" or a.endswith(":*")]


def allow_statements(docs: Iterable[Any]) -> list[Statement]:
    out: list[Statement] = []
    for doc in docs:
        stmts = statements(doc)
        if stmts is not None and stmts is not UNKNOWN:
            out.extend(s for s in stmts if s.allows)
    return out
