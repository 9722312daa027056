"""Admission policies of project namespaces: metric isolation (KEDA, Flagger, monitors) and the CI groups'
workload identity. Each CEL expression is compiled and evaluated by cel-python (k8s_cel.py adds the two
Kubernetes functions used); the query check is also held against a real PromQL parser (promql-parser): any
query it admits selects, in every vector selector, `namespace="<own>"` (or does not parse at all)."""

from __future__ import annotations

from typing import Any

import promql_parser
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from mlops_platform.core import naming
from mlops_platform.engine import Plan
from mlops_platform.k8s.admission import project_binding
from mlops_platform.k8s.autoscaling import ScaleSignal, autoscaler_ref, scaled_object_spec
from mlops_platform.k8s.delivery import metric_queries, metric_template_spec
from mlops_platform.k8s.deploy_rights import MANAGED
from mlops_platform.k8s.metric_isolation import (
    FLAGGER_POLICY,
    KEDA_POLICY,
    MONITOR_POLICY,
    keda_expression,
    metric_template_expression,
    monitor_expression,
    webhook_expression,
)
from mlops_platform.k8s.monitoring import PROMETHEUS_URL, service_monitor_spec
from mlops_platform.k8s.pipeline_tenant import executor_rules, submitter_rules
from mlops_platform.k8s.workload_identity import CI_RULES, RAY_RULE, identity_expression
from mlops_platform.k8s.workload_identity import POLICY_NAME as IDENTITY_POLICY

from .k8s_cel import admits, evaluate
from .planview import k8s_of

NS = "fraud"
POLICY = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"


def template_admits(query: str, namespace: str = NS, address: str = PROMETHEUS_URL, **provider: Any) -> bool:
    spec = metric_template_spec(query, address)
    spec["provider"].update(provider)
    return admits(metric_template_expression(PROMETHEUS_URL), {"kind": "MetricTemplate", "spec": spec}, namespace)


def keda_admits(triggers: list[dict[str, Any]], namespace: str = NS) -> bool:
    return admits(keda_expression(PROMETHEUS_URL), {"kind": "ScaledObject", "spec": {"triggers": triggers}},
                  namespace)


def prometheus_trigger(query: str, address: str = PROMETHEUS_URL, **extra: str) -> dict[str, Any]:
    return {"type": "prometheus", "metadata": {"serverAddress": address, "query": query, "threshold": "1", **extra}}


# --- what the platform generates passes ------------------------------------------------------------------

@pytest.mark.parametrize("drift", [False, True])
def test_every_generated_metric_template_is_admitted_in_its_namespace(drift: bool) -> None:
    for query in metric_queries("model", drift).values():
        assert template_admits(query), query


@pytest.mark.parametrize("signal", [ScaleSignal.IN_FLIGHT, ScaleSignal.GPU_UTILIZATION])
@pytest.mark.parametrize("scale_to_zero", [False, True])
def test_every_generated_scaled_object_is_admitted_in_its_namespace_only(signal: ScaleSignal,
                                                                         scale_to_zero: bool) -> None:
    spec = scaled_object_spec(deployment="model", namespace=NS, signal=signal, target=3, min_replicas=1,
                              max_replicas=4, scale_to_zero=scale_to_zero)
    assert admits(keda_expression(PROMETHEUS_URL), {"kind": "ScaledObject", "spec": spec}, NS)
    assert not admits(keda_expression(PROMETHEUS_URL), {"kind": "ScaledObject", "spec": spec}, "risk")
    # the primary's ScaledObject Flagger writes from the Canary's `primaryScalerQueries`
    (primary,) = autoscaler_ref(signal, "model", NS, "model")["primaryScalerQueries"].values()
    assert keda_admits([prometheus_trigger(primary)])


