"""Kubernetes across resources: serving stays available through disruptions and ships new versions with
analysis; every namespace is fenced by a NetworkPolicy; RBAC the program creates does not escalate.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlops_platform.policy.config import PolicySettings, Severity
from mlops_platform.policy.registry import Area, OnUnknown, checkov, resource_policy, stack_policy
from mlops_platform.policy.sdk import rbac
from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.graph import Res, StackView
from mlops_platform.policy.sdk.values import UNKNOWN, Defer, Violation, as_int, as_list, dig, fmt, is_unknown

#: Recommended label marking model-serving workloads.
SERVING_LABEL = ("app.kubernetes.io/component", "serving")
_KSERVE_LABEL = "serving.kserve.io/inferenceservice"


def namespace_of(stack: StackView, res: Res) -> Any:
    """A namespaced resource's namespace name; UNKNOWN when neither the value nor a dependency tells."""
    ns = res.get("metadata.namespace")
    if not is_unknown(ns):
        return ns or "default"
    found = stack.dependencies(res, (t.K8S_NAMESPACE,))
    return _ns_name(found[0]) if len(found) == 1 else UNKNOWN


def _ns_name(ns: Res) -> Any:
    return ns.get("metadata.name") or ns.name


def _selects(pdb: Res, labels: dict[str, Any]) -> bool:
    match = dig(pdb.props, "spec.selector.matchLabels")
    return isinstance(match, dict) and bool(match) and all(labels.get(k) == v for k, v in match.items())


def _serving(stack: StackView) -> Iterator[tuple[Res, dict[str, Any], Any]]:
    """(workload, pod labels, replicas) of serving Deployments and InferenceServices."""
    key, value = SERVING_LABEL
    for dep in stack.of_type(t.K8S_DEPLOYMENT):
        labels = dep.get("spec.template.metadata.labels") or {}
        own = dep.get("metadata.labels") or {}
        if isinstance(labels, dict) and value in (labels.get(key), own.get(key) if isinstance(own, dict) else None):
            yield dep, labels, dep.get("spec.replicas")
    for isvc in stack.of_type(t.KSERVE_INFERENCE_SERVICE):
        name = isvc.get("metadata.name") or isvc.name
        yield isvc, {_KSERVE_LABEL: name}, isvc.get("spec.predictor.minReplicas")


def _availability(stack: StackView, res: Res, labels: dict[str, Any], replicas: Any,
                  pdbs: dict[Any, list[Res]], minimum: int) -> Iterator[Violation | Defer]:
    ns = namespace_of(stack, res)
    if is_unknown(replicas) or is_unknown(ns):
        yield Defer("replicas / namespace", res.urn)
        return
    count = 1 if replicas is None and res.type == t.K8S_DEPLOYMENT else as_int(replicas) or 0
    if count < minimum:
        yield Violation(f"{res.name}: {count} replica(s) < {minimum}: one node drain or a cold start takes the "
                        "model offline", res.urn)
    if not any(_selects(p, labels) for p in pdbs.get(ns, [])):
        yield Violation(f"{res.name}: no PodDisruptionBudget in namespace {ns!r} selects its pods", res.urn)
    pod = dig(res.props, "spec.template.spec") or {}
    if res.type == t.K8S_DEPLOYMENT and not dig(pod, "topologySpreadConstraints") and \
            not dig(pod, "affinity.podAntiAffinity"):
        yield Violation(f"{res.name}: no topologySpreadConstraints or podAntiAffinity: replicas may share a node",
                        res.urn)


