"""Project Services resolve to the project's own pods: no `ExternalName` Service in a project namespace.

An `ExternalName` Service is a DNS alias (CoreDNS answers its cluster name with a CNAME to
`spec.externalName`). Every in-namespace rule of the platform names Services by their cluster name: Canary
webhooks (core.webhook_urls), route backends (route_isolation). An alias in the tenant's namespace would
turn such a name into any other: `prometheus-operated.monitoring.svc.cluster.local`, the Kubernetes API,
another tenant's Service, or a public name resolving to an internal address, called from the platform's
network position (Flagger's pod). So this ValidatingAdmissionPolicy refuses them in project namespaces
(the project's deploy Role may create Services), and the offline policy `k8s-no-externalname-services`
checks planned ones. Selector-less Services need hand-written EndpointSlices, which no project Role may
write (deploy_rights).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.k8s.admission import OWN_NAMESPACE_CEL, Check, Rule, policy_spec, project_admission

POLICY_NAME = "mlops-service-types"


def service_type_expression() -> str:
    """CEL over a Service: any type but ExternalName (absent means ClusterIP)."""
    return "!has(object.spec.type) || object.spec.type != 'ExternalName'"


def service_type_policy_spec() -> dict[str, Any]:
    """Spec of the ValidatingAdmissionPolicy refusing ExternalName Services."""
    return policy_spec([Rule(group="", resources=("services",))], [Check(
        expression=service_type_expression(),
        message=("'Services of a project namespace select its pods: type ExternalName (a DNS alias to a name "
                 f"outside the namespace) is refused; use a ClusterIP Service with a selector (namespace ' + "
                 f"{OWN_NAMESPACE_CEL} + ')'"))])


def service_type_policy(name: str, parent: pulumi.Resource, provider: k8s.Provider) -> None:
    """The policy and its binding, children of `parent` named `<name>-service-types[-binding]`."""
    project_admission(f"{name}-service-types", POLICY_NAME, service_type_policy_spec(), parent, provider)
