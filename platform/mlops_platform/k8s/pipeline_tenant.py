"""A project's share of the in-cluster pipelines (see k8s/pipelines.py): the ServiceAccount its pipeline
steps run as (own IRSA role: its S3 prefixes, its ECR repository, the bucket key), namespaced rights to
run and submit Workflows in its own namespace only, and the drift → retrain path: an event bus, a webhook
EventSource Alertmanager posts the project's drift alert to, and a Sensor that starts the project's
`contract.PIPELINE_TEMPLATE` with `trigger=drift`.

The route from the drift alert to the webhook is the project's own AlertmanagerConfig in its namespace
(the Prometheus Operator merges it, confined to the namespace's alerts), so onboarding a project never
changes the cluster layer. A flapping alert cannot start a storm: Alertmanager repeats a firing group only
after the cool-down (alerts.retrain_alertmanager_config), the Sensor's trigger is rate limited, and the
shipped WorkflowTemplate holds a mutex so at most one pipeline of the project runs at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from mlops_platform.aws.project_identity import workload_role
from mlops_platform.core import contract, iam
from mlops_platform.k8s.alerts import ALERTMANAGER_CONFIG_LABEL, retrain_alertmanager_config
from mlops_platform.k8s.deploy_rights import grant, group_subject
from mlops_platform.k8s.manifests import Manifest, container_security_context, meta, pod_security_context, resources
from mlops_platform.k8s.pipelines import JETSTREAM_VERSION
from mlops_platform.k8s.provider import k8s_opts

ARGO_API = "argoproj.io/v1alpha1"
EVENT_BUS = "default"
SENSOR_SA_SUFFIX = "retrain-sensor"
#: Argo Events needs at least 3 JetStream replicas (raft quorum); each is small.
EVENT_BUS_REPLICAS = 3


@dataclass(frozen=True, kw_only=True)
class ProjectPipelinesArgs:
    """Arguments of `ProjectPipelines`."""

    project: str
    """Project slug (labels, names). Required."""
    namespace: str
    """The project's namespace, where everything here lives. Required."""
    service_account: str
    """Name of the pipeline ServiceAccount. Required."""
    role_name: str
    """IAM name of the pipeline's IRSA role. Required."""
    policy: iam.Doc
    """Inline policy of that role (the project's workload policy). Required."""
    oidc_provider_arn: pulumi.Input[str]
    """The cluster's IRSA OIDC provider. Required."""
    oidc_issuer_host: pulumi.Input[str]
    """Issuer host of that provider (trust condition keys). Required."""
    submitters_group: str
    """Kubernetes group of the project's CI role (its access entry): may submit and watch Workflows. Required."""
    cooldown_minutes: int = 60
    """Minimum minutes between two drift-triggered pipelines. Default: 60."""
    alert_route: bool = True
    """Route the project's drift alert to its EventSource with an AlertmanagerConfig (monitoring on).
    Default: True."""
    tags: dict[str, str]
    """AWS tags of the role. Required."""
    labels: dict[str, str]
    """Kubernetes labels of every object. Required."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster. Required."""
    depends_on: tuple[pulumi.Resource, ...] = ()
    """What must exist first (the namespace). Default: none."""


def _rule(resources_: list[str], verbs: list[str], group: str = "argoproj.io") -> Manifest:
    return {"apiGroups": [group], "resources": resources_, "verbs": verbs}


def executor_rules() -> list[Manifest]:
    """What a pipeline pod's executor needs: report step results (Argo Workflows >= 3.4) and, for the
    `ray` training backend, run the training RayJob as a resource step."""
    return [_rule(["workflowtaskresults"], ["create", "patch"]),
            _rule(["rayjobs"], ["create", "get", "list", "watch", "patch", "delete"], group="ray.io")]


def sensor_rules() -> list[Manifest]:
    """The drift Sensor starts Workflows from the project's templates in its own namespace."""
    return [_rule(["workflows"], ["create", "get", "list", "watch"]),
            _rule(["workflowtemplates"], ["get", "list", "watch"])]


def submitter_rules() -> list[Manifest]:
    """CI: deploy the WorkflowTemplate/CronWorkflow, submit, watch, read step logs; no pods/exec."""
    return [_rule(["workflows"], ["create", "get", "list", "watch", "delete"]),
            _rule(["workflowtemplates", "cronworkflows"], ["create", "get", "list", "watch", "update", "patch",
                                                            "delete"]),
            _rule(["pods", "pods/log"], ["get", "list", "watch"], group="")]


