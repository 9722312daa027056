"""The platform's ValidatingAdmissionPolicies over project namespaces: one shape for all of them.

Each policy refuses (`failurePolicy: Fail`, `Deny`) CREATE and UPDATE of some kinds in the namespaces tenancy
labels as projects, with CEL whose `namespaceObject` is the object's namespace. Platform namespaces carry no
project label, so the platform's own controllers and monitors are never judged. The modules that own a
concern write the CEL (route_isolation, metric_isolation, workload_identity, serving); this one writes the
policy, its binding and the two resources.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.k8s.manifests import PROJECT_LABEL, meta
from mlops_platform.k8s.provider import k8s_opts

#: CEL: the name of the namespace the object is created in.
OWN_NAMESPACE_CEL = "namespaceObject.metadata.name"


@dataclass(frozen=True, kw_only=True)
class Rule:
    """Resources of one API group the policy judges."""

    group: str
    """API group ('' for the core group). Required."""
    resources: tuple[str, ...]
    """Plural resource names, e.g. ("httproutes",). Required."""


@dataclass(frozen=True, kw_only=True)
class Check:
    """One validation of a policy: a CEL expression that must hold, and what a refused user reads."""

    expression: str
    """CEL over `object` and `namespaceObject`; true admits. Required."""
    message: str
    """CEL string expression (`messageExpression`) naming the rule and the fix. Required."""


def policy_spec(rules: Sequence[Rule], checks: Sequence[Check]) -> dict[str, Any]:
    """Spec of a ValidatingAdmissionPolicy judging CREATE and UPDATE of `rules`' resources by `checks`."""
    return {"failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [
                {"apiGroups": [r.group], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
                 "resources": list(r.resources)} for r in rules]},
            "validations": [{"expression": c.expression, "messageExpression": c.message, "reason": "Forbidden"}
                            for c in checks]}


def project_binding(policy_name: str) -> dict[str, Any]:
    """Binds the policy, denying, in the namespaces tenancy labels as projects."""
    return {"policyName": policy_name, "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchExpressions": [
                {"key": PROJECT_LABEL, "operator": "Exists"}]}}}


def project_admission(name: str, policy_name: str, spec: dict[str, Any], parent: pulumi.Resource,
                      provider: k8s.Provider) -> k8s.admissionregistration.v1.ValidatingAdmissionPolicy:
    """The policy `policy_name` and its project binding, children of `parent` named `<name>` and
    `<name>-binding`; the binding waits for the policy."""
    policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
        name, metadata=meta(policy_name), spec=spec, opts=k8s_opts(parent, provider))
    k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
        f"{name}-binding", metadata=meta(policy_name), spec=project_binding(policy_name),
        opts=k8s_opts(parent, provider, [policy]))
    return policy
