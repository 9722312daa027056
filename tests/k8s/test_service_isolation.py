"""No ExternalName Service in a project namespace (REVIEW-deploy H2): CoreDNS answers an ExternalName Service's
cluster name with a CNAME to `spec.externalName`, so a webhook URL that passes the in-namespace rule
(`http://evil.<ns>.svc.cluster.local`) would reach Prometheus, the API server or another tenant from Flagger's pod
(kubernetes.io/docs/concepts/services-networking/service/#externalname). The CEL runs under cel-python."""

from __future__ import annotations

from typing import Any

from mlops_platform.engine import Plan
from mlops_platform.k8s.admission import project_binding
from mlops_platform.k8s.service_isolation import POLICY_NAME, service_type_expression, service_type_policy_spec

from .k8s_cel import admits, message
from .planview import BINDING, VAP, k8s_of


def service(**spec: Any) -> dict[str, Any]:
    return {"kind": "Service", "spec": spec}


def test_externalname_services_are_refused_and_others_admitted() -> None:
    expression = service_type_expression()
    for spec in ({}, {"type": "ClusterIP", "selector": {"app": "x"}}, {"clusterIP": "None"}, {"type": "NodePort"}):
        assert admits(expression, service(**spec), "fraud"), spec
    alias = service(type="ExternalName", externalName="prometheus-operated.monitoring.svc.cluster.local")
    assert not admits(expression, alias, "fraud")
    (check,) = service_type_policy_spec()["validations"]
    assert message(check["messageExpression"], alias, "fraud") == (
        "Services of a project namespace select its pods: type ExternalName (a DNS alias to a name outside the "
        "namespace) is refused; use a ClusterIP Service with a selector (namespace fraud)")


def test_every_environment_refuses_externalname_services_in_project_namespaces(plan: Plan) -> None:
    (policy,) = [r for r in k8s_of(plan, VAP) if r.get("metadata.name") == POLICY_NAME]
    assert policy.get("spec") == service_type_policy_spec()
    assert policy.get("spec.matchConstraints.resourceRules") == [
        {"apiGroups": [""], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": ["services"]}]
    (binding,) = [r for r in k8s_of(plan, BINDING) if r.get("metadata.name") == POLICY_NAME]
    assert binding.get("spec") == project_binding(POLICY_NAME)
