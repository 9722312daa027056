"""Cost allocation: OpenCost in the cluster layer, a cost dashboard per project in the tenants layer.

What a mock engine cannot see is checked against recorded upstream facts: every dashboard query parses
with a real PromQL parser (promql-parser, the Python binding of GreptimeDB's Rust parser) and names only
series OpenCost registers, with labels those series carry (tests/fixtures/upstream/opencost-metrics.json,
from opencost/opencost pkg/costmodel/metrics.go).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import promql_parser
import pytest
from mlops_platform.config import PlatformConfig, load_env
from mlops_platform.config.loader import stack_file_for
from mlops_platform.core.errors import ConfigError
from mlops_platform.core.versions import CHARTS
from mlops_platform.engine import Plan, run_platform
from mlops_platform.k8s.cost_dashboards import (
    FOLDER_ANNOTATION,
    MAX_UID,
    dashboard_exprs,
    dashboard_uid,
    hourly_costs,
    monthly_projection,
    tenant_cost_dashboard,
)
from mlops_platform.k8s.monitoring import PROMETHEUS_URL
from mlops_platform.k8s.opencost import (
    OPENCOST_NAMESPACE,
    PROMETHEUS_PORT,
    SERVICE_ACCOUNT,
    SpotFeed,
    pricing_config,
    spot_feed_values,
)
from ruamel.yaml import YAML

from .planview import helm_values, k8s_of
from .test_chart_values import FREE_FORM, SA_ANNOTATIONS
from .upstream import unknown_values, upstream_values

UPSTREAM = Path(__file__).resolve().parents[1] / "fixtures" / "upstream"
OPENCOST = json.loads((UPSTREAM / "opencost-metrics.json").read_text())
METRICS: dict[str, list[str]] = OPENCOST["metrics"]
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
NAMESPACE = "kubernetes:core/v1:Namespace"


# --- PromQL: parsed for real, checked against OpenCost's series ------------------------------------------

def selectors_and_groupings(expr: str) -> tuple[list[Any], list[tuple[str, list[str]]]]:
    """(vector selectors, (kind, labels) of every `on (...)` / `by (...)`) of a parsed expression."""
    selectors: list[Any] = []
    groupings: list[tuple[str, list[str]]] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            selectors.append(node)
        elif isinstance(node, promql_parser.BinaryExpr) and node.modifier and node.modifier.matching:
            groupings.append(("on", list(node.modifier.matching.labels)))
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier:
            groupings.append(("by", list(node.modifier.labels)))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return selectors, groupings


def test_the_parser_rejects_what_prometheus_rejects() -> None:
    with pytest.raises(ValueError, match="parenthesis"):
        promql_parser.parse("sum(container_cpu_allocation")
    with pytest.raises(ValueError):
        promql_parser.parse('sum by (node) container_cpu_allocation{namespace="a"}')


@pytest.mark.parametrize("namespace", ["fraud-detector", "a", "x" * 63])
def test_every_query_parses_and_names_only_opencost_series(namespace: str) -> None:
    exprs = dashboard_exprs(tenant_cost_dashboard("p", namespace))
    assert len(exprs) == 8
    for expr in exprs:
        selectors, groupings = selectors_and_groupings(expr)
        names = {s.name for s in selectors}
        assert names and names <= set(METRICS), (expr, names - set(METRICS))
        labels = set().union(*(METRICS[n] for n in names))
        assert all(set(group) <= labels for _, group in groupings), (expr, groupings)


def test_every_query_is_confined_to_the_tenants_namespace() -> None:
    """A namespaced series (it has a `namespace` label) is always selected with namespace="<the tenant>"."""
    for expr in dashboard_exprs(tenant_cost_dashboard("p", "fraud-detector")):
        selectors, _ = selectors_and_groupings(expr)
        for sel in selectors:
            matchers = [(m.name, m.value) for m in sel.matchers.matchers]
            if "namespace" in METRICS[sel.name]:
                assert matchers == [("namespace", "fraud-detector")], expr
            else:
                assert matchers == [], expr


def test_gpu_cost_joins_allocation_and_price_on_the_node() -> None:
    """container_gpu_allocation (GPUs requested) × node_gpu_hourly_cost of the node it runs on."""
    gpu = hourly_costs("ns")["GPU"]
    selectors, groupings = selectors_and_groupings(gpu)
    assert [s.name for s in selectors] == ["container_gpu_allocation", "node_gpu_hourly_cost"]
    assert ("on", ["node"]) in groupings and ("by", ["node"]) in groupings


def test_the_monthly_projection_counts_an_unused_resource_as_zero() -> None:
    """`a + b` is empty when b has no series (a namespace without GPUs): each term falls back to vector(0)."""
    expr = monthly_projection("ns")
    assert expr.startswith("730 * (") and expr.count("or vector(0)") == 4
    promql_parser.parse(expr)


def test_the_dashboard_is_well_formed_grafana_json() -> None:
    board = tenant_cost_dashboard("fraud-detector", "fraud-detector")
    assert json.loads(json.dumps(board)) == board
    assert board["uid"] == "mlops-cost-fraud-detector" and board["title"] == "Cost: fraud-detector"
    ids = [p["id"] for p in board["panels"]]
    assert len(set(ids)) == len(ids)
    spots = {(p["gridPos"]["x"], p["gridPos"]["y"]) for p in board["panels"]}
    assert len(spots) == len(ids), "no two panels overlap"
    assert all(p["datasource"]["uid"] == "${datasource}" and p["targets"] for p in board["panels"])
    assert {p["fieldConfig"]["defaults"]["unit"] for p in board["panels"]} == {"currencyUSD", "short"}
    assert "project:fraud-detector" in board["tags"]


def test_long_namespaces_get_short_distinct_uids() -> None:
    long_a, long_b = "a" * 40, "a" * 39 + "b"
    assert len(dashboard_uid(long_a)) <= MAX_UID and dashboard_uid(long_a) != dashboard_uid(long_b)
    assert dashboard_uid("ns") == "mlops-cost-ns"


# --- the planned graph ------------------------------------------------------------------------------------

@pytest.fixture
def dev(plans: dict[str, Plan]) -> Plan:
    return plans["dev"]


def test_opencost_reads_the_platforms_prometheus(dev: Plan) -> None:
    """Chart 2.5.17 _helpers.tpl builds http://<serviceName>.<namespaceName>:<port> from these values."""
    values = helm_values(dev, "opencost")
    assert values["opencost"]["prometheus"]["internal"] == {
        "enabled": True, "serviceName": "kps-prometheus", "namespaceName": "monitoring", "port": 9090}
    assert values["opencost"]["ui"] == {"enabled": False} and values["opencost"]["mcp"] == {"enabled": False}
    assert values["opencost"]["cloudCost"] == {"enabled": False}


