"""In-cluster pipelines (the Argo charts' values are checked against upstream with every chart in
test_chart_values.py): the hardened controllers, the per-project
identity, RBAC and drift → retrain objects against the published Argo CRD schemas (strictly: a key the
schema does not declare is an error), and the Alertmanager route from a project's drift alert to its
retrain webhook, on the rendered config."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from mlops_platform.config import PlatformConfig
from mlops_platform.core import contract, naming
from mlops_platform.engine import Plan
from mlops_platform.k8s import pipeline_tenant
from mlops_platform.k8s.alerts import DRIFT_ALERT
from mlops_platform.k8s.manifests import PROJECT_LABEL
from mlops_platform.k8s.pipelines import JETSTREAM_VERSION, PIPELINES_NAMESPACE

from .argo_schema import ARGO, crd_errors
from .planview import helm_values, k8s_of
from .test_upstream_fixtures import as_sent


def custom(plan: Plan, kind: str) -> list[Any]:
    return k8s_of(plan, f"kubernetes:{ARGO}/v1alpha1:{kind}")


def as_object(res: Any) -> dict[str, Any]:
    return {"apiVersion": res.get("apiVersion"), "kind": res.get("kind"), "metadata": res.get("metadata"),
            "spec": res.get("spec")}


# ---------------------------------------------------------------- charts
def test_controllers_are_replicated_with_a_pdb_in_prod_only(plans: Any) -> None:
    for env, replicas in (("dev", 1), ("prod", 2)):
        workflows = helm_values(plans[env], "argo-workflows")["controller"]
        events = helm_values(plans[env], "argo-events")["controller"]
        for controller in (workflows, events):
            assert controller["replicas"] == replicas
            assert controller["pdb"] == {"enabled": replicas > 1}


def test_workflow_controller_is_hardened(plans: Any) -> None:
    values = helm_values(plans["dev"], "argo-workflows")
    assert values["server"] == {"enabled": False}  # no second API with its own auth
    assert values["createAggregateRoles"] is False
    controller = values["controller"]
    assert controller["workflowRestrictions"] == {"templateReferencing": "Strict"}
    assert controller["rbac"]["accessAllSecrets"] is False
    assert controller["securityContext"]["readOnlyRootFilesystem"] is True
    defaults = controller["workflowDefaults"]["spec"]
    assert defaults["securityContext"]["runAsNonRoot"] is True
    assert defaults["ttlStrategy"]["secondsAfterCompletion"] > 0


def test_event_bus_version_is_one_the_controller_runs(plans: Any) -> None:
    versions = helm_values(plans["dev"], "argo-events")["configs"]["jetstream"]["versions"]
    assert [v["version"] for v in versions] == [JETSTREAM_VERSION]
    for bus in custom(plans["dev"], "EventBus"):
        assert bus.get("spec.jetstream.version") == JETSTREAM_VERSION
        assert bus.get("spec.jetstream.replicas") >= 3  # JetStream's raft quorum


def test_pipelines_can_be_switched_off(cfg: PlatformConfig) -> None:
    off = cfg.model_copy(update={"pipelines": cfg.pipelines.model_copy(update={"enabled": False})})
    assert off.component_enabled(off.pipelines) is False
    assert cfg.pipelines_replicas == (2 if cfg.is_prod else 1)


# ---------------------------------------------------------------- per project
def test_event_sources_and_sensors_match_the_published_schemas(plans: Any) -> None:
    objects = [*custom(plans["prod"], "EventSource"), *custom(plans["prod"], "Sensor")]
    assert objects
    for res in objects:
        assert crd_errors(res.get("kind"), as_object(res)) == [], res.name


def test_event_buses_match_the_published_schema(plans: Any) -> None:
    """argo-events v1.9.10 (the app version of the pinned chart 2.4.22), api/jsonschema/schema.json."""
    buses = custom(plans["prod"], "EventBus")
    assert buses
    for res in buses:
        assert crd_errors("EventBus", as_object(res)) == [], res.name


def test_the_workflow_each_sensor_submits_matches_the_published_workflow_schema(plans: Any) -> None:
    """The Sensor's trigger carries a whole Workflow (argoWorkflow.source.resource), which the Sensor schema only
    types as an object: checked against Argo Workflows v4.0.6's Workflow schema, as the controller would see it."""
    sensors = custom(plans["prod"], "Sensor")
    assert sensors
    for sensor in sensors:
        for trigger in sensor.get("spec.triggers"):
            workflow = trigger["template"]["argoWorkflow"]["source"]["resource"]
            assert workflow["kind"] == "Workflow" and workflow["apiVersion"] == f"{ARGO}/v1alpha1"
            assert crd_errors("Workflow", workflow) == [], sensor.name
    misplaced = copy.deepcopy(sensors[0].get("spec.triggers")[0]["template"]["argoWorkflow"]["source"]["resource"])
    misplaced["spec"]["templateRef"] = misplaced["spec"].pop("workflowTemplateRef")  # a step field, not a spec one
    assert crd_errors("Workflow", misplaced) == ["spec: Additional properties are not allowed ('templateRef' was "
                                                 "unexpected)"]


