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


ROLE_T = "kubernetes:rbac.authorization.k8s.io/v1:Role"
CLUSTER_ROLE_T = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
DEPLOYER_RULES = [{"apiGroups": ["flagger.app"], "resources": ["canaries"], "verbs": ["get", "create", "patch"]},
                  {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]}]


def rbac_role(*rules: dict[str, object], cluster: bool = False) -> Add:
    """A Role `deployer` in the fraud namespace (a ClusterRole when `cluster`) with `rules`."""
    meta = {"name": "deployer"} if cluster else {"name": "deployer", "namespace": "fraud"}
    return Add(res(CLUSTER_ROLE_T if cluster else ROLE_T, "deployer", {"metadata": meta, "rules": list(rules)}))


def rule(group: str, resources: list[str], verbs: list[str]) -> dict[str, object]:
    return {"apiGroups": [group], "resources": resources, "verbs": verbs}


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
    "k8s-rbac-no-escalation": Case(
        passing=(ok(), ok(rbac_role(*DEPLOYER_RULES)),
                 ok(rbac_role(rule("", ["secrets"], ["create", "patch"]))),  # writes a Secret, reads none back
                 ok(rbac_role(rule("", ["configmaps"], ["get", "list", "watch"]), cluster=True))),
        failing=(fail(on(ROLE_T, "deployer"), rbac_role(*DEPLOYER_RULES, rule("", ["secrets"], ["get"]))),
                 fail(on(ROLE_T, "deployer"), rbac_role(rule("*", ["*"], ["list"]))),  # wildcard reads Secrets
                 fail(on(ROLE_T, "deployer"), rbac_role(rule("", ["serviceaccounts"], ["impersonate"]))),
                 fail(on(ROLE_T, "deployer"), rbac_role(rule("rbac.authorization.k8s.io", ["roles"], ["escalate"]))),
                 fail(on(ROLE_T, "deployer"), rbac_role(rule("rbac.authorization.k8s.io", ["clusterroles"],
                                                             ["bind"]))),
                 fail(on(CLUSTER_ROLE_T, "deployer"), rbac_role(rule("apps", ["deployments"], ["*"]), cluster=True))),
        unknown=u(DEFERRED, rbac_role(U))),
}