@stack_policy(
    name="k8s-serving-availability", area=Area.K8S,
    resource_types=(t.K8S_DEPLOYMENT, t.KSERVE_INFERENCE_SERVICE, t.K8S_PDB, t.K8S_NAMESPACE), severity=Severity.MEDIUM,
    description="Serving workloads (label app.kubernetes.io/component=serving, InferenceServices) keep enough "
                "replicas, a PodDisruptionBudget and spread across nodes.",
    remediation="Run ≥ min_serving_replicas replicas (InferenceService minReplicas), add a PodDisruptionBudget "
                "selecting the pods (maxUnavailable: 1) and topologySpreadConstraints on the hostname/zone.",
    url="https://kubernetes.io/docs/tasks/run-application/configure-pdb/", compliance=checkov("CKV_K8S_155"),
    settings=("min_serving_replicas",), on_unknown=OnUnknown.DEFER,
    unknown_note="Deferred when replicas or the namespace are unknown; PDBs are matched by namespace and labels.",
)
def k8s_serving_availability(stack: StackView, settings: PolicySettings) -> Iterator[Violation | Defer]:
    pdbs: dict[Any, list[Res]] = {}
    for pdb in stack.of_type(t.K8S_PDB):
        pdbs.setdefault(namespace_of(stack, pdb), []).append(pdb)
    for res, labels, replicas in _serving(stack):
        yield from _availability(stack, res, labels, replicas, pdbs, settings.min_serving_replicas)


def _canary_target(stack: StackView, res: Res) -> Any:
    """Name of the Deployment a Canary must target for a serving workload: its own, or the one KServe makes."""
    name = res.get("metadata.name")
    if is_unknown(name) or res.type == t.K8S_DEPLOYMENT:
        return name
    return UNKNOWN if is_unknown(name) else f"{name}-predictor"


def _analysed(canary: Res) -> bool:
    """A Canary that decides: analysis metrics to judge by, and analysis not skipped."""
    metrics = canary.get("spec.analysis.metrics")
    return bool(metrics) and canary.get("spec.skipAnalysis") is not True


@stack_policy(
    name="k8s-serving-progressive-delivery", area=Area.K8S,
    resource_types=(t.K8S_DEPLOYMENT, t.KSERVE_INFERENCE_SERVICE, t.FLAGGER_CANARY), severity=Severity.HIGH,
    description="Serving workloads (label app.kubernetes.io/component=serving, InferenceServices) ship new versions "
                "through a Flagger Canary with analysis metrics, never an instant 100 % switch.",
    remediation="Use ModelServing with delivery canary, blue-green or mirror (a Canary targeting the serving "
                "Deployment, or `<isvc>-predictor`, with analysis metrics); instant delivery is for dev only.",
    url="https://docs.flagger.app/usage/how-it-works", settings=("allow_instant_delivery",),
    on_unknown=OnUnknown.DEFER,
    unknown_note="Deferred when a workload's or a Canary's name, namespace or target is unknown.",
)
def k8s_serving_progressive_delivery(stack: StackView, settings: PolicySettings) -> Iterator[Violation | Defer]:
    if settings.allow_instant_delivery:
        return
    canaries: dict[tuple[Any, Any], Res] = {}
    for canary in stack.of_type(t.FLAGGER_CANARY):
        key = (namespace_of(stack, canary), canary.get("spec.targetRef.name"))
        if any(is_unknown(k) for k in key):
            yield Defer("namespace / spec.targetRef.name", canary.urn)
            return
        canaries[key] = canary
    for res, _, _ in _serving(stack):
        key = (namespace_of(stack, res), _canary_target(stack, res))
        if any(is_unknown(k) for k in key):
            yield Defer("metadata.name / namespace", res.urn)
        elif key not in canaries:
            yield Violation(f"{res.name}: no Flagger Canary targets {key[1]!r}: a new version takes 100 % of traffic "
                            "at once and nothing rolls it back", res.urn)
        elif not _analysed(canaries[key]):
            yield Violation(f"{res.name}: its Canary {canaries[key].name!r} has no analysis metrics (or skips "
                            "analysis): it promotes without judging the new version", res.urn)