def test_model_serving_plan_objects_pass_every_policy(serving_plan: Plan) -> None:
    """Every ScaledObject, MetricTemplate, Canary and monitor the ModelServing program plans is admitted in
    its namespace (the program of tests/k8s/programs/model_serving, every strategy and mode)."""
    checked = 0
    for kind, expression in (("ScaledObject", keda_expression(PROMETHEUS_URL)),
                             ("MetricTemplate", metric_template_expression(PROMETHEUS_URL)),
                             ("Canary", metric_template_expression(PROMETHEUS_URL)),
                             ("Canary", webhook_expression(allow_external=False)),
                             ("ServiceMonitor", monitor_expression()), ("PodMonitor", monitor_expression())):
        for res in (r for r in serving_plan.resources if r.type.endswith(f":{kind}")):
            body = {"kind": kind, "spec": res.get("spec")}
            assert admits(expression, body, res.get("metadata.namespace")), (kind, res.name)
            checked += 1
    assert checked >= 20


# --- what a project must not do ---------------------------------------------------------------------------

CROSS_TENANT = [
    "sum(up)",  # a bare selector: every namespace
    'up{namespace="fraud"} or up',
    'x{namespace!="fraud"}', 'x{namespace=~"fraud|risk"}', 'x{namespace="risk"}',
    'x{exported_namespace="fraud"}', 'x{pod="a"}',
    "count",  # PromQL reads an aggregation name alone as a metric name
    "x{pod!=',namespace=\"fraud\",'}",  # single quotes: a matcher hidden inside a string
    'x{namespace="fraud",a!="}"} or bar{x!=""}',  # a brace inside a value must not end the label set
    'x{namespace="fraud"} # "\n or y{a="b"} # "',  # a comment must not hide a selector
    'x{namespace="fraud", pod=\\"a\\"}',  # escapes
    'rate(x{namespace="fraud"}[5m:1m])',  # a subquery the tokenizer cannot place: refused, not guessed
    '{__name__="up"}',
]


@pytest.mark.parametrize("query", CROSS_TENANT)
def test_queries_reading_outside_the_namespace_are_refused(query: str) -> None:
    assert not template_admits(query)
    assert not keda_admits([prometheus_trigger(query)])


@pytest.mark.parametrize("query", ['{{ printf "risk" }}', 'x{namespace="{{ variables.ns }}"}',
                                   'x{namespace="{{namespace}}"}'])
def test_flagger_template_actions_other_than_its_variables_are_refused(query: str) -> None:
    assert not template_admits(query)


def test_flagger_provider_must_be_the_platform_prometheus_without_credentials() -> None:
    query = 'x{namespace="{{ namespace }}"}'
    assert template_admits(query)
    assert not template_admits(query, address="http://169.254.169.254/latest/meta-data")
    assert not template_admits(query, address=PROMETHEUS_URL + "/")
    assert not template_admits(query, type="cloudwatch")
    assert not template_admits(query, secretRef={"name": "creds"})
    inline = {"kind": "Canary", "spec": {"analysis": {"metrics": [{"name": "m", "query": "sum(up)"}]}}}
    assert not admits(metric_template_expression(PROMETHEUS_URL), inline, NS)


@pytest.mark.parametrize("trigger", [
    prometheus_trigger('x{namespace="fraud"}', address="http://attacker.example:9090"),
    prometheus_trigger('x{namespace="fraud"}', queryParameters="query=up"),
    prometheus_trigger('x{namespace="fraud"}', customHeaders="X-Scope-OrgID=risk"),
    prometheus_trigger('x{namespace="fraud"}', serverAddressFromEnv="PROM"),
    {**prometheus_trigger('x{namespace="fraud"}'), "authenticationRef": {"name": "creds"}},
    {"type": "prometheus", "metadata": {"query": 'x{namespace="fraud"}'}},
    {"type": "metrics-api", "metadata": {"url": "http://10.0.0.1/", "valueLocation": "v"}},
    {"type": "aws-cloudwatch", "metadata": {"namespace": "AWS/SQS"}},
])
def test_keda_triggers_reaching_other_servers_or_types_are_refused(trigger: dict[str, Any]) -> None:
    assert not keda_admits([trigger])
    assert keda_admits([{"type": "cron", "metadata": {"timezone": "UTC", "start": "0 8 * * *",
                                                      "end": "0 9 * * *", "desiredReplicas": "1"}}])


