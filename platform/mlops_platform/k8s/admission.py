"""ValidatingAdmissionPolicies the platform binds to project namespaces (admissionregistration.k8s.io/v1).

Each policy is CEL the API server runs itself: no webhook to be down, `failurePolicy: Fail` so an expression
error refuses rather than admits. The binding denies (`validationActions: [Deny]`) in every namespace tenancy
labels as a project, and nowhere else, so no platform namespace is ever affected.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.k8s.manifests import PROJECT_LABEL, meta
from mlops_platform.k8s.provider import k8s_opts

#: CEL: the name of the namespace the admitted object lives in.
OWN_NAMESPACE_CEL = "namespaceObject.metadata.name"


def project_binding(policy_name: str) -> dict[str, Any]:
    """Binds `policy_name`, denying, in the namespaces tenancy labels as projects."""
    return {"policyName": policy_name, "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchExpressions": [
                {"key": PROJECT_LABEL, "operator": "Exists"}]}}}


def project_policy(name: str, policy_name: str, spec: dict[str, Any], parent: pulumi.Resource,
                   provider: k8s.Provider) -> k8s.admissionregistration.v1.ValidatingAdmissionPolicy:
    """The policy `policy_name` with `spec`, and its project binding: children of `parent` named `<name>` and
    `<name>-binding`."""
    policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
        name, metadata=meta(policy_name), spec=spec, opts=k8s_opts(parent, provider))
    k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
        f"{name}-binding", metadata=meta(policy_name), spec=project_binding(policy_name),
        opts=k8s_opts(parent, provider, [policy]))
    return policy
