"""Monitoring: kube-prometheus-stack with Alertmanager on (alerts to an SNS topic the owners subscribe to,
and Slack when configured), per-environment retention, Grafana admin credentials from a generated secret,
the platform's PrometheusRules, ServiceMonitors and Grafana dashboards."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from mlops_platform.config.rules import RESERVED_NAMESPACES
from mlops_platform.core import iam
from mlops_platform.core.naming import iam_name
from mlops_platform.k8s._helm import helm_release, namespace
from mlops_platform.k8s.alerts import (
    ALERTMANAGER_CONFIG_LABEL,
    AlertThresholds,
    drift_to_platform_route,
    platform_rule_groups,
)
from mlops_platform.k8s.cost_dashboards import FOLDER_ANNOTATION
from mlops_platform.k8s.dashboards import platform_dashboards
from mlops_platform.k8s.manifests import DASHBOARD_LABEL, PLATFORM_LABELS, irsa_annotation, meta
from mlops_platform.k8s.manifests import PROJECT_LABEL as PROJECT_NAMESPACE_LABEL
from mlops_platform.k8s.metric_isolation import monitor_namespace_policy
from mlops_platform.k8s.netpol import MONITORING_NAMESPACE, query_policy, system_fence
from mlops_platform.k8s.provider import k8s_opts
from mlops_platform.k8s.storage import STORAGE_CLASS

RELEASE = "kube-prometheus-stack"
PROMETHEUS_PORT = 9090
FULLNAME = "kps"  # short resource names: kps-prometheus, kps-alertmanager
PROMETHEUS_SERVICE = f"{FULLNAME}-prometheus"
PROMETHEUS_URL = f"http://{PROMETHEUS_SERVICE}.{MONITORING_NAMESPACE}.svc.cluster.local:{PROMETHEUS_PORT}"
ALERTMANAGER_SA = "alertmanager"
GRAFANA_SECRET = "grafana-admin"
SLACK_SECRET = "alertmanager-slack"
#: Host-level agents (node-exporter: host network, host PID, host paths) run here, the only privileged
#: namespace of monitoring, so Grafana, Prometheus and Alertmanager stay under `baseline` admission.
NODE_AGENTS_NAMESPACE = "node-agents"
NODE_EXPORTER_PORT = 9100


@dataclass(frozen=True, kw_only=True)
class MonitoringArgs:
    """Arguments of `Monitoring`."""

    cluster_name: str
    """Names the alert topic and the Alertmanager IAM role. Required."""
    k8s_version: str
    """Kubernetes minor version of the namespace's PSA labels. Required."""
    region: str
    """Region of the alert topic (Alertmanager signs SNS calls with SigV4). Required."""
    retention: str
    """Prometheus retention, e.g. `7d` (resolved per tier by the config). Required."""
    storage_gib: int
    """Size of Prometheus's volume, GiB. Required."""
    alert_emails: tuple[str, ...]
    """Subscribed to the alert topic (each confirms once by email). Required."""
    thresholds: AlertThresholds
    """Thresholds of the platform's alert rules. Required."""
    oidc_provider_arn: pulumi.Input[str]
    """The cluster's IRSA OIDC provider (trust of the Alertmanager role). Required."""
    oidc_issuer_host: pulumi.Input[str]
    """The issuer URL without https:// (IAM condition keys use it). Required."""
    tags: dict[str, str]
    """Tags of the AWS resources. Required."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster. Required."""
    slack_webhook_url: pulumi.Input[str] | None = None
    """Also send alerts to this Slack webhook (pass a secret). Default: none."""
    gpu_namespace: str | None = None
    """Where the DCGM exporter runs, for GPU dashboards and alerts. Default: none (GPU enablement off)."""
    storage_class: str = STORAGE_CLASS
    """StorageClass every claim names (Prometheus, Alertmanager, Grafana). Default: the platform's
    encrypted `gp3-encrypted`."""
    depends_on: tuple[pulumi.Resource, ...] = ()
    """What the stack release waits for: the StorageClass its claims need. Default: nothing."""
    project_routes: bool = False
    """Merge the AlertmanagerConfigs of project namespaces (their drift → retrain webhook, pipelines on) and
    route every drift alert on to the platform receiver after them. Default: False."""
    query_namespaces: tuple[str, ...] = ()
    """Namespaces whose controllers query Prometheus (Flagger's analysis, KEDA's triggers); the namespace's
    NetworkPolicies admit them to its port. Default: none."""


