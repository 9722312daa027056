"""Fixtures of the policies in `mlops_platform.policy.rules.gateway`."""

from __future__ import annotations

from policy_plans import DROP, Add, Drop, Patch, U, res

from policy_cases._base import DEFERRED, Case, fail, ok, on, u

ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
NAMESPACE = "kubernetes:core/v1:Namespace"
GRANT = "kubernetes:gateway.networking.k8s.io/v1beta1:ReferenceGrant"


def _route(path: str, value: object) -> Patch:
    return Patch("fraud-route", path, value)


#: A route whose namespace is unknown at preview and that depends on no namespace.
UNPLACED = Add(res(ROUTE, "unplaced", {"metadata": {"namespace": U, "name": "m"}, "spec": {
    "rules": [{"backendRefs": [{"name": "m", "port": 80}]}]}}))


CASES: dict[str, Case] = {
    "k8s-inference-auth": Case(
        passing=(ok(),
                 # a redirect-only route serves nothing
                 ok(Drop("fraud-route"), Add(res(ROUTE, "redirect", {
                     "metadata": {"namespace": "kserve", "name": "https-redirect"},
                     "spec": {"rules": [{"filters": [{"type": "RequestRedirect",
                                                      "requestRedirect": {"scheme": "https"}}]}]}}))),
                 # targeted by name instead of by selector, project namespace still covered by the selector
                 ok(Patch("fraud-auth", "spec.targetRefs", [{"group": "gateway.networking.k8s.io",
                                                             "kind": "HTTPRoute", "name": "fraud"}]))),
        failing=(fail((on(NAMESPACE, "fraud-ns"), on(ROUTE, "fraud-route")), Drop("fraud-auth")),
                 # a policy that authenticates nobody (CORS only) does not count
                 fail((on(NAMESPACE, "fraud-ns"), on(ROUTE, "fraud-route")),
                      Patch("fraud-auth", "spec.apiKeyAuth", DROP)),
                 # labels narrow the selector: neither every route nor this one
                 fail((on(NAMESPACE, "fraud-ns"), on(ROUTE, "fraud-route")),
                      Patch("fraud-auth", "spec.targetSelectors.0.matchLabels", {"tier": "public"}))),
        unknown=u(DEFERRED, UNPLACED)),
    "k8s-route-backends-own-namespace": Case(
        passing=(ok(), ok(_route("spec.rules.0.backendRefs.0.namespace", "fraud"))),
        failing=(fail(on(ROUTE, "fraud-route"), _route("spec.rules.0.backendRefs.0.namespace", "risk")),
                 fail(on(ROUTE, "fraud-route"), _route("spec.rules.0.filters", [
                     {"type": "RequestMirror", "requestMirror": {"backendRef": {
                         "name": "scoring", "namespace": "risk", "port": 80}}}])),
                 fail(on(GRANT, "grant"), Add(res(GRANT, "grant", {
                     "metadata": {"namespace": "fraud", "name": "let-risk-in"},
                     "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute",
                                        "namespace": "risk"}], "to": [{"group": "", "kind": "Service"}]}})))),
        unknown=u(DEFERRED, UNPLACED)),
}
