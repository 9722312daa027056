"""The models' gateway: inference routes authenticate (staging and prod), and a project's routes reach only
its own namespace's Services.

Envoy Gateway v1.4.2 SecurityPolicy semantics relied on (internal/gatewayapi/helpers.go,
`getPolicyTargetRefs`): a policy applies to routes of its own namespace named by `targetRefs`, or matched
by `targetSelectors` (kind + labels; no labels matches every route of the kind).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlops_platform.policy.config import PolicySettings, Severity, StackKind
from mlops_platform.policy.registry import Area, OnUnknown, stack_policy
from mlops_platform.policy.rules.budgets import project_namespaces
from mlops_platform.policy.rules.k8s_stack import namespace_of
from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.graph import Res, StackView
from mlops_platform.policy.sdk.values import Defer, Violation, as_list, fmt, is_unknown

SECURITY_POLICY = "kubernetes:gateway.envoyproxy.io/v1alpha1:SecurityPolicy"
HTTP_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
GRPC_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:GRPCRoute"
REFERENCE_GRANT = "kubernetes:gateway.networking.k8s.io/v1beta1:ReferenceGrant"
ROUTES = (HTTP_ROUTE, GRPC_ROUTE)
#: SecurityPolicy fields that authenticate a caller (the v1.4.2 CRD's spec properties).
AUTHENTICATORS = ("apiKeyAuth", "jwt", "basicAuth", "extAuth", "oidc")
_DOCS = "https://gateway.envoyproxy.io/docs/concepts/gateway_api_extensions/security-policy/"


def _authenticates(policy: Res) -> bool:
    return any(policy.get(f"spec.{field}") for field in AUTHENTICATORS)


def _selects(policy: Res, kind: str, name: Any, labels: dict[str, Any]) -> bool:
    """Whether `policy` targets the route (`kind`, `name`, `labels`) of its own namespace."""
    refs = [*as_list(policy.get("spec.targetRefs")), *as_list(policy.get("spec.targetRef"))]
    if any(isinstance(r, dict) and r.get("kind") == kind and r.get("name") == name for r in refs):
        return True
    for sel in as_list(policy.get("spec.targetSelectors")):
        if isinstance(sel, dict) and sel.get("kind") == kind and not sel.get("matchExpressions") and \
                all(labels.get(k) == v for k, v in (sel.get("matchLabels") or {}).items()):
            return True
    return False


def _selects_every(policy: Res, kind: str) -> bool:
    """Whether `policy` selects every route of `kind` in its namespace (a selector with no labels)."""
    return any(isinstance(sel, dict) and sel.get("kind") == kind and not sel.get("matchLabels")
               and not sel.get("matchExpressions") for sel in as_list(policy.get("spec.targetSelectors")))


def _serves(route: Res) -> bool:
    """A route with a backend (a pure redirect serves nothing, so needs no authentication)."""
    return any(rule.get("backendRefs") for rule in as_list(route.get("spec.rules")) if isinstance(rule, dict))


def _policies_by_namespace(stack: StackView) -> dict[Any, list[Res]]:
    out: dict[Any, list[Res]] = {}
    for policy in stack.of_type(SECURITY_POLICY):
        if _authenticates(policy):
            out.setdefault(namespace_of(stack, policy), []).append(policy)
    return out


@stack_policy(
    name="k8s-inference-auth", area=Area.K8S,
    resource_types=(SECURITY_POLICY, *ROUTES, t.K8S_NAMESPACE), severity=Severity.HIGH,
    description="Inference routes authenticate: every project namespace has an Envoy Gateway SecurityPolicy "
                "(API key, JWT, basic, external or OIDC auth) selecting all its HTTPRoutes, and every planned "
                "route with a backend is targeted by one.",
    remediation="Leave `serving.auth.allow_unauthenticated_inference` unset (false in staging and prod); the "
                "tenants layer then gives each project a SecurityPolicy (serving.auth.mode: api_key or jwt).",
    url=_DOCS, settings=("allow_unauthenticated_inference", "project_label"), on_unknown=OnUnknown.DEFER,
    stack_kinds=(StackKind.PLATFORM,),
    unknown_note="Deferred when a route's or policy's namespace is unknown.",
)
def k8s_inference_auth(stack: StackView, settings: PolicySettings) -> Iterator[Violation | Defer]:
    if settings.allow_unauthenticated_inference:
        return
    policies = _policies_by_namespace(stack)
    for ns, project in project_namespaces(stack, settings):
        name = ns.get("metadata.name") or ns.name
        if not any(_selects_every(p, "HTTPRoute") for p in policies.get(name, [])):
            yield Violation(f"project {fmt(project)}: no authenticating SecurityPolicy selects every HTTPRoute of "
                            f"namespace {fmt(name)}: its models answer anyone who reaches the gateway", ns.urn)
    for route in stack.of_type(*ROUTES):
        ns = namespace_of(stack, route)
        if is_unknown(ns):
            yield Defer("metadata.namespace", route.urn)
            continue
        kind, labels = route.type.rsplit(":", 1)[-1], route.get("metadata.labels") or {}
        covered = any(_selects(p, kind, route.get("metadata.name"), labels) for p in policies.get(ns, []))
        if _serves(route) and not covered:
            yield Violation(f"{route.name}: no authenticating SecurityPolicy in namespace {fmt(ns)} targets this "
                            "route", route.urn)


def _foreign_backends(route: Res, ns: Any) -> Iterator[Any]:
    """Namespaces other than `ns` the route sends traffic to: backendRefs and RequestMirror filters."""
    for rule in as_list(route.get("spec.rules")):
        if not isinstance(rule, dict):
            continue
        backends = [b for b in as_list(rule.get("backendRefs")) if isinstance(b, dict)]
        filters = [*as_list(rule.get("filters")), *(f for b in backends for f in as_list(b.get("filters")))]
        refs = [*backends, *((f.get("requestMirror") or {}).get("backendRef") or {}
                             for f in filters if isinstance(f, dict))]
        yield from (r["namespace"] for r in refs if r.get("namespace") not in (None, ns))


@stack_policy(
    name="k8s-route-backends-own-namespace", area=Area.K8S, resource_types=(*ROUTES, REFERENCE_GRANT),
    severity=Severity.HIGH,
    description="A route sends traffic (backends, mirrors) only to Services of its own namespace, and no "
                "ReferenceGrant lets another namespace's routes reach a namespace's Services.",
    remediation="Point backendRefs and requestMirror at Services of the route's namespace (drop `namespace`); "
                "delete the ReferenceGrant. The cluster's admission policy mlops-route-backends refuses both.",
    url="https://gateway-api.sigs.k8s.io/api-types/referencegrant/", on_unknown=OnUnknown.DEFER,
    unknown_note="Deferred when a route's namespace is unknown.",
)
def k8s_route_backends_own_namespace(stack: StackView, _: PolicySettings) -> Iterator[Violation | Defer]:
    for route in stack.of_type(*ROUTES):
        ns = namespace_of(stack, route)
        if is_unknown(ns):
            yield Defer("metadata.namespace", route.urn)
            continue
        for foreign in dict.fromkeys(_foreign_backends(route, ns)):
            yield Violation(f"{route.name}: sends traffic to namespace {fmt(foreign)} from namespace {fmt(ns)}",
                            route.urn)
    for grant in stack.of_type(REFERENCE_GRANT):
        ns = namespace_of(stack, grant)
        for source in as_list(grant.get("spec.from")):
            if isinstance(source, dict) and source.get("namespace") != ns:
                yield Violation(f"{grant.name}: lets routes of namespace {fmt(source.get('namespace'))} reach "
                                f"namespace {fmt(ns)}", grant.urn)