def alertmanager_config(topic_arn: Any, region: str, slack: bool, project_routes: bool = False) -> dict[str, Any]:
    """Everything goes to the platform receiver; the always-firing Watchdog goes nowhere. With
    `project_routes`, projects' AlertmanagerConfig routes come first (the operator puts them there) and the
    drift alert still reaches the platform receiver after them (alerts.drift_to_platform_route)."""
    receiver: dict[str, Any] = {"name": "platform", "sns_configs": [{
        "topic_arn": topic_arn, "sigv4": {"region": region}, "send_resolved": True,
        "subject": "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}"}]}
    if slack:  # the webhook URL is read from a mounted Secret, never from values
        receiver["slack_configs"] = [{"api_url_file": f"/etc/alertmanager/secrets/{SLACK_SECRET}/url",
                                      "send_resolved": True}]
    return {"route": {"receiver": "platform", "group_by": ["alertname", "namespace"], "group_wait": "30s",
                      "group_interval": "5m", "repeat_interval": "4h",
                      "routes": [{"receiver": "null", "matchers": ['alertname = "Watchdog"']},
                                 *([drift_to_platform_route()] if project_routes else [])]},
            "receivers": [receiver, {"name": "null"}]}


#: Control-plane components EKS runs out of reach of in-cluster scrapes: their ServiceMonitors would find
#: no endpoints and KubeControllerManagerDown / KubeSchedulerDown / etcd alerts would fire forever
#: (kube-prometheus-stack 72.6.2 values.yaml enables all three by default).
EKS_HIDDEN_CONTROL_PLANE = ("kubeControllerManager", "kubeScheduler", "kubeEtcd")


def claim(storage_class: str, gib: int) -> dict[str, Any]:
    """A volumeClaimTemplate (Prometheus operator StorageSpec) on the platform's class."""
    return {"volumeClaimTemplate": {"spec": {"storageClassName": storage_class, "accessModes": ["ReadWriteOnce"],
                                             "resources": {"requests": {"storage": f"{gib}Gi"}}}}}


def grafana_values(storage_class: str) -> dict[str, Any]:
    return {
        "enabled": True, "admin": {"existingSecret": GRAFANA_SECRET, "userKey": "admin-user",
                                   "passwordKey": "admin-password"},
        "service": {"type": "ClusterIP"},
        # dashboards, users and annotations survive a pod restart; Recreate so a rollout never waits on
        # the ReadWriteOnce volume still attached to the old pod
        "persistence": {"enabled": True, "storageClassName": storage_class, "size": "10Gi"},
        "deploymentStrategy": {"type": "Recreate"},
        # a ConfigMap annotated grafana_folder=<name> lands in that Grafana folder (each project's cost board)
        "sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "1",
                                   "searchNamespace": MONITORING_NAMESPACE, "folderAnnotation": FOLDER_ANNOTATION,
                                   "provider": {"foldersFromFilesStructure": True}}}}
def project_config_selection() -> dict[str, Any]:
    """alertmanagerSpec fields merging the labelled AlertmanagerConfigs of project namespaces only, each
    confined to its own namespace's alerts (OnNamespace adds the namespace matcher)."""
    key, value = ALERTMANAGER_CONFIG_LABEL
    return {"alertmanagerConfigSelector": {"matchLabels": {key: value}},
            "alertmanagerConfigNamespaceSelector": {"matchExpressions": [
                {"key": PROJECT_NAMESPACE_LABEL, "operator": "Exists"}]},
            "alertmanagerConfigMatcherStrategy": {"type": "OnNamespace"}}


#: prometheus-operator ObjectReference resources that carry a namespace of origin (API reference,
#: `excludedFromEnforcement`): monitors and rules.
MONITORING_KINDS = ("servicemonitors", "podmonitors", "probes", "prometheusrules")


def tenant_enforcement() -> dict[str, Any]:
    """prometheusSpec fields that pin what a project's own monitors and rules can say (its CI Role may create
    ServiceMonitors, PodMonitors and PrometheusRules): every series they scrape and every rule they evaluate
    carries `namespace=<their namespace>` (prometheus-operator `enforcedNamespaceLabel`), so a tenant can
    neither emit series labelled as another project (its cost board, canary analysis or KEDA scaling) nor
    alert on another's. The platform's own monitors and rules live in reserved namespaces and are excluded:
    the kubelet's cAdvisor series, OpenCost's (`honorLabels`) and kube-state-metrics' must keep the
    namespace of the pod they describe."""
    return {"enforcedNamespaceLabel": "namespace", "excludedFromEnforcement": [
        {"group": "monitoring.coreos.com", "resource": kind, "namespace": ns}
        for ns in sorted(RESERVED_NAMESPACES) for kind in MONITORING_KINDS]}