def rate_limit(cooldown_minutes: int) -> Manifest:
    """The Sensor trigger's rate limit nearest to the cool-down (Argo Events counts per Second/Minute/Hour)."""
    if cooldown_minutes >= 60:
        return {"unit": "Hour", "requestsPerUnit": 1}
    return {"unit": "Hour", "requestsPerUnit": max(1, 60 // cooldown_minutes)}


def _pod_template(service_account: str | None = None) -> Manifest:
    template: Manifest = {"securityContext": pod_security_context(),
                          "container": {"securityContext": container_security_context(),
                                        "resources": resources("50m", "64Mi", memory_limit="128Mi")}}
    if service_account:
        template["serviceAccountName"] = service_account
    return template


def event_bus_spec() -> Manifest:
    small = {"securityContext": container_security_context(), "resources": resources("50m", "64Mi")}
    return {"jetstream": {"version": JETSTREAM_VERSION, "replicas": EVENT_BUS_REPLICAS,
                          "securityContext": pod_security_context(),
                          "containerTemplate": {**small, "resources": resources("100m", "256Mi")},
                          "reloaderContainerTemplate": small, "metricsContainerTemplate": small,
                          "persistence": {"volumeSize": "1Gi"}}}


def event_source_spec(namespace: str) -> Manifest:
    """A webhook Alertmanager posts to (cluster-local: the namespace fence admits only platform namespaces)."""
    url = contract.drift_webhook_url(namespace).removesuffix(contract.DRIFT_EVENT_PATH)
    return {"eventBusName": EVENT_BUS, "template": _pod_template(),
            "service": {"ports": [{"port": contract.DRIFT_EVENT_PORT,
                                   "targetPort": contract.DRIFT_EVENT_PORT}]},
            "webhook": {contract.DRIFT_EVENT_SOURCE: {"port": str(contract.DRIFT_EVENT_PORT),
                                                      "endpoint": contract.DRIFT_EVENT_PATH, "method": "POST",
                                                      "url": url}}}


def retrain_workflow(namespace: str) -> Manifest:
    """The Workflow the Sensor creates: the project's own template, told it was started by drift."""
    return {"apiVersion": ARGO_API, "kind": "Workflow",
            "metadata": {"generateName": f"{contract.PIPELINE_TEMPLATE}-drift-", "namespace": namespace,
                         "labels": {"mlops.io/trigger": "drift"}},
            "spec": {"workflowTemplateRef": {"name": contract.PIPELINE_TEMPLATE},
                     "arguments": {"parameters": [{"name": "trigger", "value": "drift"}]}}}


def sensor_spec(namespace: str, service_account: str, cooldown_minutes: int) -> Manifest:
    """Only firing alerts start a retrain (Alertmanager also posts `resolved`)."""
    dependency = {"name": "drift", "eventSourceName": contract.DRIFT_EVENT_SOURCE,
                  "eventName": contract.DRIFT_EVENT_SOURCE,
                  "filters": {"data": [{"path": "body.status", "type": "string", "value": ["firing"]}]}}
    trigger = {"template": {"name": "retrain", "argoWorkflow": {
        "operation": "submit", "source": {"resource": retrain_workflow(namespace)}}},
        "rateLimit": rate_limit(cooldown_minutes), "retryStrategy": {"steps": 3}}
    return {"eventBusName": EVENT_BUS, "template": _pod_template(service_account),
            "dependencies": [dependency], "triggers": [trigger]}


class ProjectPipelines(pulumi.ComponentResource):
    """Pipeline identity, namespaced rights and the drift → retrain trigger of one project."""

    def __init__(self, name: str, args: ProjectPipelinesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:ProjectPipelines", name, None, opts)
        self._args = args
        inside = k8s_opts(self, args.provider, list(args.depends_on))
        self.role = self._identity(name, inside)
        sensor_sa = f"{args.project}-{SENSOR_SA_SUFFIX}"
        k8s.core.v1.ServiceAccount(f"{name}-sensor-sa", metadata=meta(sensor_sa, args.namespace, args.labels),
                                   opts=inside)
        self._grant(f"{name}-executor", f"{args.project}-pipeline-executor", executor_rules(),
                    {"kind": "ServiceAccount", "name": args.service_account, "namespace": args.namespace}, inside)
        self._grant(f"{name}-sensor", f"{args.project}-retrain-sensor", sensor_rules(),
                    {"kind": "ServiceAccount", "name": sensor_sa, "namespace": args.namespace}, inside)
        self._grant(f"{name}-submit", f"{args.project}-pipeline-submitter", submitter_rules(),
                    group_subject(args.submitters_group), inside)
        bus = self._custom(f"{name}-eventbus", "EventBus", EVENT_BUS, event_bus_spec(), inside)
        after_bus = k8s_opts(self, args.provider, [*args.depends_on, bus])
        self._custom(f"{name}-eventsource", "EventSource", contract.DRIFT_EVENT_SOURCE,
                     event_source_spec(args.namespace), after_bus)
        self._custom(f"{name}-sensor", "Sensor", "retrain",
                     sensor_spec(args.namespace, sensor_sa, args.cooldown_minutes), after_bus)
        if args.alert_route:
            key, value = ALERTMANAGER_CONFIG_LABEL
            k8s.apiextensions.CustomResource(
                f"{name}-alert-route", api_version="monitoring.coreos.com/v1alpha1", kind="AlertmanagerConfig",
                metadata=meta("drift-retrain", args.namespace, {**args.labels, key: value}),
                spec=retrain_alertmanager_config(args.namespace, args.cooldown_minutes), opts=inside)
        self.register_outputs({"role_arn": self.role.arn, "service_account": args.service_account})

    def _identity(self, name: str, opts: pulumi.ResourceOptions) -> aws.iam.Role:
        a = self._args
        trust = iam.irsa_trust(a.oidc_provider_arn, a.oidc_issuer_host, a.namespace, a.service_account)
        role = workload_role(name, role_name=a.role_name, trust=trust, policy=a.policy, tags=a.tags, parent=self)
        k8s.core.v1.ServiceAccount(f"{name}-sa", metadata=meta(a.service_account, a.namespace, a.labels,
                                                                {"eks.amazonaws.com/role-arn": role.arn}),
                                   automount_service_account_token=False, opts=opts)
        return role

    def _grant(self, name: str, role_name: str, rules: list[Manifest], subject: Manifest,
               opts: pulumi.ResourceOptions) -> None:
        grant(name, role_name=role_name, namespace=self._args.namespace, labels=self._args.labels, rules=rules,
              subject=subject, opts=opts)

    def _custom(self, name: str, kind: str, obj_name: str, spec: Manifest,
                opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        a = self._args
        return k8s.apiextensions.CustomResource(name, api_version=ARGO_API, kind=kind,
                                                metadata=meta(obj_name, a.namespace, a.labels), spec=spec,
                                                opts=opts)