@pytest.mark.parametrize(("selector", "admitted"), [
    (None, True), ({"matchNames": [NS]}, True), ({"any": False, "matchNames": [NS]}, True),
    ({"any": True}, False), ({"matchNames": ["risk"]}, False), ({"matchNames": [NS, "kube-system"]}, False),
    ({}, False),  # prometheus-operator: an empty selector is the monitor's namespace, but say it explicitly
])
def test_project_monitors_scrape_their_own_namespace_only(selector: dict[str, Any] | None, admitted: bool) -> None:
    spec = service_monitor_spec({"app": "x"}, "http", NS)
    if selector is None:
        del spec["namespaceSelector"]
    else:
        spec["namespaceSelector"] = selector
    assert admits(monitor_expression(), {"kind": "ServiceMonitor", "spec": spec}, NS) is admitted


# --- the real PromQL parser agrees ----------------------------------------------------------------------

def selectors(node: Any) -> list[Any]:
    """Every VectorSelector of a parsed query."""
    if isinstance(node, promql_parser.VectorSelector):
        return [node]
    children = [getattr(node, a, None) for a in ("expr", "lhs", "rhs", "vector_selector", "param")]
    children += list(getattr(node, "args", None) or [])
    return [s for c in children if c is not None for s in selectors(c)]


def confined(query: str) -> bool:
    """True when the parser rejects the query, or every selector has the matcher namespace="fraud"."""
    try:
        tree = promql_parser.parse(query)
    except ValueError:
        return True
    return all(not s.matchers.or_matchers and any(
        m.name == "namespace" and str(m.op) == "MatchOp.Equal" and m.value == NS for m in s.matchers.matchers)
        for s in selectors(tree))


FRAGMENTS = ["sum", " by (le) ", "(", ")", "x", "up", 'x{namespace="fraud"}', '{namespace="risk"}', "{pod!=\"a\"}",
             ",", " or ", " and ", "rate(", "[5m]", " on() ", "vector(0)", '"}"', "{", "}", '"', " offset 5m",
             "count", '{__name__="x",namespace="fraud"}', "namespace", '="fraud"', " / ", "1", "'", "#", "\n",
             ' unless ', "max(", ' without (pod) ', 'pod=~"a"']


@settings(max_examples=120, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=10))
def test_what_the_policy_admits_the_parser_confines(parts: list[str]) -> None:
    query = "".join(parts)
    admitted = template_admits(query)
    event("admitted" if admitted else "refused")  # `pytest --hypothesis-show-statistics` shows the share
    if admitted:
        assert confined(query), query


#: Draws the property above can make (each a list of FRAGMENTS) that the policy admits, so the property is
#: never vacuous: were the policy to admit none of them, it would check nothing.
ADMITTED_DRAWS = [['x{namespace="fraud"}'], ["rate(", 'x{namespace="fraud"}', "[5m]", ")"],
                  ["sum", "(", 'x{namespace="fraud"}', ")", " / ", "count", "(", 'x{namespace="fraud"}', ")"],
                  ['{__name__="x",namespace="fraud"}', " offset 5m"]]


@pytest.mark.parametrize("parts", ADMITTED_DRAWS)
def test_the_property_meets_admitted_queries(parts: list[str]) -> None:
    assert set(parts) <= set(FRAGMENTS) and len(parts) <= 10  # within the property's strategy
    query = "".join(parts)
    assert template_admits(query) and confined(query), query


def test_the_parser_oracle_sees_what_it_must() -> None:
    assert not confined("sum(up)") and not confined("count") and confined('rate(x{namespace="fraud"}[5m])')
    for query in metric_queries("model", True).values():
        rendered = query.replace("{{ namespace }}", NS).replace("{{ target }}", "m").replace("{{ interval }}", "1m")
        assert confined(rendered), rendered


# --- the CI groups run workloads as the project's identities only ------------------------------------------

def identity_admits(obj: dict[str, Any], groups: list[str]) -> bool:
    return evaluate(identity_expression(), obj, NS, {"userInfo": {"groups": groups}})


DEPLOYERS, SUBMITTERS = naming.project_deployers(NS), naming.project_pipeline_submitters(NS)
WORKLOAD, PIPELINE = naming.project_service_account(NS), naming.project_pipeline_service_account(NS)