def test_the_chart_builds_the_platforms_prometheus_url(dev: Plan) -> None:
    """opencost 2.5.17 templates/_helpers.tpl "opencost.prometheusServerEndpoint":
    printf "%s://%s.%s.svc.%s:%d" scheme serviceName namespaceName clusterName port — `clusterName` is the
    DNS domain there, so setting it to the EKS cluster's name would point OpenCost at a host that does not
    resolve."""
    values = helm_values(dev, "opencost")
    internal = values["opencost"]["prometheus"]["internal"]
    scheme = internal.get("scheme", "http")
    rendered = (f"{scheme}://{internal['serviceName']}.{internal['namespaceName']}.svc."
                f"{values['clusterName']}:{int(internal['port'])}")  # the template pipes port through `int`
    assert rendered == PROMETHEUS_URL
    assert values["opencost"]["exporter"]["defaultClusterId"] == "mlops-dev"  # the cluster's name goes here


def test_opencost_is_scraped_with_its_own_labels(dev: Plan) -> None:
    """Without honorLabels Prometheus renames the workload's `namespace`/`pod` to exported_* (the target's
    own labels win), and every per-namespace query would select nothing."""
    monitor = helm_values(dev, "opencost")["opencost"]["metrics"]["serviceMonitor"]
    assert monitor["enabled"] is True and monitor["honorLabels"] is True


