"""Reading Kubernetes RBAC rules (Role/ClusterRole `rules`): what they allow, whether they only read, and
which of them escalate. Pure functions over the rule dicts as planned."""

from __future__ import annotations

from typing import Any, Final

ROLE: Final = "kubernetes:rbac.authorization.k8s.io/v1:Role"
CLUSTER_ROLE: Final = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
ROLE_BINDING: Final = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
CLUSTER_ROLE_BINDING: Final = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
READ_VERBS: Final = frozenset({"get", "list", "watch"})
#: Verbs that grant more than the rule's own objects: bind/escalate create or widen RBAC beyond the
#: holder's rights, impersonate acts as another user, group or service account
#: (kubernetes.io/docs/concepts/security/rbac-good-practices, "Privilege escalation risks").
ESCALATING_VERBS: Final = frozenset({"bind", "escalate", "impersonate"})


def _listed(rule: dict[str, Any], key: str) -> list[str]:
    value = rule.get(key)
    return [str(v) for v in value] if isinstance(value, list) else []


def allows(rules: list[dict[str, Any]], group: str, resource: str, verb: str) -> bool:
    """Whether some rule grants `verb` on `resource` of API `group` ("" is core); `*` matches anything."""
    return any((group in _listed(r, "apiGroups") or "*" in _listed(r, "apiGroups"))
               and (resource in _listed(r, "resources") or "*" in _listed(r, "resources"))
               and (verb in _listed(r, "verbs") or "*" in _listed(r, "verbs")) for r in rules)


def read_only(rules: list[dict[str, Any]]) -> bool:
    """Every rule only gets, lists or watches, and none reads Secrets (a Secret read is a credential)."""
    return all(set(_listed(r, "verbs")) <= READ_VERBS for r in rules) and not reads_secrets(rules)


def reads_secrets(rules: list[dict[str, Any]]) -> bool:
    return any(allows(rules, "", "secrets", verb) for verb in READ_VERBS)


def risks(rules: list[dict[str, Any]]) -> list[str]:
    """What in `rules` reads Secrets, escalates (bind/escalate/impersonate), or grants a wildcard verb."""
    found = [f"{verb} on {', '.join(_listed(r, 'resources'))}" for r in rules for verb in _listed(r, "verbs")
             if verb in ESCALATING_VERBS or verb == "*"]
    if reads_secrets(rules):
        found.append("reads secrets")
    return found


def kind_resource(kind: str) -> str:
    """The resource (plural, lower case) of a kind, as the API server guesses it when a CRD names none
    (k8s.io/apimachinery meta.UnsafeGuessKindToResource: y -> ies, s -> ses, otherwise + s)."""
    low = kind.lower()
    if low.endswith("y") and low[-2:-1] not in "aeiou":
        return f"{low[:-1]}ies"
    return f"{low}es" if low.endswith("s") else f"{low}s"