def deployment(**pod: Any) -> dict[str, Any]:
    return {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [], **pod}}}}


@pytest.mark.parametrize(("obj", "admitted"), [
    (deployment(serviceAccountName=WORKLOAD), True), (deployment(), True),
    (deployment(serviceAccountName="default"), True),
    (deployment(serviceAccountName=PIPELINE), False), (deployment(serviceAccountName=f"{NS}-retrain-sensor"), False),
    (deployment(serviceAccount=f"{NS}-retrain-sensor"), False),  # the PodSpec's deprecated alias
    ({"kind": "InferenceService", "spec": {"predictor": {"serviceAccountName": WORKLOAD}}}, True),
    ({"kind": "InferenceService", "spec": {"transformer": {"serviceAccountName": PIPELINE}}}, False),
    ({"kind": "WorkflowTemplate", "spec": {"serviceAccountName": PIPELINE, "templates": [{"name": "a"}]}}, True),
    ({"kind": "WorkflowTemplate", "spec": {"serviceAccountName": PIPELINE,
                                           "templates": [{"name": "a", "serviceAccountName": WORKLOAD}]}}, False),
    ({"kind": "WorkflowTemplate", "spec": {"executor": {"serviceAccountName": "x"}}}, False),
    ({"kind": "WorkflowTemplate", "spec": {"templates": [{"name": "a", "outputs": {"artifacts": [
        {"name": "m", "artifactGC": {"serviceAccountName": "x"}}]}}]}}, False),
    ({"kind": "CronWorkflow", "spec": {"workflowSpec": {"serviceAccountName": PIPELINE}}}, True),
    ({"kind": "CronWorkflow", "spec": {"workflowSpec": {"serviceAccountName": WORKLOAD}}}, False),
    ({"kind": "Workflow", "spec": {"serviceAccountName": "x"}}, False),
    # templateDefaults is a Template merged into every step (Argo v3.7 WorkflowSpec)
    ({"kind": "Workflow", "spec": {"templateDefaults": {"serviceAccountName": f"{NS}-retrain-sensor"}}}, False),
    ({"kind": "WorkflowTemplate", "spec": {"templateDefaults": {"executor": {"serviceAccountName": "x"}}}}, False),
    ({"kind": "WorkflowTemplate", "spec": {"templateDefaults": {"serviceAccountName": PIPELINE}}}, True),
    # a podSpecPatch string can set any serviceAccountName: refused wherever it is
    ({"kind": "Workflow", "spec": {"podSpecPatch": '{"serviceAccountName": "x"}'}}, False),
    ({"kind": "WorkflowTemplate", "spec": {"templates": [{"name": "a", "podSpecPatch": "{}"}]}}, False),
    ({"kind": "CronWorkflow", "spec": {"workflowSpec": {"templateDefaults": {"podSpecPatch": "{}"}}}}, False),
])
def test_ci_groups_name_only_the_projects_identity_of_each_kind(obj: dict[str, Any], admitted: bool) -> None:
    assert identity_admits(obj, ["system:authenticated", DEPLOYERS]) is admitted
    assert identity_admits(obj, [SUBMITTERS]) is admitted
    # controllers and administrators are other users: Argo Events makes the sensor's own Deployment
    assert identity_admits(obj, ["system:serviceaccounts", "system:serviceaccounts:argo-events"])
    # another project's deployers in this namespace have no rights here (RBAC); the policy does not judge them
    assert identity_admits(obj, [naming.project_deployers("risk")])


def ray_pod(account: str | None) -> dict[str, Any]:
    return {"spec": {"containers": [], **({"serviceAccountName": account} if account else {})}}


def ray_job(head: str | None = PIPELINE, worker: str | None = PIPELINE, **spec: Any) -> dict[str, Any]:
    return {"kind": "RayJob", "spec": {"entrypoint": "python -m fraud", **spec, "rayClusterSpec": {
        "headGroupSpec": {"template": ray_pod(head)},
        "workerGroupSpecs": [{"groupName": "a", "template": ray_pod(PIPELINE)},
                             {"groupName": "b", "template": ray_pod(worker)}]}}}