def test_opencost_runs_restricted_and_non_root(dev: Plan) -> None:
    values = helm_values(dev, "opencost")
    exporter = values["opencost"]["exporter"]
    assert values["podSecurityContext"]["runAsNonRoot"] is True and values["podSecurityContext"]["runAsUser"] == 1001
    assert exporter["securityContext"]["readOnlyRootFilesystem"] is True
    assert exporter["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert exporter["resources"]["requests"] and exporter["resources"]["limits"]["memory"] == "1Gi"
    assert exporter["replicas"] == 1
    mounts = {m["mountPath"] for m in exporter["extraVolumeMounts"]}
    assert mounts == {"/tmp", "/var/configs"}
    assert {v["name"] for v in values["extraVolumes"]} == {m["name"] for m in exporter["extraVolumeMounts"]}
    (ns,) = [r for r in k8s_of(dev, NAMESPACE) if r.get("metadata.name") == OPENCOST_NAMESPACE]
    assert ns.get("metadata.labels")["pod-security.kubernetes.io/enforce"] == "restricted"


def test_opencost_namespace_is_fenced_and_prometheus_admits_it(dev: Plan) -> None:
    policies = {(r.get("metadata.namespace"), r.get("metadata.name")): r for r in k8s_of(dev, NETPOL)}
    assert (OPENCOST_NAMESPACE, "allow-monitoring") in policies
    admit = policies[("monitoring", "allow-queries")].get("spec")
    assert admit["ingress"][0]["ports"] == [{"protocol": "TCP", "port": PROMETHEUS_PORT}]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": OPENCOST_NAMESPACE}}} in \
        admit["ingress"][0]["from"]


def test_every_project_gets_its_cost_dashboard_in_its_folder(dev: Plan) -> None:
    """One per project of the dev stack, in the monitoring namespace the Grafana sidecar watches."""
    boards = {r.get("metadata.name"): r for r in k8s_of(dev, CONFIGMAP)
              if r.get("metadata.name", "").startswith("cost-")}
    assert set(boards) == {"cost-fraud-detector", "cost-churn-model"}
    for name, res in boards.items():
        project = name.removeprefix("cost-")
        assert res.get("metadata.namespace") == "monitoring"
        assert res.get("metadata.labels")["grafana_dashboard"] == "1"
        assert res.get("metadata.annotations") == {FOLDER_ANNOTATION: project}
        (text,) = res.get("data").values()
        board = json.loads(text)
        assert board == json.loads(json.dumps(tenant_cost_dashboard(project, project)))


def test_grafana_files_annotated_dashboards_into_folders(dev: Plan) -> None:
    """grafana 9.0.0 values.yaml: sidecar.dashboards.folderAnnotation + provider.foldersFromFilesStructure."""
    sidecar = helm_values(dev, "kube-prometheus-stack")["grafana"]["sidecar"]["dashboards"]
    assert sidecar["folderAnnotation"] == FOLDER_ANNOTATION
    assert sidecar["provider"] == {"foldersFromFilesStructure": True}


# --- config -----------------------------------------------------------------------------------------------

def _with(cfg: PlatformConfig, **sections: dict[str, Any]) -> dict[str, Any]:
    raw = cfg.model_dump(mode="json", exclude_unset=True)  # as written in the stack file, nothing added
    raw.update(sections)
    return raw


@pytest.mark.parametrize(("monitoring", "cost", "on"), [
    (None, None, True), (None, False, False), (False, None, False), (True, True, True)])
def test_cost_allocation_follows_monitoring(monitoring: bool | None, cost: bool | None, on: bool) -> None:
    cfg = load_env("dev")
    raw = _with(cfg, monitoring={"enabled": monitoring} if monitoring is not None else {},
                cost_allocation={"enabled": cost} if cost is not None else {})
    assert PlatformConfig.model_validate(raw).cost_allocation_on is on


def test_cost_allocation_without_monitoring_is_refused_naming_both_fields() -> None:
    raw = _with(load_env("dev"), monitoring={"enabled": False}, cost_allocation={"enabled": True})
    with pytest.raises((ConfigError, ValueError), match=r"cost_allocation\.enabled.*monitoring"):
        PlatformConfig.model_validate(raw)


# --- spot prices from the account's Spot Instance Data Feed -----------------------------------------------

FEED = SpotFeed(bucket="acme-spot-feed", prefix="spot", region="us-east-1")


def test_pricing_keys_are_opencost_field_names_with_monthly_base_prices() -> None:
    """OpenCost title-cases each ConfigMap key and sets the CustomPricing field of that name
    (models.SetCustomPricingField); CPU, SpotCPU, RAM, SpotRAM, GPU and Storage are divided by 730
    (providerconfig.go UpdateFromMap). configs/aws.json: CPU 0.031611/h, GPU 0.95/h, RAM 0.004237/h."""
    cm = pricing_config(FEED, "210987654321")
    assert {"SpotDataBucket": "acme-spot-feed", "SpotDataRegion": "us-east-1", "SpotDataPrefix": "spot",
            "ProjectID": "210987654321"}.items() <= cm.items()
    assert "awsSpotDataBucket" not in cm  # the JSON tag: "no such field", and the whole update is refused
    assert float(cm["CPU"]) / 730 == pytest.approx(0.031611) and float(cm["GPU"]) / 730 == pytest.approx(0.95)
    assert float(cm["RAM"]) / 730 == pytest.approx(0.004237)
    assert float(cm["GPU"]) > float(cm["CPU"]) > float(cm["RAM"])  # the split that puts GPU cost on GPUs
    # every key replaces a chart default costModel key or adds a CustomPricing field
    defaults = {k.rsplit(".", 1)[1] for k in upstream_values("opencost", CHARTS["opencost"].version).keys
                if k.startswith("opencost.customPricing.costModel.")}
    assert defaults <= set(cm)


def test_spot_feed_values_exist_in_the_chart() -> None:
    values = spot_feed_values(FEED, "210987654321", "arn:aws:iam::210987654321:role/opencost")
    upstream = upstream_values("opencost", CHARTS["opencost"].version)
    # no shipped environment names a feed, so these exceptions live here, not in test_chart_values.FREE_FORM
    # (which must all be in use): templates/configmap-custom-pricing.yaml renders costModel key by key, and
    # serviceAccount.annotations is a free-form map
    free = FREE_FORM["opencost"] | {"opencost.customPricing.costModel": "rendered key by key",
                                    "serviceAccount.annotations": SA_ANNOTATIONS}
    assert unknown_values(values, upstream, free) == []
    assert values["serviceAccount"]["annotations"] == {"eks.amazonaws.com/role-arn":
                                                       "arn:aws:iam::210987654321:role/opencost"}


@pytest.mark.slow
def test_a_spot_feed_gives_opencost_a_role_and_the_pricing_configmap(tmp_path: Path) -> None:
    yaml = YAML()
    doc = yaml.load(stack_file_for("dev").read_text())
    doc["config"]["mlops-platform:cost_allocation"] = {"spot_data_feed": {"bucket": "acme-spot-feed", "prefix": "spot"}}
    path = tmp_path / "Pulumi.dev.yaml"
    with path.open("w") as fh:
        yaml.dump(doc, fh)
    plan = run_platform(stack_file=path)  # in this process, as the other variant plans (tests/k8s/test_isolation.py)
    values = helm_values(plan, "opencost")
    assert values["opencost"]["customPricing"]["costModel"]["SpotDataRegion"] == "us-east-1"  # the env's region
    assert values["opencost"]["ui"] == {"enabled": False}  # the feed adds to the values, never replaces them
    (role,) = [r for r in k8s_of(plan, "aws:iam/role:Role") if r.name.endswith("-opencost-role")]
    # made by the cluster layer from aws.service_roles since it moved out of CostAllocation: the same name and
    # an alias to its old parent, so Pulumi maps it to the URN it had (no replacement; Pulumi docs, "Aliases")
    (cost,) = [r for r in plan.resources if r.type == "mlops:k8s:CostAllocation"]
    for moved in [role, *(r for r in plan.resources if r.name == role.name.replace("-role", "-policy"))]:
        assert moved.urn.rsplit("::", 1)[0].endswith("mlops:k8s:ClusterLayer$" + moved.type)
        # the alias names CostAllocation's URN built from the layer's (pulumi.create_urn): exactly the URN the
        # component has (the plan's URNs are the engine's: Pulumi docs, "Resource names": URN format)
        [alias_parent] = [a["spec"]["parentUrn"] for a in moved.aliases]
        assert alias_parent == cost.urn
        old = f"{cost.urn.rsplit('::', 1)[0]}${moved.type}::{moved.name}"
        assert old.endswith(f"mlops:k8s:ClusterLayer$mlops:k8s:CostAllocation${moved.type}::dev-k8s-cost-opencost-"
                            + ("role" if moved is role else "policy"))
    trust = json.loads(role.get("assumeRolePolicy"))
    (condition,) = trust["Statement"][0]["Condition"].values()
    assert f"system:serviceaccount:{OPENCOST_NAMESPACE}:{SERVICE_ACCOUNT}" in json.dumps(condition)
    # the role lists and reads the feed's prefix only (built here, not in a pure test: the statements hold
    # pulumi Outputs, and an Output made outside a running program stalls the next plan in this process)
    (policy,) = [r for r in k8s_of(plan, "aws:iam/rolePolicy:RolePolicy") if r.name.endswith("-opencost-policy")]
    read, listing = json.loads(policy.get("policy"))["Statement"]
    assert read == {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                    "Resource": ["arn:aws:s3:::acme-spot-feed/spot/*"]}
    assert listing == {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": ["arn:aws:s3:::acme-spot-feed"],
                       "Condition": {"StringLike": {"s3:prefix": ["spot/*"]}}}


def test_without_a_feed_opencost_has_no_role(dev: Plan) -> None:
    assert not [r for r in k8s_of(dev, "aws:iam/role:Role") if "opencost" in r.name]
    assert "customPricing" not in helm_values(dev, "opencost")["opencost"]


@pytest.mark.parametrize(("feed", "field"), [
    ({"bucket": "Acme_Spot"}, "bucket"), ({"bucket": "acme.spot.feed"}, "bucket"),
    ({"bucket": "acme-spot", "prefix": "spot/"}, "prefix"), ({"bucket": "acme-spot", "region": "mars-1"}, "region"),
    ({"prefix": "spot"}, "bucket")])
def test_a_bad_spot_feed_is_refused_naming_the_field(feed: dict[str, str], field: str) -> None:
    raw = _with(load_env("dev"), cost_allocation={"spot_data_feed": feed})
    with pytest.raises(ValueError, match=rf"cost_allocation\.spot_data_feed\.{field}"):
        PlatformConfig.model_validate(raw)
