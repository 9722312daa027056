"""Fixtures of the policies in `mlops_platform.policy.rules.k8s_stack`."""

from __future__ import annotations

from policy_plans import DROP, Add, Drop, Patch, U, res

from policy_cases._base import DEFERRED, DEPLOY, PASSES, POD, Case, deploy, fail, ok, on, u

SCALED, HPA = "kubernetes:keda.sh/v1alpha1:ScaledObject", "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"


def scaler(floor: object) -> Add:
    """A KEDA ScaledObject of the serving Deployment; `None` leaves minReplicaCount to KEDA's default (0)."""
    spec = {"scaleTargetRef": {"name": "fraud-serving"}, "maxReplicaCount": 4,
            "triggers": [{"type": "prometheus", "metadata": {"query": "sum(up)", "threshold": "4"}}]}
    if floor is not None:
        spec["minReplicaCount"] = floor
    return Add(res(SCALED, "scaler", {"metadata": {"name": "fraud", "namespace": "fraud"}, "spec": spec}))


CASES: dict[str, Case] = {
    "k8s-serving-availability": Case(
        passing=(ok(), ok(Patch("fraud-serving", "metadata.namespace", U))),  # namespace through dependencies
        failing=(fail(DEPLOY, deploy("spec.replicas", 1)), fail(DEPLOY, Drop("fraud-pdb")),
                 fail(DEPLOY, deploy(f"{POD}.topologySpreadConstraints", DROP)),
                 fail(on("kubernetes:serving.kserve.io/v1beta1:InferenceService", "isvc"), Add(res(
                     "kubernetes:serving.kserve.io/v1beta1:InferenceService", "isvc", {
                         "metadata": {"name": "fraud", "namespace": "fraud"},
                         "spec": {"predictor": {"minReplicas": 0, "model": {"modelFormat": {"name": "sklearn"}}}}})))),
        unknown=u(DEFERRED, deploy("spec.replicas", U))),
    "k8s-serving-progressive-delivery": Case(
        passing=(ok(), ok(Drop("fraud-canary"), deploy("metadata.labels", {"app": "fraud"}),
                          deploy("spec.template.metadata.labels", {"app": "fraud"}))),  # not a serving workload
        failing=(fail(DEPLOY, Drop("fraud-canary")),
                 fail(DEPLOY, Patch("fraud-canary", "spec.targetRef.name", "other")),
                 fail(DEPLOY, Patch("fraud-canary", "spec.analysis.metrics", [])),
                 fail(DEPLOY, Patch("fraud-canary", "spec.skipAnalysis", True)),
                 fail(DEPLOY, Patch("fraud-canary", "metadata.namespace", "elsewhere")),
                 fail(on("kubernetes:serving.kserve.io/v1beta1:InferenceService", "isvc"), Add(res(
                     "kubernetes:serving.kserve.io/v1beta1:InferenceService", "isvc", {
                         "metadata": {"name": "ranker", "namespace": "fraud"}, "spec": {"predictor": {}}})))),
        unknown=u(DEFERRED, Patch("fraud-canary", "spec.targetRef.name", U))),
    "k8s-serving-scale-to-zero": Case(
        passing=(ok(), ok(scaler(2)), ok(Add(res(HPA, "hpa", {"metadata": {"name": "fraud", "namespace": "fraud"},
                                                             "spec": {"minReplicas": 2, "maxReplicas": 4}})))),
        failing=(fail(on(SCALED, "scaler"), scaler(None)), fail(on(SCALED, "scaler"), scaler(0))),
        unknown=u(DEFERRED, scaler(U))),
    "k8s-networkpolicy-per-namespace": Case(
        passing=(ok(), ok(Patch("fraud-deny", "metadata.namespace", U))),
        failing=(fail(on("kubernetes:core/v1:Namespace", "fraud-ns"), Drop("fraud-deny")),),
        unknown=u(PASSES, Patch("fraud-deny", "metadata.namespace", U))),
}