def ray_cluster(head: str | None = PIPELINE, worker: str | None = PIPELINE) -> dict[str, Any]:
    return {"kind": "RayCluster", "spec": ray_job(head, worker)["spec"]["rayClusterSpec"]}


@pytest.mark.parametrize(("obj", "admitted"), [
    (ray_job(), True), (ray_job(None, None), True), (ray_job("default"), True), (ray_cluster(), True),
    (ray_job(head=WORKLOAD), False), (ray_job(worker=f"{NS}-retrain-sensor"), False),
    (ray_job(submitterPodTemplate=ray_pod("x")), False), (ray_job(submitterPodTemplate=ray_pod(PIPELINE)), True),
    (ray_cluster(worker="x"), False), (ray_cluster(head=WORKLOAD), False),
    ({"kind": "RayJob", "spec": {"entrypoint": "x", "clusterSelector": {"ray.io/cluster": "c"}}}, True),
])
def test_ray_pods_run_as_the_pipeline_identity_whoever_creates_them(obj: dict[str, Any], admitted: bool) -> None:
    """A CI-written resource step creates RayJobs as the pipeline ServiceAccount, and KubeRay copies the cluster
    spec into a RayCluster: every requester is judged, not only the CI groups."""
    pipeline_sa = {"username": f"system:serviceaccount:{NS}:{PIPELINE}",
                   "groups": ["system:serviceaccounts", f"system:serviceaccounts:{NS}", "system:authenticated"]}
    for user in (pipeline_sa, {"username": "system:serviceaccount:kuberay:kuberay-operator",
                               "groups": ["system:serviceaccounts"]}, {"groups": [SUBMITTERS]}):
        assert evaluate(identity_expression(), obj, NS, {"userInfo": user}) is admitted, user


def test_the_identity_policy_covers_every_kind_with_pods_the_ci_groups_may_create() -> None:
    with_pods = {("apps", "deployments"), ("serving.kserve.io", "inferenceservices"),
                 ("argoproj.io", "workflowtemplates"), ("argoproj.io", "cronworkflows"), ("argoproj.io", "workflows")}
    granted = {(g, r) for g, rs in MANAGED for r in rs} | {
        (g, r) for rule in submitter_rules() if "create" in rule["verbs"] for g in rule["apiGroups"]
        for r in rule["resources"]}
    covered = {(rule.group, r) for rule in CI_RULES for r in rule.resources}
    assert with_pods <= granted and with_pods == covered
    # and the Ray kinds the pipeline ServiceAccount may create for CI's steps, judged for every requester
    ray = {(rule["apiGroups"][0], r) for rule in executor_rules() if "create" in rule["verbs"]
           for r in rule["resources"] if rule["apiGroups"] == ["ray.io"]}
    assert ray and ray <= {(RAY_RULE.group, r) for r in RAY_RULE.resources}
    # every other kind CI may create carries no pod template
    assert not {r for _, r in granted - with_pods} & {"pods", "jobs", "cronjobs", "statefulsets", "daemonsets",
                                                       "replicasets", "rayjobs", "rayclusters", "rayservices"}


# --- the policies are in the planned graph, bound to project namespaces ----------------------------------

def test_the_cluster_layer_plans_each_policy_with_its_project_binding(plans: Any) -> None:
    plan = plans["prod"]
    policies = {r.get("metadata.name"): r for r in k8s_of(plan, POLICY)}
    bindings = {r.get("metadata.name"): r for r in k8s_of(plan, BINDING)}
    for name in (KEDA_POLICY, FLAGGER_POLICY, MONITOR_POLICY, IDENTITY_POLICY):
        assert policies[name].get("spec.failurePolicy") == "Fail"
        assert bindings[name].get("spec") == project_binding(name)
    assert policies[KEDA_POLICY].get("spec.validations")[0]["expression"] == keda_expression(PROMETHEUS_URL)
    assert policies[IDENTITY_POLICY].get("spec.validations")[0]["expression"] == identity_expression()
    keda_rules = policies[KEDA_POLICY].get("spec.matchConstraints.resourceRules")
    assert keda_rules == [{"apiGroups": ["keda.sh"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
                           "resources": ["scaledobjects", "scaledjobs"]}]
