"""The recorded upstream facts are whole, sourced and usable: every file named in the README with its source,
every CRD schema a valid JSON schema that accepts a minimal object and rejects a wrong one."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mlops_platform.engine import Plan

from .crds import manifest
from .upstream import CRDS_DIR, NEXT_VALUES_DIR, UPSTREAM, VALUES_DIR, as_sent, crd_validator

SOURCES: list[dict[str, Any]] = json.loads((CRDS_DIR / "sources.json").read_text())
README = (UPSTREAM / "README.md").read_text()

#: Kinds later features need (issue #9 brief): (group, kind, version).
REQUIRED_KINDS = {
    ("karpenter.sh", "NodePool", "v1"), ("karpenter.k8s.aws", "EC2NodeClass", "v1"),
    ("kueue.x-k8s.io", "ClusterQueue", "v1beta1"), ("kueue.x-k8s.io", "LocalQueue", "v1beta1"),
    ("kueue.x-k8s.io", "ResourceFlavor", "v1beta1"),
    ("argoproj.io", "WorkflowTemplate", "v1alpha1"), ("argoproj.io", "CronWorkflow", "v1alpha1"),
    ("argoproj.io", "EventSource", "v1alpha1"), ("argoproj.io", "Sensor", "v1alpha1"),
    ("flagger.app", "Canary", "v1beta1"), ("flagger.app", "MetricTemplate", "v1beta1"),
    ("keda.sh", "ScaledObject", "v1alpha1"),
    ("gateway.networking.k8s.io", "HTTPRoute", "v1"), ("gateway.networking.k8s.io", "Gateway", "v1"),
    ("gateway.networking.k8s.io", "GatewayClass", "v1"),
    ("gateway.envoyproxy.io", "SecurityPolicy", "v1alpha1"),
    ("gateway.envoyproxy.io", "ClientTrafficPolicy", "v1alpha1"), ("gateway.envoyproxy.io", "EnvoyProxy", "v1alpha1"),
    ("cert-manager.io", "Certificate", "v1"), ("cert-manager.io", "ClusterIssuer", "v1"),
}
# argo-workflows and argo-events are installed now (k8s/pipelines.py), flagger and keda
# (k8s/delivery_stack.py), opencost (k8s/opencost.py), kueue with queueing.enabled (k8s/kueue.py), karpenter
# with gpu.provisioner: karpenter (k8s/karpenter.py), aws-load-balancer-controller with serving
# (k8s/lb_controller.py): their values live in values/
NEXT_CHARTS: set[str] = set()


def test_every_required_kind_is_recorded_with_its_source() -> None:
    recorded = {(e["group"], e["kind"], e["version"]) for e in SOURCES}
    assert recorded >= REQUIRED_KINDS
    assert all(e["source"]["repo"] and e["source"]["tag"] and len(e["source"]["commit"]) == 40 for e in SOURCES)


def test_every_fixture_file_is_indexed_and_named_in_the_readme() -> None:
    crd_files = {str(p.relative_to(CRDS_DIR)) for p in CRDS_DIR.rglob("*.json") if p.name != "sources.json"}
    assert crd_files == {e["file"] for e in SOURCES}
    values = [p.relative_to(UPSTREAM) for p in [*VALUES_DIR.glob("*.json"), *NEXT_VALUES_DIR.glob("*.json")]]
    named = [f"`{name}`" for name in [*values, *(f"crds/{f}" for f in crd_files)]]
    assert [n for n in named if n not in README] == []


def test_next_feature_charts_are_recorded() -> None:
    recorded = {json.loads(p.read_text())["chart"] for p in NEXT_VALUES_DIR.glob("*.json")}
    assert recorded == NEXT_CHARTS


@pytest.mark.parametrize("entry", SOURCES, ids=lambda e: e["file"])
def test_every_crd_schema_is_a_valid_json_schema(entry: dict[str, Any]) -> None:
    validator = crd_validator(entry["group"], entry["kind"], entry["version"])  # checks the schema itself
    assert validator.schema.get("type") == "object" or "$ref" in validator.schema


MINIMAL: dict[tuple[str, str, str], dict[str, Any]] = {
    ("karpenter.sh", "NodePool", "v1"): {"template": {"spec": {
        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
        "requirements": [{"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]}]}}},
    ("kueue.x-k8s.io", "LocalQueue", "v1beta1"): {"clusterQueue": "team-a"},
    ("gateway.networking.k8s.io", "HTTPRoute", "v1"): {
        "parentRefs": [{"name": "models"}],
        "rules": [{"backendRefs": [{"name": "model", "port": 80}]}]},
    ("argoproj.io", "WorkflowTemplate", "v1alpha1"): {
        "entrypoint": "main", "templates": [{"name": "main", "container": {"image": "busybox"}}]},
    ("flagger.app", "MetricTemplate", "v1beta1"): {"provider": {"type": "prometheus"}, "query": "up"},
    ("keda.sh", "ScaledObject", "v1alpha1"): {"scaleTargetRef": {"name": "model"},
                                             "triggers": [{"type": "cron", "metadata": {}}]},
}


@pytest.mark.parametrize("key", list(MINIMAL), ids=lambda k: f"{k[1]}-{k[2]}")
def test_schemas_accept_a_minimal_object_and_reject_a_wrong_type(key: tuple[str, str, str]) -> None:
    group, kind, version = key
    validator = crd_validator(group, kind, version)
    good = {"apiVersion": f"{group}/{version}", "kind": kind, "metadata": {"name": "x"}, "spec": MINIMAL[key]}
    assert [e.message for e in validator.iter_errors(good)] == []
    assert list(validator.iter_errors({**good, "spec": "not an object"}))


#: Custom resources the platform creates whose published schemas are recorded (plan type → (group, kind, version)).
PLATFORM_KINDS = {"kubernetes:gateway.networking.k8s.io/v1:Gateway": ("gateway.networking.k8s.io", "Gateway", "v1"),
                  "kubernetes:gateway.networking.k8s.io/v1:GatewayClass":
                      ("gateway.networking.k8s.io", "GatewayClass", "v1")}


def test_the_platforms_gateway_objects_validate_against_the_published_schema(plan: Plan) -> None:
    """Gateway API v1.3.0 standard CRDs (what Envoy Gateway v1.4.2 installs): the structure checks in crds.py
    only look at required fields; the published schema also checks types, enums and patterns."""
    found = [r for r in plan.resources if r.type in PLATFORM_KINDS]
    assert found, "the serving stack creates a Gateway and a GatewayClass"
    for res in found:
        validator = crd_validator(*PLATFORM_KINDS[res.type])
        errors = validator.iter_errors(as_sent(manifest(res)))
        assert [f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors] == [], res.name
