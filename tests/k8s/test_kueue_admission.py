"""Kueue cannot be bypassed in a project namespace, and the first `up` meets Kueue's webhooks ready.

Bypass: with cohort borrowing the namespace ResourceQuota allows quota + borrowing limit, and Kueue manages only
jobs labelled `kueue.x-k8s.io/queue-name` (`manageJobsWithoutQueueName: false`), so the ValidatingAdmissionPolicy
of k8s/queue_admission.py refuses unlabelled batch work. Its CEL is evaluated here by cel-python the way the API
server does (match condition first, then the validation).

Ordering: the facts of Kueue 0.19.2's chart are in tests/fixtures/upstream/kueue-0.19.2-webhooks.json.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from mlops_platform.core.contract import QUEUE_LABEL
from mlops_platform.core.gpu_sharing import MIG_PROFILES, WHOLE_GPU, GpuSharing, shared_resource
from mlops_platform.core.layers import LAYER_ORDER, LAYER_PROJECTS, Layer
from mlops_platform.core.versions import CHARTS
from mlops_platform.engine import Plan
from mlops_platform.k8s.admission import project_binding
from mlops_platform.k8s.project_pipeline import (
    ProjectPipelineArgs,
    StepResources,
    TrainingBackend,
    workflow_template_spec,
)
from mlops_platform.k8s.queue_admission import POLICY_NAME, batch_pod_condition, queue_expression, queue_policy
from mlops_platform.k8s.training import OPERATOR_USERNAME

from .k8s_cel import evaluate
from .planview import BINDING, VAP, helm_values, k8s_of
from .upstream import UPSTREAM, upstream_values

WEBHOOKS = json.loads((UPSTREAM / "kueue-0.19.2-webhooks.json").read_text())
GPU = {"limits": {"nvidia.com/gpu": 1}}


KUBERAY = OPERATOR_USERNAME
#: the requesters that create pods of each owner kind (kube-controller-manager's controllers run as their own
#: kube-system ServiceAccounts; KubeRay creates its RayClusters' pods); a tenant or Argo is anyone else
CONTROLLERS = {"ReplicaSet": "system:serviceaccount:kube-system:replicaset-controller",
               "Job": "system:serviceaccount:kube-system:job-controller", "RayCluster": KUBERAY}
ARGO = "system:serviceaccount:argo:argo-workflows-workflow-controller"
TENANT = "system:serviceaccount:fraud:fraud-pipeline"


def verdict(obj: dict[str, Any], resource: str, user: str = TENANT, operation: str = "CREATE") -> str:
    """'skipped' (the match condition leaves it alone: admitted unjudged), 'admitted' or 'refused', through the
    shared CEL helper (an evaluation error refuses, as failurePolicy Fail does)."""
    namespace = "fraud"
    request = {"resource": {"resource": resource}, "userInfo": {"username": user}, "operation": operation}
    if not evaluate(batch_pod_condition(), obj, namespace, request):
        return "skipped"
    return "admitted" if evaluate(queue_expression(), obj, namespace, request) else "refused"


def obj(labels: dict[str, str] | None = None, owner: str | None = None, resources: dict[str, Any] | None = None,
        init: dict[str, Any] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "x", "namespace": "fraud"}
    if labels is not None:
        meta["labels"] = labels
    if owner:
        group = {"ReplicaSet": "apps/v1", "StatefulSet": "apps/v1", "Job": "batch/v1"}.get(owner, "ray.io/v1")
        meta["ownerReferences"] = [{"kind": owner, "name": "o", "apiVersion": group, "uid": "u", "controller": True}]
    spec: dict[str, Any] = {"containers": [{"name": "c", "resources": resources or {}}]}
    if init is not None:
        spec["initContainers"] = [{"name": "i", "resources": init}]
    return {"metadata": meta, "spec": spec}


def submitter_job() -> dict[str, Any]:
    """The driver Job KubeRay v1.4.2 creates for a RayJob in K8sJobMode (ray-operator/controllers/ray/
    rayjob_controller.go `createNewK8sJob`): KubeRay's three labels only, controller-owned by the RayJob."""
    made = obj({"ray.io/originated-from-cr-name": "train-abc", "ray.io/originated-from-crd": "RayJob",
                "app.kubernetes.io/created-by": "kuberay-operator"}, owner="RayJob")
    made["metadata"]["name"] = "train-abc"
    return made


