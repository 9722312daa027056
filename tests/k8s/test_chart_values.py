"""Every value the platform sets on a Helm chart exists in that chart version's upstream values.yaml.

Helm ignores unknown values silently, so a renamed or misspelt key is a setting that never happens. The
upstream keys are recorded under tests/fixtures/upstream/values (README there names each file's repo, tag
and path). Exceptions are listed below, each with the reason the chart accepts keys its values.yaml does
not spell out.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import jsonschema
import pytest
from mlops_platform.config import PlatformConfig, shipped_envs
from mlops_platform.core.versions import CHARTS, VERSION_MATRIX, autoscaler_chart
from mlops_platform.engine import Plan, Resource
from mlops_platform.k8s.gpu import GpuEnablementArgs, autoscaler_values
from mlops_platform.k8s.training import DELETED_DEFAULTS

from .planview import layer_resources
from .upstream import VALUES_DIR, admits, all_paths, chart_basename, unknown_values, upstream_values

RELEASE = "kubernetes:helm.sh/v3:Release"
K8S_OBJECT = "a Kubernetes API object the chart renders verbatim with toYaml; its schema is Kubernetes'"
SA_ANNOTATIONS = "ServiceAccount annotations, a free-form map (the IRSA role ARN)"

#: chart → dotted path → why anything below that path is accepted.
FREE_FORM: dict[str, dict[str, str]] = {
    "cluster-autoscaler": {
        "extraArgs": "templates/deployment.yaml renders every key as a `--key=value` flag of the binary "
                     "(flags: cluster-autoscaler FAQ 'What are the parameters to CA?')",
        "rbac.serviceAccount.annotations": SA_ANNOTATIONS,
        "resources": K8S_OBJECT, "containerSecurityContext": K8S_OBJECT,
    },
    "dcgm-exporter": {"resources": K8S_OBJECT, "affinity": K8S_OBJECT},
    # eks-charts aws-efa-k8s-device-plugin v0.5.30 templates/daemonset.yaml renders both with toYaml
    "aws-efa-k8s-device-plugin": {"nodeSelector": "a node selector (label → value), rendered verbatim",
                                  "resources": K8S_OBJECT},
    # nvidia-device-plugin 0.17.1 values.yaml: `config.map: {}` "Set of named configs to build an integrated
    # ConfigMap from" (templates/configmap.yaml writes each key as one config file; nodes pick one with the
    # nvidia.com/device-plugin.config label)
    "nvidia-device-plugin": {"affinity": K8S_OBJECT,
                             "config.map": "named device-plugin config files (values.yaml config.map)"},
    "kuberay-operator": {"resources": K8S_OBJECT, "securityContext": K8S_OBJECT},
    "kube-prometheus-stack": {
        "alertmanager.config": "the Alertmanager configuration file, rendered whole into its Secret",
        "alertmanager.serviceAccount.annotations": SA_ANNOTATIONS,
        "alertmanager.alertmanagerSpec.storage": "a prometheus-operator StorageSpec (volumeClaimTemplate)",
        "prometheus.prometheusSpec.storageSpec": "a prometheus-operator StorageSpec (volumeClaimTemplate)",
        # grafana 9.0.0 values.yaml documents it as a comment (`# storageClassName: default`);
        # templates/pvc.yaml reads `.Values.persistence.storageClassName`.
        "grafana.persistence.storageClassName": "documented in values.yaml as a comment, read by templates/pvc.yaml",
        # templates/alertmanager/alertmanager.yaml renders these prometheus-operator Alertmanager spec fields
        # verbatim (a LabelSelector each, and the matcher strategy object)
        "alertmanager.alertmanagerSpec.alertmanagerConfigSelector": K8S_OBJECT,
        "alertmanager.alertmanagerSpec.alertmanagerConfigNamespaceSelector": K8S_OBJECT,
        "alertmanager.alertmanagerSpec.alertmanagerConfigMatcherStrategy": "the operator's AlertmanagerConfig "
                                                                           "matcher strategy object ({type})",
    },
    # argo-helm argo-workflows 1.0.18: templates/controller/workflow-controller-deployment.yaml and
    # workflow-controller-config-map.yaml render these with toYaml
    "argo-workflows": {
        "controller.resources": K8S_OBJECT, "controller.securityContext": K8S_OBJECT,
        "controller.podSecurityContext": K8S_OBJECT, "executor.securityContext": K8S_OBJECT,
        "executor.resources": K8S_OBJECT,
        "controller.workflowDefaults": "a Workflow the controller merges into every workflow (its config map)",
        "controller.workflowRestrictions": "the controller config's workflowRestrictions block, verbatim",
    },
    # eks-charts aws-load-balancer-controller 3.5.0: templates/serviceaccount.yaml renders the annotations map
    "aws-load-balancer-controller": {"serviceAccount.annotations": SA_ANNOTATIONS},
    # karpenter 1.14.1 charts/karpenter/templates/deployment.yaml renders both with toYaml
    "karpenter": {"controller.resources": K8S_OBJECT,
                  "nodeSelector": "a node selector (label → value), rendered verbatim; values.yaml sets one label"},
    # argo-helm argo-events 2.4.22: templates/argo-events-controller/deployment.yaml
    "argo-events": {"controller.resources": K8S_OBJECT, "controller.containerSecurityContext": K8S_OBJECT,
                    "global.securityContext": K8S_OBJECT},
    # opencost 2.5.17 templates/deployment.yaml renders both with toYaml (values.yaml defaults them to {})
    "opencost": {"podSecurityContext": K8S_OBJECT, "opencost.exporter.securityContext": K8S_OBJECT},
    # fluxcd/flagger v1.44.0 charts/flagger/templates/deployment.yaml: `toYaml .Values.securityContext.context`
    "flagger": {"securityContext.context": K8S_OBJECT},
}


def releases(plan: Plan) -> list[Resource]:
    return [r for r in layer_resources(plan) if r.type == RELEASE]


def problems_of(plan: Plan) -> list[str]:
    out: list[str] = []
    for rel in releases(plan):
        upstream = upstream_values(rel.get("chart"), rel.get("version"))
        free = FREE_FORM.get(chart_basename(rel.get("chart")), {})
        out += [f"{rel.name}: {p}" for p in unknown_values(rel.get("values") or {}, upstream, free)]
    return out


def test_every_value_the_platform_sets_exists_upstream(plan: Plan) -> None:
    assert releases(plan), "the in-cluster layer installs charts"
    assert problems_of(plan) == []


def test_every_free_form_exception_is_needed(plans: dict[str, Plan], karpenter_plan: Plan) -> None:
    """An exception no release uses any more is removed, so the list never hides a future typo."""
    used: set[tuple[str, str]] = set()
    for plan in [*(plans[env] for env in shipped_envs()), karpenter_plan]:
        for rel in releases(plan):
            chart = chart_basename(rel.get("chart"))
            paths = all_paths(rel.get("values") or {})
            used |= {(chart, path) for path in FREE_FORM.get(chart, {}) if path in paths}
    declared = {(chart, path) for chart, paths in FREE_FORM.items() for path in paths}
    assert declared - used == set()


def test_unknown_keys_and_type_mismatches_are_reported() -> None:
    kps = upstream_values("kube-prometheus-stack", CHARTS["kube-prometheus-stack"].version)
    values = {"prometheus": {"prometheusSpec": {"retentionn": "1d", "retention": "1d"}},
              "fullnameOverride": {"not": "a scalar"}, "alertmanager": {"config": {"anything": 1}}}
    assert unknown_values(values, kps, {"alertmanager.config": "free"}) == [
        "fullnameOverride: kube-prometheus-stack 72.6.2 declares a scalar, not a map",
        "prometheus.prometheusSpec.retentionn: not a value of kube-prometheus-stack 72.6.2",
    ]


def test_subchart_values_are_checked_against_the_subchart() -> None:
    kps = upstream_values("kube-prometheus-stack", CHARTS["kube-prometheus-stack"].version)
    assert "grafana.sidecar.dashboards.searchNamespace" in kps.keys  # from grafana 9.0.0
    assert unknown_values({"grafana": {"sidecar": {"dashbords": {}}}}, kps, {}) == [
        "grafana.sidecar.dashbords: not a value of kube-prometheus-stack 72.6.2"]


@pytest.mark.parametrize("chart", [*CHARTS.values(), *(autoscaler_chart(v) for v in VERSION_MATRIX)],
                         ids=lambda c: f"{chart_basename(c.chart)}-{c.version}")
def test_every_pinned_chart_has_its_upstream_fixture(chart: object) -> None:
    """A version bump without recording that version's values fails here, not on a cluster."""
    name, version = chart_basename(chart.chart), chart.version  # type: ignore[attr-defined]
    recorded = upstream_values(name, version)
    assert (recorded.chart, recorded.version) == (name, version)
    assert recorded.source["repo"] and recorded.source["commit"]
    assert recorded.keys or name == "kserve-crd"  # kserve-crd's values.yaml is empty upstream


