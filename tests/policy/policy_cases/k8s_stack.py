"""Fixtures of the policies in `mlops_platform.policy.rules.k8s_stack`."""

from __future__ import annotations

from policy_plans import DROP, Add, Drop, Patch, U, res

from policy_cases._base import DEFERRED, DEPLOY, PASSES, POD, Case, deploy, fail, ok, on, u

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
    "k8s-networkpolicy-per-namespace": Case(
        passing=(ok(), ok(Patch("fraud-deny", "metadata.namespace", U))),
        failing=(fail(on("kubernetes:core/v1:Namespace", "fraud-ns"), Drop("fraud-deny")),),
        unknown=u(PASSES, Patch("fraud-deny", "metadata.namespace", U))),
}