QUEUED, OTHER = {QUEUE_LABEL: "fraud"}, {QUEUE_LABEL: "risk"}


@pytest.mark.parametrize(("resource", "made", "user", "expected"), [
    ("jobs", obj(QUEUED), TENANT, "admitted"), ("jobs", obj({"app": "x"}), TENANT, "refused"),
    ("jobs", obj(), TENANT, "refused"),
    ("jobs", obj(OTHER), TENANT, "refused"),  # another project's queue: it would wait forever, or use their quota
    ("rayjobs", obj(QUEUED), ARGO, "admitted"), ("rayjobs", obj({}), TENANT, "refused"),
    # KubeRay 1.4.2 copies a RayJob's labels to the RayCluster it creates (constructRayClusterForRayJob)
    ("rayclusters", obj(QUEUED, owner="RayJob"), KUBERAY, "admitted"), ("rayclusters", obj(), TENANT, "refused"),
    # the RayJob's submitter Job: KubeRay's labels only; exempt when (and only when) the operator creates it
    ("jobs", submitter_job(), KUBERAY, "skipped"),
    ("jobs", submitter_job(), TENANT, "refused"),  # a forged RayJob owner is no exemption
    ("jobs", obj(), KUBERAY, "refused"),  # the operator's Jobs are exempt only as a RayJob's
    # pods: a workflow's GPU step and a bare GPU pod are batch work; CPU steps and serving pods are not queued
    ("pods", obj(QUEUED, owner="Workflow", resources=GPU), ARGO, "admitted"),
    ("pods", obj({}, owner="Workflow", resources=GPU), ARGO, "refused"),
    ("pods", obj({}, resources={"requests": {"nvidia.com/mig-1g.10gb": 1}}), TENANT, "refused"),
    ("pods", obj({}, owner="Workflow", resources={"limits": {"nvidia.com/gpu.shared": 1}}), ARGO, "refused"),
    ("pods", obj({}, owner="Workflow", resources={"limits": {"cpu": "1"}}), ARGO, "skipped"),
    # an init container holds its GPUs while it runs: judged like a container
    ("pods", obj({}, owner="Workflow", init=GPU), ARGO, "refused"),
    ("pods", obj(QUEUED, owner="Workflow", init=GPU), ARGO, "admitted"),
    ("pods", obj({}, owner="Workflow", init={"limits": {"cpu": "1"}}), ARGO, "skipped"),
    # pods admitted through their owner, when its controller creates them
    ("pods", obj({}, owner="ReplicaSet", resources=GPU), CONTROLLERS["ReplicaSet"], "skipped"),
    ("pods", obj({}, owner="Job", resources=GPU), CONTROLLERS["Job"], "skipped"),  # admitted through its Job
    ("pods", obj({}, owner="Job", init=GPU), "system:kube-controller-manager", "skipped"),
    ("pods", obj({}, owner="RayCluster", resources=GPU), KUBERAY, "skipped"),
    # an owner reference anyone can write: a GPU pod with a forged owner is judged like a bare one
    ("pods", obj({}, owner="ReplicaSet", resources=GPU), TENANT, "refused"),
    ("pods", obj({}, owner="ConfigMap", resources=GPU), TENANT, "refused"),
    ("pods", obj({}, owner="RayCluster", resources=GPU), CONTROLLERS["Job"], "refused"),
])
def test_batch_work_must_name_its_projects_queue(resource: str, made: dict[str, Any], user: str,
                                                 expected: str) -> None:
    assert verdict(made, resource, user) == expected


def test_the_garbage_collector_may_finish_deleting_what_it_does_not_judge() -> None:
    """Its UPDATEs only drop owner references and finalizers: an exempt Job or serving pod must stay deletable.
    It creates nothing, and anyone else's UPDATE is still judged (the label cannot be removed later)."""
    collector = "system:serviceaccount:kube-system:generic-garbage-collector"
    assert verdict(submitter_job(), "jobs", collector, "UPDATE") == "skipped"
    assert verdict(obj({}, owner="ReplicaSet", resources=GPU), "pods", collector, "UPDATE") == "skipped"
    assert verdict(obj(), "jobs", collector, "CREATE") == "refused"
    assert verdict(obj({}), "jobs", TENANT, "UPDATE") == "refused"


