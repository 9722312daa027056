"""No project can take over another project's model endpoint (security review item 3).

Upstream facts relied on:
- KServe renders an InferenceService's host from `kserve.controller.gateway.domainTemplate`, a Go template over
  `.Name`, `.Namespace` and `.IngressDomain` (kserve v0.15.2 charts/kserve-resources/values.yaml, recorded in
  tests/fixtures/upstream/values/kserve-v0.15.2.json).
- Gateway API v1 `Listener.hostname`: a leading `*.` label is a suffix match, so `*.example.com` matches
  `test.example.com` *and* `foo.test.example.com` (https://gateway-api.sigs.k8s.io/reference/spec/#listener,
  https://gateway-api.sigs.k8s.io/concepts/hostnames). Hosts with a dot between name and namespace are served.
- Gateway API v1 `HTTPRouteSpec.hostnames`: a route with no hostnames matches every host of the listener; of a
  listener wildcard and a route wildcard the more specific applies (same reference, `HTTPRouteSpec`).
- ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1, GA in Kubernetes 1.30, every EKS version the
  platform supports): CEL over `object` and `namespaceObject` (kubernetes.io/docs/reference/access-authn-authz/
  validating-admission-policy). The expression is evaluated here by cel-python, a real CEL implementation.
- Gateway API v1 `AllowedRoutes.namespaces.from`: `All` admits routes from every namespace, `Selector` only from
  namespaces the label selector matches (same reference, `RouteNamespaces`).
"""

from __future__ import annotations

import re
from typing import Any

import celpy
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlops_platform.config import PlatformConfig
from mlops_platform.config.sections import CertificateSource
from mlops_platform.engine import Plan
from mlops_platform.k8s.admission import project_binding
from mlops_platform.k8s.gateway_tls import GatewayTlsArgs
from mlops_platform.k8s.manifests import PROJECT_LABEL
from mlops_platform.k8s.project_gateway import project_gateway_spec
from mlops_platform.k8s.serving import (
    DOMAIN_TEMPLATE,
    gateway_spec,
    kserve_values,
    route_host_expression,
)

DOMAIN = "models.example.internal"
TLS = GatewayTlsArgs(source=CertificateSource.PLATFORM_CA, domain=DOMAIN, cert_manager_namespace="cert-manager")
#: A Kubernetes name/namespace: a DNS-1123 label (no dots).
LABEL = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?\Z")


def render(template: str, name: str, namespace: str, domain: str) -> str:
    """KServe's Go template with only the three fields it documents."""
    fields = {"Name": name, "Namespace": namespace, "IngressDomain": domain}
    return re.sub(r"\{\{\s*\.(\w+)\s*\}\}", lambda m: fields[m.group(1)], template)


def listener_matches(listener_host: str, host: str) -> bool:
    """Gateway API listener hostname matching: `*.` is a suffix match over one or more labels."""
    if listener_host.startswith("*."):
        return host.endswith(listener_host[1:]) and host != listener_host[2:]
    return host == listener_host


def test_the_review_example_no_longer_collides() -> None:
    """Project `fraud` with model `model-risk` vs project `risk-fraud` with model `model`."""
    attacker = render(DOMAIN_TEMPLATE, "model-risk", "fraud", DOMAIN)
    victim = render(DOMAIN_TEMPLATE, "model", "risk-fraud", DOMAIN)
    assert attacker != victim
    assert victim == f"model.risk-fraud.{DOMAIN}"


@given(LABEL, LABEL, LABEL, LABEL)
def test_hosts_of_different_namespaces_never_collide(name_a: str, ns_a: str, name_b: str, ns_b: str) -> None:
    if ns_a != ns_b:
        assert render(DOMAIN_TEMPLATE, name_a, ns_a, DOMAIN) != render(DOMAIN_TEMPLATE, name_b, ns_b, DOMAIN)


