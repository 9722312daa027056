"""Metric isolation: what a project's autoscalers, analyses and monitors may read, refused at admission.

A project's CI deploy Role creates KEDA ScaledObjects, Flagger MetricTemplates/Canaries and
ServiceMonitors/PodMonitors (deploy_rights.py). Unchecked, each is a way out of the namespace:

- KEDA's operator and Flagger call whatever server a trigger or template names (a request from a platform
  pod to any address: SSRF), and other scaler/provider types reach other systems with the controller's
  identity (CloudWatch with Flagger's, a metrics API, a database);
- the platform Prometheus answers any query, so a query without its namespace reads another project's
  series (request rates, drift, GPU use);
- a monitor's `namespaceSelector` makes Prometheus scrape another namespace's pods (their series then carry
  the project's namespace, `monitoring.tenant_enforcement`, and become readable by it).

- Flagger calls each Canary webhook URL (`spec.analysis.webhooks[].url`) from its own pod: the instance
  metadata service, the Kubernetes API or another tenant's Service are a URL away (core.webhook_urls).

The policies here pin the server to the platform Prometheus, allow only the trigger and provider types the
platform generates, require every series selector of a query to carry `namespace="<own namespace>"`, and
keep monitors on their own namespace, and Canary webhooks on the namespace's own Services (or external https
names when the platform allows them). The platform's own objects live in platform namespaces and are not
judged (admission.project_binding).

The query check is a tokenizer in CEL (PromQL has no parser in CEL): the query is cut into strings, label
sets (with or without a metric name), numbers/durations, grouping clauses (`by (...)`), function calls and
keywords; anything else is a bare metric name (`up`, selecting every namespace) and is refused, as is every
label set without the own-namespace matcher. Quote styles and escapes that would let the tokenizer and
PromQL disagree on where a string ends (`'`, backquote, backslash) and comments (`#`) are refused outright.
Refusals are conservative: a valid query the tokenizer cannot place (a subquery `[5m:1m]`) is refused too;
the message names the rule.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.core import webhook_urls
from mlops_platform.k8s.admission import OWN_NAMESPACE_CEL, Check, Rule, policy_spec, project_admission

KEDA_POLICY = "mlops-keda-metrics"
FLAGGER_POLICY = "mlops-flagger-metrics"
MONITOR_POLICY = "mlops-monitor-namespace"
#: KEDA trigger types a project may use: the ones the platform generates (autoscaling.py: prometheus, cron)
#: and the resource ones, which read only the target's own pods.
KEDA_TRIGGERS = ("prometheus", "cron", "cpu", "memory")
#: Metadata keys of a prometheus trigger a project may set (KEDA 2.20 prometheus scaler): the rest add
#: headers, query parameters, TLS or a tenant header to the request, or read values from the environment.
KEDA_PROMETHEUS_KEYS = ("serverAddress", "query", "threshold", "activationThreshold", "ignoreNullValues")
#: Flagger's template variables a project's query may use (Flagger docs, "Metrics Analysis": `namespace`,
#: `target`, `interval`) and a stand-in of the same lexical class for each: `{{ namespace }}` is the
#: Canary's namespace, which with `noCrossNamespaceRefs` is the MetricTemplate's own. Any other template
#: action (`{{ printf ... }}`, `{{ variables.x }}`) could spell another namespace and is refused.
FLAGGER_VARIABLES = {"{{ namespace }}": OWN_NAMESPACE_CEL, "{{ target }}": "'target'", "{{ interval }}": "'1m'"}
_LABELS = r'\{(?:[^}"]|"[^"]*")*\}'
_AGGREGATIONS = ("sum", "avg", "count", "min", "max", "group", "stddev", "stdvar", "topk", "bottomk", "count_values",
                 "quantile", "limitk", "limit_ratio")
_GROUPING = "(?:by|without|on|ignoring|group_left|group_right)"
#: One PromQL token, leftmost alternative first: string, aggregation with its grouping clause, grouping
#: clause, name (+ label set or call), label set, number or duration. findAll skips what matches none
#: (operators, brackets, commas, blanks).
TOKEN = (rf'"[^"]*"|(?:{"|".join(_AGGREGATIONS)})\s*(?:by|without)\s*\([^)]*\)|{_GROUPING}\s*\([^)]*\)'
         rf'|[a-zA-Z_:][a-zA-Z0-9_:]*(?:\s*(?:{_LABELS}|\())?|{_LABELS}|[0-9][0-9a-zA-Z.]*')
#: Bare words allowed between operands: PromQL's binary operators and modifiers (and its number words).
#: Its grammar also reads them, and aggregation names, as metric names where an operand is expected
#: (`sum(offset)` selects the series named offset): aggregation names pass only with `(` or a grouping
#: clause, and OPERAND_KEYWORD refuses a keyword where an operand belongs.
KEYWORDS = ("and", "or", "unless", "bool", "offset", "atan2", "group_left", "group_right", "inf", "nan", "Inf",
            "NaN")
_BINARY = "(?:and|or|unless|atan2|offset|group_left|group_right)"
#: A keyword in operand position: at the start, after an opening paren, a comma, an operator or another
#: keyword (`bool` only follows a comparison, so `=`, `<`, `>` and `!` may precede it). Applied to the whole
#: query, so a string holding such text is refused too (conservative).
OPERAND_KEYWORD = (rf"(^|[(,+\-*/%^=<>!~]|\b{_BINARY}\b|\bbool\b)\s*{_BINARY}\b"
                   rf"|(^|[(,+\-*/%^]|\b{_BINARY}\b|\bbool\b)\s*\bbool\b")


def _cel_list(items: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(f"'{i}'" for i in items) + "]"


def own_matcher() -> str:
    """CEL regex (a string expression): a label set holding the matcher `namespace="<own namespace>"`."""
    return f"""r'[{{,]\\s*namespace\\s*=\\s*"' + {OWN_NAMESPACE_CEL} + r'"\\s*[,}}]'"""


def token_allowed(token: str) -> str:
    """CEL over one token: a string, number, grouping clause, call, keyword, or a label set with the matcher."""
    return (f"""({token}.startsWith('"') || {token}.matches(r'^[0-9]') || {token}.endsWith('(') """
            f"|| {token}.matches(r'^((?:{'|'.join(_AGGREGATIONS)})\\s*)?{_GROUPING}\\s*\\(') "
            f"|| {token} in {_cel_list(KEYWORDS)} "
            f"|| ({token}.endsWith('}}') && {token}.matches({own_matcher()})))")


def query_expression(query: str, *, templated: bool) -> str:
    """CEL over the string expression `query`: no quote style or comment the tokenizer could misread, and
    every token allowed. `templated` (Flagger): its variables are replaced first and no other remains."""
    q = query
    if templated:
        for variable, stand_in in FLAGGER_VARIABLES.items():
            q = f"{q}.replace('{variable}', {stand_in})"
    leftover = f" && !{q}.contains('{{{{')" if templated else ""
    return (f"""(!{query}.matches(r"[\\\\'`#]"){leftover} && !{q}.matches(r'{OPERAND_KEYWORD}') && """
            f"{q}.findAll(r'{TOKEN}').all(tok, {token_allowed('tok')}))")


def keda_expression(prometheus_url: str) -> str:
    """CEL over a ScaledObject/ScaledJob: allowed trigger types; prometheus ones ask the platform's server,
    with allowed keys only, no authentication, and a query confined to the namespace."""
    prom = (f"t.metadata.serverAddress == '{prometheus_url}' && has(t.metadata.query) && "
            f"t.metadata.all(k, k in {_cel_list(KEDA_PROMETHEUS_KEYS)}) && !has(t.authenticationRef) && "
            + query_expression("t.metadata.query", templated=False))
    return (f"!has(object.spec.triggers) || object.spec.triggers.all(t, t.type in {_cel_list(KEDA_TRIGGERS)} && "
            f"(t.type != 'prometheus' || (has(t.metadata) && has(t.metadata.serverAddress) && {prom})))")


def metric_template_expression(prometheus_url: str) -> str:
    """CEL over a Flagger MetricTemplate (prometheus on the platform's server, no credentials, confined
    query) or Canary (each inline `analysis.metrics[].query`, deprecated but still run, confined too)."""
    template = (f"object.spec.provider.type == 'prometheus' && has(object.spec.provider.address) && "
                f"object.spec.provider.address == '{prometheus_url}' && !has(object.spec.provider.secretRef) && "
                + query_expression("object.spec.query", templated=True))
    inline = ("!has(object.spec.analysis) || !has(object.spec.analysis.metrics) || object.spec.analysis.metrics"
              f".all(m, !has(m.query) || {query_expression('m.query', templated=True)})")
    return f"object.kind == 'MetricTemplate' ? ({template}) : ({inline})"


def webhook_expression(*, allow_external: bool) -> str:
    """CEL over a Canary: every `analysis.webhooks[].url` is a Service of its own namespace, or (when
    `allow_external`) an https URL of an external DNS name with TLS verified. The regexes are
    core.webhook_urls', which the config and review checks use too."""
    own = webhook_urls.in_cluster_regex(f"' + {OWN_NAMESPACE_CEL} + r'")
    allowed = f"w.url.matches(r'{own}')"
    if allow_external:
        allowed += (f" || (w.url.matches(r'{webhook_urls.EXTERNAL_REGEX}') && "
                    f"!w.url.matches(r'{webhook_urls.INTERNAL_HOST_REGEX}') && !(has(w.disableTLS) && w.disableTLS))")
    hooks = "object.spec.analysis.webhooks"
    return (f"object.kind != 'Canary' || !has(object.spec.analysis) || !has({hooks}) || "
            f"{hooks}.all(w, {allowed})")


def canary_refs_expression(prometheus_url: str) -> str:
    """CEL over a Canary: `spec.metricsServer` absent or the platform's Prometheus (Flagger sends the builtin
    and inline metric checks there: fluxcd/flagger pkg/controller/scheduler_metrics.go), and every
    `analysis.metrics[].templateRef` / `analysis.alerts[].providerRef` in the Canary's own namespace (Flagger
    would read another namespace's MetricTemplate or AlertProvider and its Secret; the chart's
    `noCrossNamespaceRefs` also ignores them, this refuses them at the door)."""
    analysis = "object.spec.analysis"

    def own(items: str, ref: str) -> str:
        return (f"!has({analysis}.{items}) || {analysis}.{items}.all(x, !has(x.{ref}) || "
                f"!has(x.{ref}.namespace) || x.{ref}.namespace == {OWN_NAMESPACE_CEL})")
    return (f"object.kind != 'Canary' || ((!has(object.spec.metricsServer) || "
            f"object.spec.metricsServer == '{prometheus_url}') && (!has({analysis}) || "
            f"(({own('metrics', 'templateRef')}) && ({own('alerts', 'providerRef')}))))")


def monitor_expression() -> str:
    """CEL over a ServiceMonitor/PodMonitor: no `namespaceSelector`, or one naming only its own namespace
    (prometheus-operator: none selects the monitor's namespace; `any: true` every one)."""
    sel = "object.spec.namespaceSelector"
    return (f"!has({sel}) || ((!has({sel}.any) || !{sel}.any) && has({sel}.matchNames) && "
            f"{sel}.matchNames.all(n, n == {OWN_NAMESPACE_CEL}))")


def _message(what: str) -> str:
    return f"'{what} (namespace ' + {OWN_NAMESPACE_CEL} + ')'"


def keda_policy(prometheus_url: str) -> dict[str, Any]:
    return policy_spec([Rule(group="keda.sh", resources=("scaledobjects", "scaledjobs"))], [Check(
        expression=keda_expression(prometheus_url),
        message=_message(f"triggers may be {', '.join(KEDA_TRIGGERS)}; prometheus triggers query "
                         f"{prometheus_url} only, set only {', '.join(KEDA_PROMETHEUS_KEYS)}, and select every "
                         "series with namespace=\"<this namespace>\""))])


def flagger_policy(prometheus_url: str, *, allow_external_webhooks: bool = False) -> dict[str, Any]:
    external = ", or https URLs of external DNS names with TLS verified" if allow_external_webhooks else \
        " (external ones need serving.delivery.allow_external_webhooks: true in the platform config)"
    return policy_spec([Rule(group="flagger.app", resources=("metrictemplates", "canaries"))], [Check(
        expression=metric_template_expression(prometheus_url),
        message=_message(f"metric templates use the prometheus provider at {prometheus_url} without a secretRef; "
                         "every query selects each series with namespace=\"{{ namespace }}\" or the namespace's "
                         "name, and uses no template variable but namespace, target and interval")), Check(
        expression=webhook_expression(allow_external=allow_external_webhooks),
        message=_message("Canary webhooks call Services of this namespace only, "
                         "http(s)://<service>.<namespace>.svc.cluster.local/..." + external)), Check(
        expression=canary_refs_expression(prometheus_url),
        message=_message(f"Canary spec.metricsServer is absent or {prometheus_url}, and its metric "
                         "templateRefs and alert providerRefs name no other namespace"))])


def monitor_policy() -> dict[str, Any]:
    return policy_spec([Rule(group="monitoring.coreos.com", resources=("servicemonitors", "podmonitors"))], [Check(
        expression=monitor_expression(),
        message=_message("monitors scrape their own namespace only: drop namespaceSelector or set matchNames "
                         "to this namespace"))])


def delivery_metric_policies(name: str, prometheus_url: str, parent: pulumi.Resource, provider: k8s.Provider, *,
                             allow_external_webhooks: bool = False) -> None:
    """KEDA's and Flagger's policies, children of `parent` named `<name>-keda-metrics`, `<name>-flagger-metrics`."""
    project_admission(f"{name}-keda-metrics", KEDA_POLICY, keda_policy(prometheus_url), parent, provider)
    project_admission(f"{name}-flagger-metrics", FLAGGER_POLICY,
                      flagger_policy(prometheus_url, allow_external_webhooks=allow_external_webhooks), parent, provider)


def monitor_namespace_policy(name: str, parent: pulumi.Resource, provider: k8s.Provider) -> None:
    """The monitors' policy, a child of `parent` named `<name>-monitor-namespace`."""
    project_admission(f"{name}-monitor-namespace", MONITOR_POLICY, monitor_policy(), parent, provider)