def stack_values(args: MonitoringArgs, topic_arn: Any) -> dict[str, Any]:
    slack = args.slack_webhook_url is not None
    every_namespace = {"ruleSelectorNilUsesHelmValues": False, "serviceMonitorSelectorNilUsesHelmValues": False,
                       "podMonitorSelectorNilUsesHelmValues": False, "ruleNamespaceSelector": {},
                       "serviceMonitorNamespaceSelector": {}, "podMonitorNamespaceSelector": {}}
    return {
        "fullnameOverride": FULLNAME,
        **{component: {"enabled": False} for component in EKS_HIDDEN_CONTROL_PLANE},
        # kube-prometheus-stack's node-exporter subchart honours namespaceOverride (prometheus-node-exporter
        # chart, templates/_helpers.tpl "prometheus-node-exporter.namespace")
        "prometheus-node-exporter": {"namespaceOverride": NODE_AGENTS_NAMESPACE},
        "alertmanager": {
            "enabled": True, "config": alertmanager_config(topic_arn, args.region, slack, args.project_routes),
            "serviceAccount": {"create": True, "name": ALERTMANAGER_SA},
            # silences and notification state survive a restart
            "alertmanagerSpec": {"retention": "120h", "secrets": [SLACK_SECRET] if slack else [],
                                 "storage": claim(args.storage_class, 2),
                                 **(project_config_selection() if args.project_routes else {})}},
        "prometheus": {"prometheusSpec": {
            **every_namespace, **tenant_enforcement(), "retention": args.retention,
            # keep 10% headroom so a full volume never stops ingestion
            "retentionSize": f"{int(args.storage_gib * 0.9)}GB",
            "storageSpec": claim(args.storage_class, args.storage_gib)}},
        "grafana": grafana_values(args.storage_class),
    }


def admin_credentials(password: pulumi.Output[str]) -> dict[str, pulumi.Input[str]]:
    return {"admin-user": "admin", "admin-password": password}