def test_every_chart_admits_the_kubernetes_versions_it_is_installed_on(plan: Plan, cfg: PlatformConfig) -> None:
    """Chart.yaml `kubeVersion` (kube-prometheus-stack 72.6.2 `>=1.19.0-0`, grafana 9.0.0 `^1.8.0-0`,
    cert-manager v1.17.2 `>= 1.22.0-0`, ...): Helm refuses to install a chart on a cluster outside it."""
    for rel in releases(plan):
        upstream = upstream_values(rel.get("chart"), rel.get("version"))
        assert all(admits(c, cfg.cluster.version) for c in upstream.kube_versions), (rel.name, upstream.kube_versions)


def test_kube_version_constraints_are_read_as_helm_does() -> None:
    assert admits(">=1.19.0-0", "1.35") and admits("^1.8.0-0", "1.35") and admits(">= 1.22.0-0", "1.31")
    assert not admits(">=1.36.0-0", "1.35") and not admits(">=1.16.0-0 <1.33.0-0", "1.33")
    assert admits(">=1.16.0-0, <1.34.0-0", "1.33") and not admits("^2.0.0", "1.35")


def test_values_pass_the_charts_own_schema(plan: Plan) -> None:
    """Charts that ship values.schema.json (cert-manager v1.17.2) make Helm reject values outside it at install;
    the schema is recorded under values/schemas/ and checked here, before any cluster sees it."""
    checked = 0
    for rel in releases(plan):
        path = VALUES_DIR / "schemas" / f"{chart_basename(rel.get('chart'))}-{rel.get('version')}.json"
        if path.is_file():
            validator = jsonschema.validators.validator_for(schema := json.loads(path.read_text()))(schema)
            assert [e.message for e in validator.iter_errors(rel.get("values") or {})] == [], rel.name
            assert list(validator.iter_errors({"crds": {"enabld": True}})), "the schema rejects unknown keys"
            checked += 1
    assert checked == 1