def test_alertmanager_configs_match_the_published_schema(plans: Any) -> None:
    """monitoring.coreos.com/v1alpha1 AlertmanagerConfig as kube-prometheus-stack 72.6.2 installs it
    (prometheus-operator v0.82.2); strictly, so a misspelt matcher or receiver field fails here, not in the operator
    (which rejects the whole config and drops the project's drift → retrain route)."""
    routes = k8s_of(plans["prod"], "kubernetes:monitoring.coreos.com/v1alpha1:AlertmanagerConfig")
    assert routes
    for res in routes:
        sent = as_sent(as_object(res))  # plan numbers are protobuf doubles; the provider sends maxAlerts: 1
        assert crd_errors("AlertmanagerConfig", sent, group="monitoring.coreos.com") == [], res.name
    broken = copy.deepcopy(as_sent(as_object(routes[0])))
    broken["spec"]["route"]["matchers"][0]["matchType"] = "~"  # not one of =, !=, =~, !~
    broken["spec"]["receivers"][0]["webhookConfigs"][0]["sendResolve"] = True  # misspelt
    errors = crd_errors("AlertmanagerConfig", broken, group="monitoring.coreos.com")
    assert len(errors) == 2 and any("'~' is not one of" in e for e in errors)


def test_sensor_starts_the_projects_own_template_only_on_firing_alerts(plan: Plan, cfg: PlatformConfig) -> None:
    sensors = {r.get("metadata.namespace"): r for r in custom(plan, "Sensor")}
    assert set(sensors) == {p.name for p in cfg.projects}
    for ns, sensor in sensors.items():
        trigger = sensor.get("spec.triggers")[0]
        workflow = trigger["template"]["argoWorkflow"]["source"]["resource"]
        assert workflow["metadata"]["namespace"] == ns
        assert workflow["spec"]["workflowTemplateRef"] == {"name": contract.PIPELINE_TEMPLATE}
        assert trigger["rateLimit"] == {"unit": "Hour", "requestsPerUnit": 1}  # 60-minute default cool-down
        data_filter = sensor.get("spec.dependencies")[0]["filters"]["data"]
        assert data_filter == [{"path": "body.status", "type": "string", "value": ["firing"]}]


@pytest.mark.parametrize(("minutes", "per_hour"), [(5, 12), (20, 3), (45, 1), (60, 1), (1440, 1)])
def test_rate_limit_never_allows_more_than_the_cool_down(minutes: int, per_hour: int) -> None:
    limit = pipeline_tenant.rate_limit(minutes)
    assert limit == {"unit": "Hour", "requestsPerUnit": per_hour}
    assert 60 / limit["requestsPerUnit"] >= min(minutes, 60)