def email_slug(email: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", email.lower()).strip("-")


class Monitoring(pulumi.ComponentResource):
    """kube-prometheus-stack plus the platform's rules, ServiceMonitors and dashboards."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:Monitoring", name, None, opts)
        # baseline: no host namespaces or privileged containers; node-exporter lives in NODE_AGENTS_NAMESPACE
        fence = system_fence((10250,))  # prometheus-operator admission webhook
        if args.query_namespaces:
            fence.append(query_policy(args.query_namespaces, PROMETHEUS_PORT))
        ns = namespace(f"{name}-ns", MONITORING_NAMESPACE, "baseline", args.k8s_version,
                       k8s_opts(self, args.provider), policies=fence)
        agents = namespace(f"{name}-node-agents-ns", NODE_AGENTS_NAMESPACE, "privileged", args.k8s_version,
                           k8s_opts(self, args.provider), open_ports=(NODE_EXPORTER_PORT,))
        inside = k8s_opts(self, args.provider, [ns])
        self.alerts_topic = self._alert_topic(name, args)
        secrets = self._secrets(name, args, inside)
        values = stack_values(args, self.alerts_topic.arn)
        values["alertmanager"]["serviceAccount"]["annotations"] = irsa_annotation(self._alertmanager_role(name, args))
        self.release = helm_release(f"{name}-stack", "kube-prometheus-stack", RELEASE, MONITORING_NAMESPACE,
                                    values, k8s_opts(self, args.provider, [ns, agents, *secrets, *args.depends_on]))
        after_crds = k8s_opts(self, args.provider, [self.release])
        self._rules(name, args, after_crds)
        self._service_monitors(name, args, after_crds)
        # projects' monitors scrape their own namespace only (the platform's live in reserved namespaces)
        monitor_namespace_policy(name, self, args.provider)
        for cm_name, board in platform_dashboards().items():
            k8s.core.v1.ConfigMap(f"{name}-{cm_name}",
                                  metadata=meta(cm_name, MONITORING_NAMESPACE, {**PLATFORM_LABELS, **DASHBOARD_LABEL}),
                                  data={f"{board['uid']}.json": json.dumps(board, sort_keys=True)}, opts=inside)
        self.prometheus_url = PROMETHEUS_URL
        self.register_outputs({"prometheus_url": PROMETHEUS_URL, "alerts_topic_arn": self.alerts_topic.arn})

    def _alert_topic(self, name: str, args: MonitoringArgs) -> aws.sns.Topic:
        topic = aws.sns.Topic(f"{name}-alerts", name=f"{args.cluster_name}-alerts", kms_master_key_id="alias/aws/sns",
                              tags=args.tags, opts=pulumi.ResourceOptions(parent=self))
        for email in args.alert_emails:  # owners confirm the subscription once by email
            aws.sns.TopicSubscription(f"{name}-alerts-{email_slug(email)}", topic=topic.arn, protocol="email",
                                      endpoint=email, opts=pulumi.ResourceOptions(parent=self))
        return topic

    def _alertmanager_role(self, name: str, args: MonitoringArgs) -> pulumi.Output[str]:
        trust = iam.irsa_trust(args.oidc_provider_arn, args.oidc_issuer_host, MONITORING_NAMESPACE, ALERTMANAGER_SA)
        role = aws.iam.Role(f"{name}-alertmanager-role", name=iam_name(args.cluster_name, "alertmanager"),
                            assume_role_policy=iam.to_json(trust), tags=args.tags,
                            opts=pulumi.ResourceOptions(parent=self))
        aws.iam.RolePolicy(f"{name}-alertmanager-policy", role=role.id,
                           policy=iam.to_json(iam.document(iam.sns_publish([self.alerts_topic.arn]))),
                           opts=pulumi.ResourceOptions(parent=self))
        return role.arn

    def _secrets(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
        password = random.RandomPassword(f"{name}-grafana-password", length=32, special=False,
                                         opts=pulumi.ResourceOptions(parent=self))
        out: list[pulumi.Resource] = [k8s.core.v1.Secret(
            f"{name}-grafana-admin", metadata=meta(GRAFANA_SECRET, MONITORING_NAMESPACE, PLATFORM_LABELS),
            type="Opaque", string_data=admin_credentials(password.result), opts=opts)]
        if args.slack_webhook_url is not None:
            out.append(k8s.core.v1.Secret(
                f"{name}-slack", metadata=meta(SLACK_SECRET, MONITORING_NAMESPACE, PLATFORM_LABELS), type="Opaque",
                string_data={"url": pulumi.Output.secret(args.slack_webhook_url)}, opts=opts))
        return out

    def _rules(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions) -> None:
        for group, rules in platform_rule_groups(args.thresholds).items():
            k8s.apiextensions.CustomResource(
                f"{name}-rules-{group}", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
                metadata=meta(f"mlops-{group}", MONITORING_NAMESPACE, PLATFORM_LABELS),
                spec={"groups": [{"name": f"mlops.{group}", "rules": rules}]}, opts=opts)

    def _service_monitors(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions) -> None:
        monitors = {"model-serving": service_monitor_spec({"mlops.io/scrape": "serving"}, "http", None)}
        if args.gpu_namespace:
            # honorLabels: dcgm-exporter labels each GPU's series with the `namespace`/`pod` of the pod using
            # it; without it Prometheus renames those to exported_* and puts the exporter's own pod there
            # (Prometheus docs, scrape_config `honor_labels`), so a project's GPU series would not carry its
            # namespace. The monitor lives in a reserved namespace, so namespace enforcement leaves it alone.
            monitors["dcgm-exporter"] = service_monitor_spec({"app.kubernetes.io/name": "dcgm-exporter"},
                                                             "metrics", args.gpu_namespace, honor_labels=True)
        for sm_name, spec in monitors.items():
            k8s.apiextensions.CustomResource(
                f"{name}-sm-{sm_name}", api_version="monitoring.coreos.com/v1", kind="ServiceMonitor",
                metadata=meta(sm_name, MONITORING_NAMESPACE, PLATFORM_LABELS), spec=spec, opts=opts)


def service_monitor_spec(match_labels: dict[str, str], port: str, namespace_: str | None,
                         interval: str = "30s", *, honor_labels: bool = False) -> dict[str, Any]:
    """Scrape `port` of Services matching the labels, in one namespace or (None) in any namespace;
    `honor_labels` keeps the labels the target exports over the target's own (for exporters describing
    other pods)."""
    ns_selector: dict[str, Any] = {"matchNames": [namespace_]} if namespace_ else {"any": True}
    endpoint: dict[str, Any] = {"port": port, "path": "/metrics", "interval": interval}
    if honor_labels:
        endpoint["honorLabels"] = True
    return {"selector": {"matchLabels": dict(match_labels)}, "namespaceSelector": ns_selector,
            "endpoints": [endpoint]}
