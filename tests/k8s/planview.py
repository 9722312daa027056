"""Views of a recorded plan for the in-cluster layer's tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mlops_platform.engine import Plan, Resource

#: The in-cluster components of an environment: the cluster layer and the tenants layer (its own stack).
LAYER_TYPES = ("mlops:k8s:ClusterLayer", "mlops:k8s:TenantsLayer")
#: Pulumi types of the admission policies the platform ships, and of their bindings.
VAP = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"


def layer_resources(plan: Plan) -> list[Resource]:
    """Every resource below the in-cluster layer's root component (found through parents)."""
    by_urn = plan.by_urn()
    roots = {r.urn for r in plan.resources if r.type in LAYER_TYPES}

    def below(res: Resource) -> bool:
        parent = res.parent
        while parent:
            if parent in roots:
                return True
            parent = by_urn[parent].parent if parent in by_urn else None
        return False

    return [r for r in plan.resources if below(r)]


def k8s_of(plan: Plan, kind_type: str) -> list[Resource]:
    return [r for r in layer_resources(plan) if r.type == kind_type]


def policy_docs(resources: list[Resource]) -> Iterator[tuple[Resource, str, dict[str, Any]]]:
    """(resource, input key, document) of every IAM-style JSON policy among the resources."""
    for res in resources:
        for key, value in res.inputs.items():
            if isinstance(value, str) and value.lstrip().startswith("{"):
                doc = json.loads(value)
                if isinstance(doc, dict) and "Statement" in doc:
                    yield res, key, doc


def helm_values(plan: Plan, release: str) -> dict[str, Any]:
    found = [r for r in layer_resources(plan) if r.type == "kubernetes:helm.sh/v3:Release"
             and r.get("name") == release]
    assert len(found) == 1, f"{len(found)} Helm releases named {release}"
    return dict(found[0].get("values") or {})
