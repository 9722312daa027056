"""Per-project route isolation: a project's routes send traffic only to Services of its own namespace.

Gateway API lets a route name a backend in another namespace (`backendRefs[].namespace`, and the
`RequestMirror` filter's `backendRef.namespace`) once that namespace issues a ReferenceGrant. The platform
issues none across tenants, and this ValidatingAdmissionPolicy refuses such routes in project namespaces at
admission (so a ReferenceGrant a project makes for another is inert too). The offline policy
`k8s-route-backends-own-namespace` checks the same on planned routes.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.k8s.admission import OWN_NAMESPACE_CEL as _OWN
from mlops_platform.k8s.admission import Check, Rule, policy_spec, project_admission

POLICY_NAME = "mlops-route-backends"
#: Route kinds with `rules[].backendRefs` (GRPCRoute has the same shape and mirror filter as HTTPRoute).
ROUTE_RESOURCES = ("httproutes", "grpcroutes")
#: The route kinds of Gateway API the admission policies over routes judge.
ROUTES = Rule(group="gateway.networking.k8s.io", resources=ROUTE_RESOURCES)


def _refs_local(refs: str, var: str) -> str:
    """CEL: every ref of the list `refs` names no namespace, or its route's own."""
    return f"(!has({refs}) || {refs}.all({var}, !has({var}.namespace) || {var}.namespace == {_OWN}))"


def _mirrors_local(filters: str, var: str) -> str:
    """CEL: every RequestMirror filter of the list `filters` mirrors to its route's own namespace."""
    mirror = f"{var}.requestMirror.backendRef"
    return (f"(!has({filters}) || {filters}.all({var}, !has({var}.requestMirror) || "
            f"!has({mirror}.namespace) || {mirror}.namespace == {_OWN}))")


def backend_expression() -> str:
    """CEL over a route: backends, route-level mirrors and backend-level mirrors all stay in the namespace."""
    per_backend = _mirrors_local("b.filters", "bf")
    return ("!has(object.spec.rules) || object.spec.rules.all(r, "
            f"{_refs_local('r.backendRefs', 'b')} && {_mirrors_local('r.filters', 'f')} && "
            f"(!has(r.backendRefs) || r.backendRefs.all(b, {per_backend})))")


def backend_policy() -> dict[str, Any]:
    """Spec of the ValidatingAdmissionPolicy refusing routes to another namespace's Services."""
    return policy_spec([ROUTES], [Check(
        expression=backend_expression(),
        message="'routes may only send traffic to Services of their own namespace ' + namespaceObject.metadata.name")])


def route_backend_policy(name: str, parent: pulumi.Resource, provider: k8s.Provider) -> None:
    """The policy and its binding, children of `parent` named `<name>-route-backends[-binding]`."""
    project_admission(f"{name}-route-backends", POLICY_NAME, backend_policy(), parent, provider)
