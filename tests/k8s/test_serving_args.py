"""Layer 1 for `ModelServingArgs`: field, threshold and combination validators, pure and with no engine;
the pure builders of delivery and autoscaling manifests."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlops_platform.core.errors import ConfigError
from mlops_platform.k8s.autoscaling import ScaleSignal, autoscaler_ref, scaled_object_spec
from mlops_platform.k8s.delivery import AnalysisThresholds, DeliveryStrategy, analysis, threshold_issues
from mlops_platform.k8s.serving_args import ModelServingArgs, ServingMode, image_is_pinned

IMAGE = "1.dkr.ecr.us-east-1.amazonaws.com/projects/fraud:1.0"


def args(**kw: Any) -> ModelServingArgs:
    return ModelServingArgs(**{"namespace": "fraud", "name": "scorer", "provider": None, "image": IMAGE,
                               "ingress_domain": "models.internal", **kw})


@pytest.mark.parametrize(("image", "pinned"), [
    ("repo/app:1.2.3", True), ("repo/app@sha256:" + "a" * 64, True), ("registry:5000/app", False),
    ("repo/app:latest", False), ("repo/app", False)])
def test_image_pinning(image: str, pinned: bool) -> None:
    assert image_is_pinned(image) is pinned


@pytest.mark.parametrize(("kw", "message"), [
    ({"image": "repo/app:latest"}, r"image: floats \(got 'repo/app:latest'\) — fix: pin"),
    ({"min_replicas": 3, "max_replicas": 2}, r"max_replicas: below min_replicas 3 \(got 2\) — fix: raise"),
    ({"gpu_pool": "a10g"}, r"gpus: gpu_type/gpu_pool given but gpus is 0 \(got 0\) — fix: set gpus"),
    ({"env": {"DB_PASSWORD": "x"}}, r"env: looks like a secret \(got \['DB_PASSWORD'\]\) — fix: mount"),
    ({"cpu": "lots"}, r"cpu: not a Kubernetes quantity \(got 'lots'\) — fix: write e.g. 500m"),
    ({"port": 80}, r"port: out of range \(got 80\) — fix: an integer >= 1024 and <= 65535"),
    ({"name": "Scorer_1"}, r"name: must be a DNS label .*\(got 'Scorer_1'\)"),
    ({"mode": "batch"}, r"mode: unknown choice \(got 'batch'\) — fix: one of deployment, kserve"),
    ({"delivery": "big-bang"}, r"delivery: unknown choice \(got 'big-bang'\) — fix: one of canary, blue-green"),
    ({"scale_on": "memory"}, r"scale_on: unknown choice \(got 'memory'\) — fix: one of cpu, in-flight"),
    ({"drift_threshold": 0}, r"drift_threshold: must be a number above 0 \(got 0\)"),
    # delivery
    ({"prod": True, "delivery": "instant"}, r"delivery: prod serving switches 100 % .* \(got 'instant'\) — fix: use "
                                            r"canary, blue-green or mirror"),
    ({"ingress_domain": None},
     r"ingress_domain: delivery canary routes the model through the gateway — fix: pass the platform output"),
    ({"mode": "kserve", "kserve_deployment_mode": "Serverless"},
     r"kserve_deployment_mode: Flagger analyses Deployments.*\(got 'Serverless'\) — fix: use RawDeployment"),
    ({"analysis": "fast"}, r"analysis: not an AnalysisThresholds \(got 'fast'\)"),
    ({"analysis": AnalysisThresholds(max_error_rate_pct=0)}, r"analysis.max_error_rate_pct: must be a percentage"),
    # autoscaling
    ({"gpus": 1, "scale_on": "cpu"}, r"scale_on: a GPU server saturates its GPU .* \(got 'cpu'\) — fix: use in-flight"),
    ({"scale_on": "gpu-utilization"}, r"scale_on: gpu-utilization needs GPUs"),
    ({"delivery": "instant", "scale_on": "in-flight", "scale_to_zero": True, "prod": True},
     r"scale_to_zero: prod serving never scales to zero .* — fix: drop scale_to_zero in prod"),
    ({"scale_on": "in-flight", "scale_to_zero": True}, r"scale_to_zero: needs delivery instant and a KEDA signal"),
    ({"delivery": "instant", "scale_to_zero": True}, r"scale_to_zero: needs delivery instant and a KEDA signal"),
])
def test_invalid_serving_args_fail_with_the_field_value_and_fix(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        args(**kw)


def test_invalid_serving_args_are_reported_all_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        args(image="repo/app", port=22, gpus=9, ingress_domain=None, analysis=AnalysisThresholds(step_weight=0))
    assert [i.path for i in caught.value.issues] == ["port", "gpus", "analysis.step_weight", "image",
                                                     "ingress_domain"]


def test_serving_args_take_enum_values_default_by_gpu_and_reject_unknown_fields() -> None:
    made = args(mode="kserve", delivery="mirror", scale_on="in-flight")
    assert (made.mode, made.delivery, made.scale_on) == (ServingMode.KSERVE, DeliveryStrategy.MIRROR,
                                                         ScaleSignal.IN_FLIGHT)
    assert args().delivery is DeliveryStrategy.CANARY  # progressive by default
    assert args().scale_on is ScaleSignal.CPU and args(gpus=1).scale_on is ScaleSignal.IN_FLIGHT
    assert args(delivery="instant", ingress_domain=None).progressive is False
    with pytest.raises(TypeError, match="replicas"):
        args(replicas=2)


# ---------------------------------------------------------------- analysis thresholds
@pytest.mark.parametrize(("change", "path", "message"), [
    ({"interval_seconds": 10}, "analysis.interval_seconds", "an integer from 30 to 600"),
    ({"failed_checks": 0}, "analysis.failed_checks", "an integer from 1 to 20"),
    ({"step_weight": 60}, "analysis.step_weight", "an integer from 1 to 50"),
    ({"iterations": True}, "analysis.iterations", "an integer from 1 to 100"),
    ({"max_error_rate_pct": 101}, "analysis.max_error_rate_pct", "e.g. 1.0"),
    ({"max_drift": -0.1}, "analysis.max_drift", "or None for no drift check"),
    ({"max_latency_p95_ms": 800}, "analysis.max_latency_p99_ms", "a p99 bound is at least the p95 bound"),
    ({"step_weight": 30, "max_weight": 20}, "analysis.max_weight", "raise max_weight or lower step_weight"),
])
def test_threshold_validators_name_the_field_and_the_fix(change: dict[str, Any], path: str, message: str) -> None:
    issues = threshold_issues(dataclasses.replace(AnalysisThresholds(), **change))
    assert [i.path for i in issues] == [path] and message in issues[0].fix


def test_default_thresholds_are_valid_and_the_templates() -> None:
    assert threshold_issues(AnalysisThresholds()) == []
    assert threshold_issues(AnalysisThresholds(max_drift=0.2), prefix="x") == []


@given(st.integers(1, 50), st.integers(1, 100), st.sampled_from(list(DeliveryStrategy)))
def test_analysis_takes_exactly_one_progression_of_the_crd(step: int, top: int, strategy: DeliveryStrategy) -> None:
    """Flagger v1.44.0 Canary CRD: `analysis` is oneOf required {interval, threshold} plus one of
    iterations / stepWeight / stepWeights; valid thresholds always make exactly one."""
    t = AnalysisThresholds(step_weight=step, max_weight=max(step, top))
    assert threshold_issues(t) == []
    made = analysis(strategy, t, [])
    assert sum(k in made for k in ("iterations", "stepWeight", "stepWeights")) == 1
    assert made.get("mirror", False) is (strategy is DeliveryStrategy.MIRROR)


# ---------------------------------------------------------------- autoscaling
def _pods(query: str) -> str:
    found = re.search(r'pod=~"([^"]+)"', query)
    assert found, query
    return found.group(1)


def test_flagger_references_hpas_and_scaled_objects_with_the_primarys_own_query() -> None:
    """Without primaryScalerQueries Flagger rewrites every `<target>` in the query to `<target>-primary`: with a
    model named like its namespace (the template's default) the namespace matcher would break too."""
    assert autoscaler_ref(ScaleSignal.CPU, "m", "ns", "m")["kind"] == "HorizontalPodAutoscaler"
    ref = autoscaler_ref(ScaleSignal.IN_FLIGHT, "fraud", "fraud", "fraud")
    assert (ref["kind"], ref["name"]) == ("ScaledObject", "fraud")
    (name, query), = ref["primaryScalerQueries"].items()
    spec = scaled_object_spec(deployment="fraud", namespace="fraud", signal=ScaleSignal.IN_FLIGHT, target=4,
                              min_replicas=2, max_replicas=5)
    assert spec["triggers"][0]["name"] == name  # Flagger matches primary queries by trigger name
    assert 'namespace="fraud"' in query and re.fullmatch(_pods(query), "fraud-primary-7f9c8d5b4-x2k9p")


def test_scaled_objects_count_their_deployments_pods_only() -> None:
    spec = scaled_object_spec(deployment="ranker", namespace="ns", signal=ScaleSignal.IN_FLIGHT, target=4,
                              min_replicas=2, max_replicas=5)
    pattern = _pods(spec["triggers"][0]["metadata"]["query"])
    assert re.fullmatch(pattern, "ranker-7f9c8d5b4-x2k9p")
    assert not re.fullmatch(pattern, "ranker-primary-7f9c8-x2k9p") and not re.fullmatch(pattern, "ranker-v2-7f9-x2k9p")
    assert spec["minReplicaCount"] == 2 and len(spec["triggers"]) == 1
