"""Layer 2 for the reusable `ModelServing` component: a small real program using it in every mode,
planned offline; manifests validated against the Kubernetes schema, GPU placement and security asserted."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes_validate import utils as kv
from mlops_platform.core import contract
from mlops_platform.engine import Plan, Resource, run_program

from .crds import CHECKS, CORE_TYPES, custom_resource_problems, manifest

PROGRAM = Path(__file__).parent / "programs" / "model_serving"
GPU_TOLERATION = {"key": contract.GPU_TAINT_KEY, "operator": "Exists", "effect": contract.GPU_TAINT_EFFECT}
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"


@pytest.fixture(scope="module")
def plan() -> Plan:
    return run_program(PROGRAM)


def named(plan: Plan, type_: str, name: str) -> Resource:
    (res,) = [r for r in plan.of_type(type_) if r.get("metadata.name") == name]
    return res


def pod_specs(plan: Plan) -> list[tuple[str, dict]]:
    pods = [(r.get("metadata.name"), r.get("spec.template.spec")) for r in plan.of_type(DEPLOYMENT)]
    return pods + [(r.get("metadata.name"), r.get("spec.predictor")) for r in plan.of_type(ISVC)]


def test_every_core_manifest_validates_and_every_custom_resource_is_well_formed(plan: Plan) -> None:
    core = [r for r in plan.resources if r.type in CORE_TYPES]
    assert {r.type.rsplit(":", 1)[1] for r in core} == {"Deployment", "Service", "HorizontalPodAutoscaler",
                                                        "PodDisruptionBudget"}
    for res in core:
        kv.validate(manifest(res), "1.34", strict=True)
    crs = [r for r in plan.resources if r.type in CHECKS]
    assert len(crs) == 2 * 4 + 2  # ServiceMonitor + drift rule per model, two InferenceServices
    assert {r.name: p for r in crs if (p := custom_resource_problems(r))} == {}


def test_every_pod_is_restricted_probed_and_resourced(plan: Plan) -> None:
    for name, pod in pod_specs(plan):
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        (c,) = pod["containers"]
        assert c["securityContext"]["allowPrivilegeEscalation"] is False, name
        assert c["securityContext"]["readOnlyRootFilesystem"] is True, name
        assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}, name
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"], name
        assert pod["topologySpreadConstraints"], name


def test_gpu_pods_tolerate_the_taint_select_their_pool_and_limit_gpus(plan: Plan) -> None:
    gpu = {name: pod for name, pod in pod_specs(plan)
           if contract.GPU_RESOURCE in pod["containers"][0]["resources"]["limits"]}
    assert set(gpu) == {"ranker", "ranker-canary", "embedder"}
    for name, pod in gpu.items():
        assert GPU_TOLERATION in pod["tolerations"], name
        assert pod["containers"][0]["resources"]["limits"][contract.GPU_RESOURCE] == "1"
    assert gpu["ranker"]["nodeSelector"] == {contract.POOL_LABEL: "a10g"}
    assert gpu["embedder"]["nodeSelector"] == {contract.GPU_TYPE_LABEL: "l4"}
    cpu_only = [pod for name, pod in pod_specs(plan) if name not in gpu]
    assert cpu_only and all("tolerations" not in pod for pod in cpu_only)


def test_canary_share_follows_the_replica_ratio_behind_one_service(plan: Plan) -> None:
    stable, canary = named(plan, DEPLOYMENT, "ranker"), named(plan, DEPLOYMENT, "ranker-canary")
    assert stable.get("spec.replicas") == 3 and canary.get("spec.replicas") == 1  # 1/(3+1) = 25 %
    assert canary.get("spec.template.spec.containers.0.image").endswith(":2.0.0")
    service = named(plan, "kubernetes:core/v1:Service", "ranker")
    selector = service.get("spec.selector")
    for dep in (stable, canary):
        assert selector.items() <= dep.get("spec.template.metadata.labels").items()
    pdb = named(plan, "kubernetes:policy/v1:PodDisruptionBudget", "ranker")
    assert pdb.get("spec.selector.matchLabels").items() <= stable.get("spec.template.metadata.labels").items()
    hpa = named(plan, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "ranker")
    assert (hpa.get("spec.minReplicas"), hpa.get("spec.maxReplicas")) == (3, 6)
    assert hpa.get("spec.scaleTargetRef.name") == "ranker"


def test_kserve_mode_creates_an_inference_service_and_canary_only_when_serverless(plan: Plan) -> None:
    raw, serverless = named(plan, ISVC, "embedder"), named(plan, ISVC, "tagger")
    assert raw.get("metadata.annotations")["serving.kserve.io/deploymentMode"] == "RawDeployment"
    assert raw.get("spec.predictor.canaryTrafficPercent") is None
    assert serverless.get("spec.predictor.canaryTrafficPercent") == 10
    assert serverless.get("spec.predictor.containers.0.image").endswith(":2.0.0")  # the new revision
    assert not [r for r in plan.of_type(DEPLOYMENT) if r.get("metadata.name") in ("embedder", "tagger")]


def test_service_monitors_select_the_model_service_and_drift_rules_watch_the_model(plan: Plan) -> None:
    monitor = named(plan, "kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "scorer")
    service = named(plan, "kubernetes:core/v1:Service", "scorer")
    assert monitor.get("spec.selector.matchLabels").items() <= service.get("metadata.labels").items()
    assert monitor.get("spec.endpoints.0.port") == service.get("spec.ports.0.name")
    rule = named(plan, "kubernetes:monitoring.coreos.com/v1:PrometheusRule", "scorer-drift")
    expr = rule.get("spec.groups.0.rules.0.expr")
    assert contract.DRIFT_METRIC in expr and 'model="scorer"' in expr and expr.endswith("> 0.25")
