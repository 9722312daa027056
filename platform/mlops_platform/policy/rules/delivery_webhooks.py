"""Progressive delivery's outbound calls: what a project makes Flagger call stays inside its reach.

Flagger calls every `spec.analysis.webhooks[].url` of a Canary and the `spec.provider.address` of every
MetricTemplate from its own pod (docs.flagger.app/usage/webhooks, /usage/metrics), so an address the project
picks is a request from the platform's network position (instance metadata, the Kubernetes API, other
tenants), and a provider other than prometheus (cloudwatch, datadog, ...) acts with Flagger's identity or
credentials. Webhooks follow core.webhook_urls' rule, the same one the project's config check
(k8s.delivery.webhook_issues) and the cluster's admission policy (k8s.metric_isolation) apply; templates must
query the platform Prometheus without credentials, as that admission policy requires. No Service is an
ExternalName alias, which would make a name of the namespace (all the URL rule checks) any other.
"""

from __future__ import annotations

from collections.abc import Iterator

from mlops_platform.core import webhook_urls
from mlops_platform.policy.config import PolicySettings, Severity
from mlops_platform.policy.registry import Area, OnUnknown, resource_policy
from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.graph import Res
from mlops_platform.policy.sdk.values import Defer, as_list, is_unknown


def _hook_problem(hook: object, namespace: str, hosts: tuple[str, ...]) -> str | Defer | None:
    if not isinstance(hook, dict):
        return None if hook is None else Defer("spec.analysis.webhooks[]")
    url, name = hook.get("url"), hook.get("name", "?")
    if is_unknown(url):
        return Defer(f"spec.analysis.webhooks[{name}].url")
    problem = webhook_urls.url_problem(url, namespace=namespace, external_hosts=hosts)
    if problem is None and hook.get("disableTLS") is True and webhook_urls.is_listed_external(str(url), hosts):
        problem = "turns off TLS verification of an external call"
    if problem is None:
        return None
    return f"webhook {name!r} url {url!r} {problem}; {webhook_urls.url_fix(namespace, external_hosts=hosts)}"


#: A Canary that names no namespace, under a provider that names none either.
NO_NAMESPACE = ("has no metadata.namespace and its Kubernetes provider sets no namespace, so the kubeconfig "
                "context decides where it lands and what its webhooks and references may name; set "
                "metadata.namespace to the project's namespace")


def _namespace(res: Res) -> object:
    """Where a namespaced object lands: `metadata.namespace`, else its Kubernetes provider's `namespace`
    (pulumi-kubernetes Provider docs: "1. .metadata.namespace set on the resource. 2. This namespace
    parameter. 3. namespace set for the active context in the kubeconfig"); None when neither is set (the
    kubeconfig's context is not in the plan, and never "default" by assumption)."""
    namespace = res.get("metadata.namespace")
    return namespace if namespace or is_unknown(namespace) else res.provider.get("namespace") or None


@resource_policy(
    name="k8s-canary-webhooks", area=Area.K8S, resource_types=(t.FLAGGER_CANARY,), severity=Severity.HIGH,
    description="Flagger Canary webhooks call Services of the Canary's own namespace "
                "(http(s)://<service>.<namespace>.svc[.cluster.local]), never an IP address, loopback, "
                "link-local or instance-metadata address, the Kubernetes API or another namespace; external "
                "https URLs only to hosts listed in allow_external_webhook_hosts.",
    remediation="Point webhooks at a Service of the project namespace (e.g. the Flagger loadtester "
                "http://flagger-loadtester.<namespace>.svc.cluster.local/); for an external https hook list its "
                "host in allow_external_webhook_hosts (the platform's "
                "serving.delivery.allow_external_webhook_hosts).",
    url="https://docs.flagger.app/usage/webhooks", settings=("allow_external_webhook_hosts",),
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the namespace or a webhook URL is unknown.",
)
def k8s_canary_webhooks(res: Res, settings: PolicySettings) -> Iterator[str | Defer]:
    namespace, hooks = _namespace(res), res.get("spec.analysis.webhooks")
    if is_unknown(namespace) or is_unknown(hooks):
        yield Defer("metadata.namespace / spec.analysis.webhooks")
        return
    if not hooks:
        return
    if not isinstance(namespace, str):
        yield NO_NAMESPACE
        return
    for hook in as_list(hooks):
        found = _hook_problem(hook, namespace, tuple(settings.allow_external_webhook_hosts))
        if found is not None:
            yield found