def https_listener(namespace: str) -> dict[str, Any]:
    """The one listener of the project's own Gateway."""
    [listener] = project_gateway_spec(namespace, DOMAIN, CertificateSource.PLATFORM_CA)["listeners"]
    return listener


def test_every_model_host_is_served_by_its_projects_listener_only() -> None:
    host = render(kserve_values(DOMAIN)["kserve"]["controller"]["gateway"]["domainTemplate"], "m", "ns", DOMAIN)
    assert listener_matches(https_listener("ns")["hostname"], host)
    assert not listener_matches(https_listener("fraud")["hostname"], host)
    assert host.endswith(f".ns.{DOMAIN}")


def test_each_https_listener_admits_its_own_namespace_and_port_80_only_the_platforms_redirect() -> None:
    """Gateway API `RouteNamespaces`: `Same` = the Gateway's namespace — the platform's (`kserve`) for port 80,
    the project's own for its Gateway's HTTPS listener."""
    [http] = gateway_spec(TLS)["listeners"]
    assert (http["port"], http["allowedRoutes"]) == (80, {"namespaces": {"from": "Same"}})
    for ns in ("fraud", "ns"):
        assert https_listener(ns)["allowedRoutes"] == {"namespaces": {"from": "Same"}}


def test_the_planned_gateway_and_kserve_values_carry_the_fix(plan: Plan, cfg: PlatformConfig) -> None:
    gateways = [r for r in plan.resources if r.type == "kubernetes:gateway.networking.k8s.io/v1:Gateway"]
    assert gateways, "the serving stack creates a Gateway"
    for gw in gateways:
        for listener in gw.inputs["spec"]["listeners"]:
            assert listener["allowedRoutes"]["namespaces"]["from"] == "Same"
    policies = {r.inputs["metadata"]["name"]: r for r in plan.resources
                if r.type == "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"}
    assert policies["mlops-route-hosts"].inputs["spec"]["validations"][0]["expression"] == \
        route_host_expression(cfg.serving.ingress_domain)
    kserve = [r for r in plan.resources
              if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs.get("name") == "kserve"]
    assert kserve, "the serving stack installs KServe"
    for rel in kserve:
        assert rel.inputs["values"]["kserve"]["controller"]["gateway"]["domainTemplate"] == DOMAIN_TEMPLATE


def admits(namespace: str, hostnames: list[str] | None) -> bool:
    env = celpy.Environment()
    program = env.program(env.compile(route_host_expression(DOMAIN)))
    route = {"spec": {"hostnames": hostnames}} if hostnames is not None else {"spec": {}}
    return bool(program.evaluate({"object": celpy.json_to_cel(route),
                                  "namespaceObject": celpy.json_to_cel({"metadata": {"name": namespace}})}))


@pytest.mark.parametrize(("hostnames", "admitted"), [
    ([f"model.fraud.{DOMAIN}"], True),  # what KServe creates
    ([f"model.fraud.{DOMAIN}", "model-predictor.fraud.svc.cluster.local"], True),  # a host off the listener
    ([f"*.fraud.{DOMAIN}"], True),
    ([f"model.risk-fraud.{DOMAIN}"], False),  # another project's model
    ([f"model-risk-fraud.{DOMAIN}"], False),  # a host outside any namespace's subdomain
    ([f"*.{DOMAIN}"], False), (["*.internal"], False), ([], False), (None, False),  # every host of the listener
])
def test_the_admission_policy_keeps_routes_under_their_namespace(hostnames: list[str] | None, admitted: bool) -> None:
    assert admits("fraud", hostnames) is admitted


def test_the_admission_policy_binds_to_project_namespaces_and_denies() -> None:
    binding = project_binding("p")
    assert binding["validationActions"] == ["Deny"]
    assert binding["matchResources"]["namespaceSelector"] == {"matchExpressions": [
        {"key": PROJECT_LABEL, "operator": "Exists"}]}