@pytest.mark.parametrize("sharing", list(GpuSharing))
def test_every_gpu_resource_a_pool_can_advertise_needs_the_queue(sharing: GpuSharing) -> None:
    """The CEL is built from core.gpu_sharing, so a resource it adds is judged too: a whole GPU, each MIG profile
    of each GPU model, the time-sliced replica."""
    advertised = {WHOLE_GPU} if sharing is GpuSharing.NONE else {
        r.resource for gpu_type, profiles in MIG_PROFILES.items() for p in profiles
        if (r := shared_resource(sharing, gpu_type, replicas=4, mig_profile=p))}
    assert advertised
    for name in advertised:
        for block in ("limits", "requests"):
            assert verdict(obj({}, resources={block: {name: 1}}), "pods") == "refused", (name, block)
            assert verdict(obj(QUEUED, resources={block: {name: 1}}), "pods") == "admitted", (name, block)


def test_the_pipelines_ray_training_runs_under_the_policy() -> None:
    """The generated train step's RayJob (created by the pipeline ServiceAccount) names the queue, and the driver
    Job KubeRay then creates for it is left to run: the RayJob was admitted by Kueue as a whole."""
    made = ProjectPipelineArgs(project="fraud", namespace="fraud", package="fraud", image="i@sha256:" + "a" * 64,
                               service_account="fraud-pipeline", schedule="0 3 * * 1", provider=None,
                               backend=TrainingBackend.RAY, train=StepResources(gpus=1), gpu_type="l4", queue="fraud")
    [train] = [t for t in workflow_template_spec(made)["templates"] if t["name"] == "train"]
    job = json.loads(train["resource"]["manifest"])
    assert verdict(job, "rayjobs", TENANT) == "admitted"
    cluster = {"metadata": {**job["metadata"], "ownerReferences": submitter_job()["metadata"]["ownerReferences"]},
               "spec": job["spec"]["rayClusterSpec"]}
    assert verdict(cluster, "rayclusters", KUBERAY) == "admitted"  # KubeRay copies the RayJob's labels
    assert verdict(submitter_job(), "jobs", KUBERAY) == "skipped"


def test_the_exempt_identity_is_the_operators_as_installed(plans: Any) -> None:
    """The exemption names `system:serviceaccount:<namespace>:<name>` of the KubeRay operator: the release's
    namespace and the ServiceAccount name it sets (kuberay-operator 1.4.2 values.yaml `serviceAccount.name`,
    rendered by templates/serviceaccount.yaml when `serviceAccount.create`, the fixture's keys)."""
    upstream = upstream_values("kuberay-operator", CHARTS["kuberay-operator"].version)
    assert {"serviceAccount.create", "serviceAccount.name"} <= set(upstream.keys)
    [release] = [r for r in plans["prod"].resources
                 if r.type == "kubernetes:helm.sh/v3:Release" and r.get("name") == "kuberay-operator"]
    account = release.get("values")["serviceAccount"]
    assert account["create"] is True
    assert f"system:serviceaccount:{release.get('namespace')}:{account['name']}" == OPERATOR_USERNAME


def test_the_policy_covers_jobs_ray_and_pods_and_fails_closed() -> None:
    spec = queue_policy()
    assert spec["failurePolicy"] == "Fail"
    assert {r for rule in spec["matchConstraints"]["resourceRules"] for r in rule["resources"]} == {
        "jobs", "rayjobs", "rayclusters", "pods"}
    assert "kueue.x-k8s.io/queue-name" in spec["validations"][0]["messageExpression"]


@pytest.mark.parametrize(("env", "present"), [("dev", False), ("staging", True), ("prod", True)])
def test_the_policy_is_bound_to_project_namespaces_wherever_kueue_runs(plans: Any, env: str, present: bool) -> None:
    plan: Plan = plans[env]
    policies = [r for r in k8s_of(plan, VAP) if r.get("metadata.name") == POLICY_NAME]
    bindings = [r for r in k8s_of(plan, BINDING) if r.get("metadata.name") == POLICY_NAME]
    assert (len(policies), len(bindings)) == ((1, 1) if present else (0, 0))
    if present:
        assert policies[0].get("spec") == queue_policy()
        assert bindings[0].get("spec") == project_binding(POLICY_NAME)
        assert policies[0].urn in bindings[0].dependencies
        # created with Kueue in the cluster layer, before any project namespace exists
        assert policies[0].urn.split("::")[1] == LAYER_PROJECTS[Layer.CLUSTER]


