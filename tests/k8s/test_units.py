"""Layer 1: pure builders of the in-cluster layer, tested with no engine."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlops_platform.config.sections import ProjectConfig
from mlops_platform.core import contract, iam
from mlops_platform.core.naming import IAM_NAME_MAX, iam_name
from mlops_platform.core.versions import CHARTS, MIRRORED_IMAGES
from mlops_platform.k8s import alerts, dashboards, manifests, mlflow_boot, netpol
from mlops_platform.k8s.gpu import dcgm_values, device_plugin_values
from mlops_platform.k8s.monitoring import alertmanager_config, email_slug
from mlops_platform.k8s.provider import kubeconfig
from mlops_platform.k8s.serving_args import image_is_pinned
from mlops_platform.k8s.tenancy import limit_range_spec, quota_spec
from mlops_platform.k8s.tracking import allowed_hosts, boot_environment, deployment_spec

TEMPLATE_SRC = Path(__file__).resolve().parents[2] / "templates" / "ml-project" / "src"
GPU_TOLERATION = {"key": contract.GPU_TAINT_KEY, "operator": "Exists", "effect": contract.GPU_TAINT_EFFECT}


def project(**kw: object) -> ProjectConfig:
    return ProjectConfig.model_validate({"name": "fraud", "owners": ["a@example.com"],
                                         "github_repo": "org/fraud", **kw})


# ---------------------------------------------------------------- versions
def test_every_chart_and_image_is_pinned_never_latest() -> None:
    for key, chart in CHARTS.items():
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", chart.version), (key, chart.version)
        assert chart.repository.startswith("https://") or chart.chart.startswith("oci://"), key
    for key, image in MIRRORED_IMAGES.items():
        assert image_is_pinned(f"{image.source}:{image.tag}") and image.repository.startswith("mirror/"), key


# ---------------------------------------------------------------- manifests
def test_namespace_labels_enforce_audit_and_warn_at_one_pinned_level() -> None:
    labels = manifests.namespace_labels("restricted", "1.34", {"mlops.io/project": "fraud"})
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.34"
    assert labels["mlops.io/project"] == "fraud"
    with pytest.raises(ValueError, match=r"'strict'.*privileged, baseline, restricted"):
        manifests.namespace_labels("strict", "1.34")


def test_container_security_context_is_restricted() -> None:
    ctx = manifests.container_security_context()
    assert ctx["allowPrivilegeEscalation"] is False and ctx["readOnlyRootFilesystem"] is True
    assert ctx["capabilities"] == {"drop": ["ALL"]} and ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    pod = manifests.pod_security_context()
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0


def test_gpus_are_limits_and_placement_tolerates_the_taint_and_selects_the_pool() -> None:
    res = manifests.resources("1", "4Gi", gpus=2)
    assert res["limits"][contract.GPU_RESOURCE] == "2" and contract.GPU_RESOURCE not in res["requests"]
    assert manifests.gpu_placement(None, "a10g") == {"tolerations": [GPU_TOLERATION],
                                                     "nodeSelector": {contract.POOL_LABEL: "a10g"}}
    assert manifests.gpu_placement("l4", None)["nodeSelector"] == {contract.GPU_TYPE_LABEL: "l4"}
    assert "nodeSelector" not in manifests.gpu_placement(None, None)


def test_gpu_daemonsets_run_on_gpu_nodes_only() -> None:
    for values in (device_plugin_values(), dcgm_values()):
        assert GPU_TOLERATION in values["tolerations"]
        term = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        (only,) = term["nodeSelectorTerms"]
        # GPU nodes only; the second expression lets mig-manager pause them (tests/k8s/test_gpu_devices.py)
        gpu_nodes, paused = only["matchExpressions"]
        assert gpu_nodes == {"key": contract.GPU_TYPE_LABEL, "operator": "Exists"}
        assert paused["operator"] == "NotIn" and paused["values"] == ["paused-for-mig-change"]


def test_kubeconfig_authenticates_with_aws_eks_get_token() -> None:
    doc = json.loads(kubeconfig("mlops-dev", "https://x.eks.amazonaws.com", "Q0E=", "us-east-1"))
    exec_ = doc["users"][0]["user"]["exec"]
    assert exec_["command"] == "aws"
    assert exec_["args"][:4] == ["eks", "get-token", "--cluster-name", "mlops-dev"]
    assert "token" not in doc["users"][0]["user"]  # no static credential
    assert doc["clusters"][0]["cluster"]["certificate-authority-data"] == "Q0E="


# ---------------------------------------------------------------- names
@given(st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,62}", fullmatch=True), min_size=1, max_size=4))
def test_iam_names_fit_and_stay_distinct(parts: list[str]) -> None:
    name = iam_name(*parts)
    assert len(name) <= IAM_NAME_MAX
    assert name == iam_name(*parts)  # stable
    if len("-".join(parts)) > IAM_NAME_MAX:
        assert name != iam_name(*parts[:-1], parts[-1] + "x")


# ---------------------------------------------------------------- tenancy
def test_quota_caps_gpus_cpu_memory_and_forbids_load_balancers() -> None:
    hard = quota_spec(project(gpu_quota=2, cpu_quota=8, memory_quota_gib=32))["hard"]
    assert hard == {"requests.cpu": "8", "requests.memory": "32Gi", "limits.memory": "32Gi",
                    "requests.nvidia.com/gpu": "2", "services.loadbalancers": "0", "services.nodeports": "0"}
    limits = limit_range_spec(project(cpu_quota=8))["limits"][0]
    assert limits["type"] == "Container" and limits["max"]["cpu"] == "8" and limits["defaultRequest"]


def test_project_network_policies_deny_by_default_then_allow_dns_and_platform() -> None:
    peers = netpol.PlatformPeers(("envoy-gateway-system", "kserve"), "monitoring", "mlflow")
    policies = {p["name"]: p["spec"] for p in netpol.project_policies(peers)}
    assert next(iter(policies)) == "default-deny"
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = policies["allow-dns"]["egress"][0]
    assert dns["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    sources = [f["namespaceSelector"]["matchLabels"][netpol.NS_NAME_LABEL]
               for f in policies["allow-from-platform"]["ingress"][0]["from"]]
    assert sources == ["envoy-gateway-system", "kserve", "monitoring"]
    https = policies["allow-https-egress"]["egress"][0]["to"][0]["ipBlock"]
    assert netpol.IMDS_CIDR in https["except"]


def test_without_platform_components_only_the_base_policies_remain() -> None:
    names = [p["name"] for p in netpol.project_policies(netpol.PlatformPeers())]
    assert names == ["default-deny", "allow-same-namespace", "allow-dns", "allow-https-egress"]


# ---------------------------------------------------------------- IAM helpers
def test_cluster_autoscaler_may_only_resize_groups_tagged_for_its_cluster() -> None:
    doc = iam.document(*iam.cluster_autoscaler_access("mlops-dev", "us-east-1", "210987654321"))
    assert iam.check_document(doc) == []
    scale = next(s for s in doc["Statement"] if "autoscaling:SetDesiredCapacity" in s["Action"])
    assert scale["Resource"] != ["*"]
    assert scale["Condition"] == {"StringEquals": {
        "aws:ResourceTag/k8s.io/cluster-autoscaler/mlops-dev": "owned"}}


# ---------------------------------------------------------------- alerts and dashboards
def test_shipped_alert_groups_cover_gpu_serving_drift_and_autoscaler() -> None:
    groups = alerts.platform_rule_groups(alerts.AlertThresholds(gpu_idle_minutes=45, drift_threshold=0.3))
    names = {g: [r["alert"] for r in rules] for g, rules in groups.items()}
    assert names == {"gpu": ["GpuIdleWhileNodeRunning", "GpuPodPendingTooLong", "GpuXidError"],
                     "serving": ["ModelServingLatencySloBreached", "ModelServingErrorRateHigh"],
                     "drift": ["ModelDriftHigh"],
                     "autoscaler": ["ClusterAutoscalerScaleUpFailed", "ClusterAutoscalerErrors",
                                    "ClusterAutoscalerUnschedulablePods"]}
    gpu = {r["alert"]: r for r in groups["gpu"]}
    assert gpu["GpuIdleWhileNodeRunning"]["for"] == "45m"
    assert "DCGM_FI_DEV_XID_ERRORS" in gpu["GpuXidError"]["expr"]
    assert groups["drift"][0]["expr"].startswith("max by (namespace, model, feature) (mlops_model_drift_score{")
    assert groups["drift"][0]["expr"].endswith("> 0.3")
    for rule in (r for rules in groups.values() for r in rules):
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert rule["expr"].count("(") == rule["expr"].count(")")


def test_serving_and_drift_metric_names_are_the_ones_the_template_exports() -> None:
    serve = next(TEMPLATE_SRC.glob("*/serve.py.jinja")).read_text()
    monitor = next(TEMPLATE_SRC.glob("*/monitor.py.jinja")).read_text()
    assert re.search(rf'Histogram\(\s*"{alerts.SERVING_LATENCY_METRIC}"', serve)
    assert re.search(rf'Counter\(\s*"{alerts.SERVING_REQUESTS_METRIC.removesuffix("_total")}"', serve)
    assert '"psi"' in monitor and "DRIFT_METRIC" in monitor
    for outcome in ("ok", "invalid"):
        assert f'labels("{outcome}")' in serve and outcome in alerts.SERVING_OK_OUTCOMES


def test_dashboards_are_json_with_unique_panels_and_queries() -> None:
    boards = dashboards.platform_dashboards()
    assert set(boards) == {"dashboard-gpu-fleet", "dashboard-model-serving", "dashboard-drift"}
    for board in boards.values():
        json.dumps(board)
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)) and all(p["targets"][0]["expr"] for p in board["panels"])
    assert contract.DRIFT_METRIC in json.dumps(boards["dashboard-drift"])


def test_alertmanager_routes_to_sns_and_reads_slack_from_a_file() -> None:
    cfg = alertmanager_config("arn:aws:sns:us-east-1:1:alerts", "us-east-1", slack=True)
    receiver = cfg["receivers"][0]
    assert receiver["sns_configs"][0]["topic_arn"] == "arn:aws:sns:us-east-1:1:alerts"
    assert "api_url" not in receiver["slack_configs"][0] and receiver["slack_configs"][0]["api_url_file"]
    assert "slack_configs" not in alertmanager_config("t", "us-east-1", slack=False)["receivers"][0]
    assert email_slug("Risk.ML+alerts@Example.com") == "risk-ml-alerts-example-com"


# ---------------------------------------------------------------- tracking
def test_mlflow_boots_from_the_shipped_script_with_no_secret_in_its_spec() -> None:
    env = boot_environment("arn:aws:secretsmanager:eu-west-1:1:secret:rds!db-x", "db.example", "s3://models/mlflow/")
    spec = deployment_spec("123.dkr.ecr.eu-west-1.amazonaws.com/mirror/mlflow:v1", env, ("fraud",), 2)
    (container,) = spec["template"]["spec"]["containers"]
    assert container["command"] == ["python", "/etc/mlflow/boot/boot.py"]
    values = {e["name"]: e["value"] for e in container["env"]}
    assert values["MLFLOW_DB_LOGIN_ARN"].startswith("arn:aws:secretsmanager:") and "PASSWORD" not in str(values)
    assert "mlflow.mlflow.svc.cluster.local:5000" in allowed_hosts().split(",")
    mounts = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
    assert mounts["auth"]["secret"] == {"secretName": "mlflow-auth", "defaultMode": 0o440}
    # a new project changes the pod template, so the server restarts and creates its user
    other = deployment_spec("img:v1", env, ("fraud", "churn"), 2)
    assert other["template"]["metadata"] != spec["template"]["metadata"]


def test_mlflow_auth_denies_by_default_and_never_serves_artifacts() -> None:
    ini = mlflow_boot.auth_config("postgresql://u:p@h:5432/mlflow?sslmode=require")
    assert "default_permission = NO_PERMISSIONS" in ini and "admin_username = mlflow_admin" in ini
    args = mlflow_boot.server_args({"MLFLOW_PORT": "5000", "MLFLOW_DEFAULT_ARTIFACT_ROOT": "s3://m/mlflow/",
                                    "MLFLOW_ALLOWED_HOSTS": "a"})
    assert args[:6] == ["mlflow", "server", "--app-name", "basic-auth", "--no-serve-artifacts", "--host"]
    assert not any("postgresql" in a for a in args), "the database URI stays off the command line"
    uri = mlflow_boot.postgres_uri({"username": "mlflow", "password": "p@ss/w:rd"}, "db.example", "mlflow")
    assert uri == "postgresql://mlflow:p%40ss%2Fw%3Ard@db.example:5432/mlflow?sslmode=require"


def test_strict_schema_validation_rejects_an_unknown_field() -> None:
    from kubernetes_validate import utils as kv

    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": manifests.meta("x", labels={"a": "b"})}
    assert kv.validate(ns, "1.34", strict=True) == "1.34"
    with pytest.raises(kv.ValidationError):
        kv.validate({**ns, "spec": {"finalizers": ["x"], "typo": 1}}, "1.34", strict=True)


def test_mlflow_admits_project_namespaces_and_monitoring_only_on_its_port() -> None:
    policies = {p["name"]: p["spec"] for p in netpol.tracking_policies("mlops.io/project", 5000, "monitoring")}
    assert next(iter(policies)) == "default-deny"
    (rule,) = policies["allow-clients"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 5000}]
    assert rule["from"][0] == {"namespaceSelector": {"matchExpressions": [
        {"key": "mlops.io/project", "operator": "Exists"}]}}
    assert policies["allow-database-egress"]["egress"][0]["ports"] == [{"protocol": "TCP", "port": 5432}]