def test_project_rights_are_namespaced_and_minimal(plan: Plan, cfg: PlatformConfig) -> None:
    roles = k8s_of(plan, "kubernetes:rbac.authorization.k8s.io/v1:Role")
    bindings = k8s_of(plan, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
    assert not k8s_of(plan, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
    for p in cfg.projects:
        mine = {r.get("metadata.name"): r.get("rules") for r in roles if r.get("metadata.namespace") == p.name}
        assert mine[f"{p.name}-pipeline-executor"] == pipeline_tenant.executor_rules()
        subjects = [s for b in bindings if b.get("metadata.namespace") == p.name for s in b.get("subjects")]
        assert {"kind": "Group", "name": naming.project_pipeline_submitters(p.name),
                "apiGroup": "rbac.authorization.k8s.io"} in subjects
        assert all(s.get("namespace", p.name) == p.name for s in subjects)
    verbs = {v for rules in (pipeline_tenant.submitter_rules(), pipeline_tenant.sensor_rules())
             for rule in rules for v in rule["verbs"]}
    assert "*" not in verbs and "escalate" not in verbs and "bind" not in verbs


def test_ci_and_training_roles_join_the_submitter_group(plan: Plan, cfg: PlatformConfig) -> None:
    entries = {r.name.split("-project-", 1)[1]: r for r in k8s_of(plan, "aws:eks/accessEntry:AccessEntry")
               if "-project-" in r.name}
    associations = [r.name.split("-project-", 1)[1]
                    for r in k8s_of(plan, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
                    if "-project-" in r.name]
    for p in cfg.projects:
        group = [naming.project_pipeline_submitters(p.name)]
        # CI deploys through its own deploy group (k8s.deploy_rights) and submits through the submitters'
        assert entries[f"{p.name}-ci-access"].get("kubernetesGroups") == [naming.project_deployers(p.name), *group]
        assert entries[f"{p.name}-training-access"].get("kubernetesGroups") == group
        # previews only read: their group's Role gets, lists and watches (k8s.deploy_rights.previewer_rules)
        assert entries[f"{p.name}-ci-preview-access"].get("kubernetesGroups") == [naming.project_previewers(p.name)]
        # continuous training only submits: no EKS access policy, only the namespaced group
        assert not any(a.startswith(f"{p.name}-training-") for a in associations)


# ---------------------------------------------------------------- drift → retrain
def route_receivers(route: dict[str, Any], labels: dict[str, str]) -> list[str]:
    """Receivers Alertmanager notifies for an alert with `labels` (equality matchers, `continue`),
    per prometheus.io/docs/alerting/latest/configuration/#route: children in order, the first match
    wins unless it says `continue`; with no matching child the node itself receives."""
    found: list[str] = []
    for child in route.get("routes", []):
        if all(labels.get(k.strip()) == v.strip().strip('"')
               for k, v in (m.split("=", 1) for m in child.get("matchers", []))):
            found += route_receivers(child, labels)
            if not child.get("continue", False):
                break
    return found or [route["receiver"]]


def operator_merged(config: dict[str, Any], project_configs: list[Any]) -> dict[str, Any]:
    """The Alertmanager config the Prometheus Operator generates from the platform's config and the
    selected AlertmanagerConfigs, as its documentation describes it (prometheus-operator.dev, "Alerting
    routes" / AlertmanagerConfig API, alertmanagerConfigMatcherStrategy OnNamespace): each config's route
    is inserted before the top-level route's own children with `continue: true` and a
    `namespace="<its namespace>"` matcher; its receivers are renamed `<namespace>/<name>/<receiver>`."""
    merged = copy.deepcopy(config)
    routes, receivers = [], []
    for res in project_configs:
        ns, name, spec = res.get("metadata.namespace"), res.get("metadata.name"), res.get("spec")
        route = spec["route"]
        matchers = [f'{m["name"]} {m.get("matchType", "=")} "{m["value"]}"' for m in route["matchers"]]
        routes.append({"receiver": f"{ns}/{name}/{route['receiver']}", "continue": True,
                       "matchers": [f'namespace = "{ns}"', *matchers],
                       "group_interval": route["groupInterval"], "repeat_interval": route["repeatInterval"]})
        receivers += [{"name": f"{ns}/{name}/{r['name']}",
                       "webhook_configs": [{"url": w["url"], "send_resolved": w["sendResolved"]}
                                           for w in r["webhookConfigs"]]} for r in spec["receivers"]]
    merged["route"]["routes"] = [*routes, *merged["route"]["routes"]]
    merged["receivers"] += receivers
    return merged


def alert_routes(plan: Plan) -> list[Any]:
    return k8s_of(plan, "kubernetes:monitoring.coreos.com/v1alpha1:AlertmanagerConfig")


def test_alertmanager_merges_only_labelled_configs_of_project_namespaces(plan: Plan, cfg: PlatformConfig) -> None:
    spec = helm_values(plan, "kube-prometheus-stack")["alertmanager"]["alertmanagerSpec"]
    assert spec["alertmanagerConfigMatcherStrategy"] == {"type": "OnNamespace"}  # a project routes its own only
    assert spec["alertmanagerConfigNamespaceSelector"] == {"matchExpressions": [
        {"key": PROJECT_LABEL, "operator": "Exists"}]}
    namespaces = {r.get("metadata.name"): r for r in k8s_of(plan, "kubernetes:core/v1:Namespace")}
    configs = alert_routes(plan)
    assert {r.get("metadata.namespace") for r in configs} == {p.name for p in cfg.projects}
    for res in configs:
        labels = res.get("metadata.labels")
        assert all(labels.get(k) == v for k, v in spec["alertmanagerConfigSelector"]["matchLabels"].items())
        assert PROJECT_LABEL in namespaces[res.get("metadata.namespace")].get("metadata.labels")


def test_a_projects_drift_alert_starts_its_retrain_and_still_reaches_people(plan: Plan,
                                                                             cfg: PlatformConfig) -> None:
    config = operator_merged(helm_values(plan, "kube-prometheus-stack")["alertmanager"]["config"],
                             alert_routes(plan))
    receivers = {r["name"]: r for r in config["receivers"]}
    for p in cfg.projects:
        got = route_receivers(config["route"], {"alertname": DRIFT_ALERT, "namespace": p.name})
        assert got == [f"{p.name}/drift-retrain/retrain", "platform"]
        hook = receivers[got[0]]["webhook_configs"][0]
        # the EventSource's Service (Argo Events names it <name>-eventsource-svc) on its webhook port
        event_source = next(r for r in custom(plan, "EventSource") if r.get("metadata.namespace") == p.name)
        port = int(event_source.get("spec.service.ports")[0]["port"])
        assert hook["url"] == (f"http://{event_source.get('metadata.name')}-eventsource-svc.{p.name}.svc"
                               f".cluster.local:{port}{contract.DRIFT_EVENT_PATH}")
        assert hook["send_resolved"] is False
        # another alert of the project's namespace does not start a retrain
        assert route_receivers(config["route"], {"alertname": "GpuXidError", "namespace": p.name}) == ["platform"]
    other = route_receivers(config["route"], {"alertname": DRIFT_ALERT, "namespace": "not-a-project"})
    assert other == ["platform"]


def test_retrain_route_waits_the_cool_down(plan: Plan, cfg: PlatformConfig) -> None:
    every = f"{cfg.pipelines.retrain_cooldown_minutes}m"
    routes = [r.get("spec.route") for r in alert_routes(plan)]
    assert routes and all(r["groupInterval"] == every and r["repeatInterval"] == every for r in routes)


def test_the_monitoring_namespace_may_reach_the_event_source(plan: Plan, cfg: PlatformConfig) -> None:
    policies = k8s_of(plan, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
    for p in cfg.projects:
        ingress = [rule for pol in policies if pol.get("metadata.namespace") == p.name
                   for rule in (pol.get("spec.ingress") or [])]
        sources = [f.get("namespaceSelector", {}).get("matchLabels", {}) for rule in ingress
                   for f in rule.get("from", [])]
        assert {"kubernetes.io/metadata.name": "monitoring"} in sources


def test_argo_namespace_is_restricted(plans: Any) -> None:
    ns = next(r for r in k8s_of(plans["dev"], "kubernetes:core/v1:Namespace")
              if r.get("metadata.name") == PIPELINES_NAMESPACE)
    assert ns.get("metadata.labels")["pod-security.kubernetes.io/enforce"] == "restricted"