# ------------------------------------------------------------------ first `up`: Kueue's webhooks
def _hooks(resource: str) -> list[dict[str, Any]]:
    return [w for w in WEBHOOKS["webhooks"] if resource in w["resources"]]


def test_kueues_job_webhooks_fail_closed_only_in_project_namespaces(plans: Any) -> None:
    """Every job/pod webhook of the chart is failurePolicy Fail (pod: because the pod integration is on) with the
    manager config's managedJobsNamespaceSelector, which the platform sets to project namespaces. So a Kueue
    outage refuses batch work in projects (never admits it unqueued), and never blocks a platform pod — Kueue's
    own included, so it can always restart."""
    config = json.loads(helm_values(plans["prod"], "kueue")["managerConfig"]["controllerManagerConfigYaml"])
    for resource in ("jobs", "rayjobs", "rayclusters", "pods"):
        hooks = _hooks(resource)
        assert hooks, resource  # the fixture lists each resource's webhooks; an empty list would prove nothing
        for hook in hooks:
            policy = hook["failurePolicy"]
            if isinstance(policy, dict):
                assert policy["if_framework"] in config["integrations"]["frameworks"]
                policy = policy["then"]
            assert (policy, hook["namespaceSelector"]) == ("Fail", "managedJobsNamespaceSelector"), hook
    assert config["managedJobsNamespaceSelector"] == {
        "matchExpressions": [{"key": "mlops.io/project", "operator": "Exists"}]}
    cluster_namespaces = [r for r in k8s_of(plans["prod"], "kubernetes:core/v1:Namespace")
                          if r.urn.split("::")[1] == LAYER_PROJECTS[Layer.CLUSTER]]
    assert cluster_namespaces and not [n for n in cluster_namespaces if "mlops.io/project" in
                                       (n.get("metadata.labels") or {})]


def test_nothing_kueue_gates_is_created_before_its_webhooks_serve(plans: Any) -> None:
    """The chart's queue webhooks (ClusterQueue, ResourceFlavor) fail closed too. The release is atomic (Helm
    waits until Kueue is Ready), and Kueue is Ready only once its certificates and CA bundles are in place and
    its webhook server runs (fixture `readiness`). What those webhooks gate is created after the release: the
    ResourceFlavor depends on it, and the queues and every project's pods/jobs live in the tenants layer, which
    `up` applies after the cluster layer."""
    assert "readyz" in WEBHOOKS["readiness"]["fact"] and "CA bundles" in WEBHOOKS["readiness"]["fact"]
    assert {h["failurePolicy"] for r in ("clusterqueues", "resourceflavors") for h in _hooks(r)} == {"Fail"}
    plan: Plan = plans["prod"]
    [release] = [r for r in plan.resources if r.type == "kubernetes:helm.sh/v3:Release" and r.get("name") == "kueue"]
    assert release.get("atomic") is True
    [flavor] = k8s_of(plan, "kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor")
    assert release.urn in flavor.dependencies
    tenants = LAYER_PROJECTS[Layer.TENANTS]
    assert LAYER_ORDER.index(Layer.CLUSTER) < LAYER_ORDER.index(Layer.TENANTS)
    for kind in ("ClusterQueue", "LocalQueue"):
        queues = k8s_of(plan, f"kubernetes:kueue.x-k8s.io/v1beta2:{kind}")
        assert queues and all(q.urn.split("::")[1] == tenants for q in queues)
    # and the tenants layer creates no batch work of its own that the queue-label policy would refuse
    assert not [r for r in plan.resources if r.urn.split("::")[1] == tenants and r.type in (
        "kubernetes:batch/v1:Job", "kubernetes:ray.io/v1:RayJob", "kubernetes:ray.io/v1:RayCluster",
        "kubernetes:core/v1:Pod")]