def _scale_floor(res: Res) -> Any:
    """The replica floor of an HPA or KEDA ScaledObject (KEDA's default minReplicaCount is 0)."""
    if res.type == t.KEDA_SCALED_OBJECT:
        floor = res.get("spec.minReplicaCount")
        return 0 if floor is None else floor
    return res.get("spec.minReplicas")


@resource_policy(
    name="k8s-serving-scale-to-zero", area=Area.K8S, resource_types=(t.KEDA_SCALED_OBJECT, t.K8S_HPA),
    severity=Severity.MEDIUM,
    description="Autoscalers keep at least one replica (KEDA's minReplicaCount defaults to 0): a model at zero "
                "replicas drops the requests that arrive until a replica has started.",
    remediation="Set minReplicaCount (HPA minReplicas) >= 1; scale-to-zero is for dev (ModelServing "
                "scale_to_zero, refused with prod=True).",
    url="https://keda.sh/docs/latest/reference/scaledobject-spec/", settings=("allow_serving_scale_to_zero",),
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the replica floor is unknown.",
)
def k8s_serving_scale_to_zero(res: Res, settings: PolicySettings) -> Iterator[str | Defer]:
    floor = _scale_floor(res)
    if settings.allow_serving_scale_to_zero:
        return
    if is_unknown(floor):
        yield Defer("spec.minReplicaCount")
    elif (as_int(floor) or 0) < 1:
        yield f"{fmt(res.name)} scales to {floor} replicas"


@stack_policy(
    name="k8s-networkpolicy-per-namespace", area=Area.K8S, resource_types=(t.K8S_NAMESPACE, t.K8S_NETWORK_POLICY),
    severity=Severity.MEDIUM, description="Every namespace the stack creates has at least one NetworkPolicy "
                                          "(default deny, then explicit allows).",
    remediation="Add a default-deny NetworkPolicy (podSelector: {}, policyTypes: [Ingress, Egress]) plus the allows "
                "the namespace needs; the platform's project namespaces get one.",
    url="https://kubernetes.io/docs/concepts/services-networking/network-policies/",
    compliance=checkov("CKV2_K8S_6"), on_unknown=OnUnknown.RESOLVE,
    unknown_note="Namespaces are matched by name, or through the dependency graph while the name is unknown.",
)
def k8s_networkpolicy_per_namespace(stack: StackView, _: PolicySettings) -> Iterator[Violation | Defer]:
    fenced = stack.referrers((t.K8S_NETWORK_POLICY,), "metadata.namespace", (t.K8S_NAMESPACE,),
                             lambda ns: (ns.get("metadata.name"), ns.name))
    for ns in stack.of_type(t.K8S_NAMESPACE):
        if fenced.of(ns):
            continue
        if fenced.unresolved:
            yield Defer("which NetworkPolicy belongs to the namespace", ns.urn)
        else:
            yield Violation(f"namespace {fmt(_ns_name(ns))} has no NetworkPolicy: every pod accepts traffic from "
                            "every other namespace", ns.urn)


@resource_policy(
    name="k8s-rbac-no-escalation", area=Area.K8S, resource_types=(rbac.ROLE, rbac.CLUSTER_ROLE),
    severity=Severity.HIGH,
    description="Roles and ClusterRoles the program creates read no Secrets and grant no bind, escalate, "
                "impersonate or wildcard verb: whoever holds them cannot read credentials or widen their own "
                "rights.",
    remediation="List the resources and verbs the subject needs (get/list/watch to observe; create/patch/delete on "
                "the kinds it manages); mount a Secret into the pod that needs it instead of granting reads.",
    url="https://kubernetes.io/docs/concepts/security/rbac-good-practices/#privilege-escalation-risks",
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the rules are unknown.",
)
def k8s_rbac_no_escalation(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    rules = res.get("rules")
    if is_unknown(rules) or any(is_unknown(r) for r in as_list(rules)):
        yield Defer("rules")
        return
    yield from rbac.risks([r for r in as_list(rules) if isinstance(r, dict)])