def test_fixture_files_are_all_in_use() -> None:
    pinned = {f"{chart_basename(c.chart)}-{c.version}.json"
              for c in [*CHARTS.values(), *(autoscaler_chart(v) for v in VERSION_MATRIX)]}
    subcharts = {f"{sub}.json" for path in VALUES_DIR.glob("*.json")
                 for sub in json.loads(path.read_text()).get("subcharts", {}).values()}
    assert {p.name for p in VALUES_DIR.glob("*.json")} == pinned | subcharts


def test_kuberay_deletes_the_cpu_limit_default(plans: dict[str, Plan]) -> None:
    """kuberay-operator 1.4.2 values.yaml: `resources.limits.cpu: 100m`; Helm merges user values into it, so
    only `null` (in a values file: the Python SDK drops None, pulumi/pulumi#12178) removes it."""
    upstream = upstream_values("kuberay-operator", CHARTS["kuberay-operator"].version)
    assert all(upstream.keys.get(path) == "scalar" for path in DELETED_DEFAULTS)
    rel = next(r for r in releases(plans["dev"]) if r.get("chart") == "kuberay-operator")
    files = [json.loads(f["text"]) for f in rel.get("valueYamlFiles")]
    assert files == [{"resources": {"limits": {"cpu": None}}}]
    assert "cpu" not in (rel.get("values.resources.limits") or {})


def test_the_kubernetes_provider_keeps_nulls_of_values_files() -> None:
    """pulumi-kubernetes#4293 (first in 4.30): before it, the provider dropped `null` from `valueYamlFiles`
    too, so the KubeRay default above would silently stay."""
    deps = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    (spec,) = [d for d in deps["dependencies"] if d.startswith("pulumi-kubernetes")]
    low = re.search(r">=\s*(\d+)\.(\d+)", spec)
    assert low is not None and (int(low.group(1)), int(low.group(2))) >= (4, 30), spec


@pytest.mark.parametrize("minor", list(VERSION_MATRIX))
def test_autoscaler_values_exist_in_the_chart_of_every_matrix_row(minor: str) -> None:
    """Shipped environments all run one minor; every other row's chart must take the same values."""
    args = GpuEnablementArgs(cluster_name="mlops-dev", k8s_version=minor, region="us-east-1",
                             account_id="210987654321", oidc_provider_arn="arn:oidc", oidc_issuer_host="oidc.example",
                             tags={}, provider=None, monitoring_namespace="monitoring")  # type: ignore[arg-type]
    chart = autoscaler_chart(minor)
    values = autoscaler_values(args, "arn:aws:iam::210987654321:role/ca")
    assert unknown_values(values, upstream_values(chart.chart, chart.version), FREE_FORM["cluster-autoscaler"]) == []