@resource_policy(
    name="k8s-flagger-metric-provider", area=Area.K8S, resource_types=(t.FLAGGER_METRIC_TEMPLATE,),
    severity=Severity.HIGH,
    description="Flagger MetricTemplates query the platform Prometheus (`metrics_server_url`) with the prometheus "
                "provider and no secretRef: Flagger calls the address from its own pod, and other providers act "
                "with its identity or credentials.",
    remediation="Use ModelServing's MetricTemplates, or set spec.provider to {type: prometheus, address: "
                "<metrics_server_url>} without secretRef and select every series with namespace=\"{{ namespace }}\".",
    url="https://docs.flagger.app/usage/metrics", settings=("metrics_server_url",),
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the provider's type or address is unknown.",
)
def k8s_flagger_metric_provider(res: Res, settings: PolicySettings) -> Iterator[str | Defer]:
    kind, address, secret = (res.get(f"spec.provider.{k}") for k in ("type", "address", "secretRef"))
    if is_unknown(kind) or is_unknown(address):
        yield Defer("spec.provider.type / spec.provider.address")
        return
    if kind != "prometheus":
        yield f"provider type {kind!r}: only prometheus (the platform's) is allowed"
    if address != settings.metrics_server_url:
        yield f"provider address {address!r} is not the platform Prometheus {settings.metrics_server_url}"
    if secret:
        yield "provider secretRef: the platform Prometheus needs no credentials"


def _foreign_refs(items: object, ref: str, namespace: str | None) -> Iterator[str | Defer]:
    """Each `ref` of `items` naming a namespace other than `namespace` (None: any namespace it names)."""
    for item in as_list(items):
        target = item.get(ref) if isinstance(item, dict) else None
        if not isinstance(target, dict):
            continue
        other = target.get("namespace")
        if is_unknown(other):
            yield Defer(f"spec.analysis[].{ref}.namespace")
        elif other not in (None, namespace):
            yield (f"{ref} {target.get('name')!r} names namespace {other!r}: Flagger would read another namespace's "
                   "object (and its Secret)")


@resource_policy(
    name="k8s-canary-references", area=Area.K8S, resource_types=(t.FLAGGER_CANARY,), severity=Severity.HIGH,
    description="A Flagger Canary's `spec.metricsServer` is absent or the platform Prometheus (`metrics_server_url`: "
                "Flagger sends the builtin and inline metric checks there, from its own pod), and its "
                "`analysis.metrics[].templateRef` and `analysis.alerts[].providerRef` stay in its own namespace.",
    remediation="Drop spec.metricsServer (the platform's Flagger defaults to its Prometheus) and the namespace of "
                "templateRef/providerRef, or set them to the Canary's namespace.",
    url="https://docs.flagger.app/usage/metrics", settings=("metrics_server_url",),
    on_unknown=OnUnknown.DEFER,
    unknown_note="Deferred when the metrics server, the namespace or a reference is unknown.",
)
def k8s_canary_references(res: Res, settings: PolicySettings) -> Iterator[str | Defer]:
    namespace, server = _namespace(res), res.get("spec.metricsServer")
    if is_unknown(namespace) or is_unknown(server):
        yield Defer("metadata.namespace / spec.metricsServer")
        return
    if server is not None and server != settings.metrics_server_url:
        yield f"spec.metricsServer {server!r} is not the platform Prometheus {settings.metrics_server_url}"
    metrics, alerts = res.get("spec.analysis.metrics"), res.get("spec.analysis.alerts")
    own = namespace if isinstance(namespace, str) else None
    foreign = [*_foreign_refs(metrics, "templateRef", own), *_foreign_refs(alerts, "providerRef", own)]
    if own is None and foreign:  # without its own namespace, any namespace a reference names is unjudgeable
        yield NO_NAMESPACE
    elif own is not None:
        yield from foreign


@resource_policy(
    name="k8s-no-externalname-services", area=Area.K8S, resource_types=(t.K8S_SERVICE,), severity=Severity.HIGH,
    description="No Service is of type ExternalName: it makes a Service name of the namespace a DNS alias for any "
                "other (Prometheus, the Kubernetes API, another tenant), so a Canary webhook or route that names "
                "the namespace's Service reaches outside it. The admission policy mlops-service-types refuses "
                "them in project namespaces.",
    remediation="Use a ClusterIP Service that selects the namespace's own pods (drop spec.type and spec.externalName).",
    url="https://kubernetes.io/docs/concepts/services-networking/service/#externalname",
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the Service's type is unknown.",
)
def k8s_no_externalname_services(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    kind = res.get("spec.type")
    if is_unknown(kind):
        yield Defer("spec.type")
    elif kind == "ExternalName":
        yield f"type ExternalName (an alias for {res.get('spec.externalName')!r}): only Services selecting pods"
