"""Quota-fair scheduling: Kueue's chart values and configuration, and every project's ClusterQueue and
LocalQueue against Kueue 0.19.2's published CRD schemas (tests/fixtures/upstream/crds/kueue.x-k8s.io), with
nominal quotas equal to the project's quotas. Staging schedules with cohort borrowing, prod without."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlops_platform.config import load_env
from mlops_platform.config.rules import check_rules
from mlops_platform.config.rules_gpu import shared_resources
from mlops_platform.config.sections import ProjectConfig
from mlops_platform.core.contract import QUEUE_LABEL
from mlops_platform.core.gpu_sharing import TIME_SLICED_GPU
from mlops_platform.engine import Plan
from mlops_platform.k8s.kueue import COHORT, DEFAULT_FLAVOR, KUEUE_API, KueueArgs, manager_config
from mlops_platform.k8s.project_queue import QueueSettings, cluster_queue_spec, quota_ceiling, weight_quantity
from pydantic import ValidationError

from .crds import manifest
from .planview import helm_values, k8s_of
from .test_upstream_fixtures import as_sent
from .upstream import crd_validator

KINDS = ("ClusterQueue", "LocalQueue", "ResourceFlavor")


def queue_objects(plan: Plan, kind: str) -> list[Any]:
    return k8s_of(plan, f"kubernetes:{KUEUE_API}:{kind}")


def test_kueue_is_off_unless_the_environment_turns_it_on(plans: Any) -> None:
    assert load_env("dev").queueing.enabled is False
    assert not any(queue_objects(plans["dev"], kind) for kind in KINDS)
    assert not [r for r in plans["dev"].resources if r.type == "mlops:k8s:Kueue"]


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_every_queue_object_validates_against_the_published_schema(plans: Any, env: str) -> None:
    """kueue.x-k8s.io v1beta2 at v0.19.2 (config/components/crd/bases): types, enums, patterns, and the CEL
    rule `flavors must have the same number of resources as the coveredResources` checked by hand."""
    for kind in KINDS:
        found = queue_objects(plans[env], kind)
        assert found, f"{env} has no {kind}"
        validator = crd_validator("kueue.x-k8s.io", kind, "v1beta2")
        for res in found:
            errors = validator.iter_errors(as_sent(manifest(res)))
            assert [f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors] == [], res.name
    for cq in queue_objects(plans[env], "ClusterQueue"):
        for group in cq.get("spec.resourceGroups"):
            assert all(len(f["resources"]) == len(group["coveredResources"]) for f in group["flavors"])


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_each_project_queue_holds_exactly_its_quota(plans: Any, env: str) -> None:
    cfg, plan = load_env(env), plans[env]
    queues = {r.get("metadata.name"): r for r in queue_objects(plan, "ClusterQueue")}
    local = {r.get("metadata.namespace"): r for r in queue_objects(plan, "LocalQueue")}
    assert set(queues) == set(local) == {p.name for p in cfg.projects}
    for p in cfg.projects:
        spec = queues[p.name].get("spec")
        assert spec["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": p.name}}
        (group,) = spec["resourceGroups"]
        (flavor,) = group["flavors"]
        assert flavor["name"] == DEFAULT_FLAVOR
        nominal = {r["name"]: r["nominalQuota"] for r in flavor["resources"]}
        assert nominal["cpu"] == str(p.cpu_quota) and nominal["memory"] == f"{p.memory_quota_gib}Gi"
        assert nominal["nvidia.com/gpu"] == str(p.gpu_quota)
        assert {k: v for k, v in nominal.items() if k not in ("cpu", "memory", "nvidia.com/gpu")} == {
            res: str(p.gpu_slices) for res in shared_resources(cfg)}
        assert local[p.name].get("metadata.name") == p.name
        assert local[p.name].get("spec") == {"clusterQueue": p.name}


def test_borrowing_is_bounded_and_the_namespace_quota_allows_exactly_it(plans: Any) -> None:
    """Staging: a cohort, borrowing up to 50 % of each own quota, reclaim by preemption; the namespace's
    ResourceQuota admits own + borrowable (a lower one would refuse the pods Kueue admitted)."""
    cfg, plan = load_env("staging"), plans["staging"]
    assert cfg.queueing.cohort_borrowing and cfg.queueing.borrowing_limit_pct == 50
    (project,) = cfg.projects
    (cq,) = queue_objects(plan, "ClusterQueue")
    spec = cq.get("spec")
    assert spec["cohortName"] == COHORT
    assert spec["preemption"]["reclaimWithinCohort"] == "Any"
    limits = {r["name"]: r["borrowingLimit"] for r in spec["resourceGroups"][0]["flavors"][0]["resources"]}
    assert limits["nvidia.com/gpu"] == str(math.ceil(project.gpu_quota * 0.5))
    assert limits["memory"] == f"{math.ceil(project.memory_quota_gib * 0.5)}Gi"
    (quota,) = [q for q in k8s_of(plan, "kubernetes:core/v1:ResourceQuota")
                if q.get("metadata.namespace") == project.name]
    hard = quota.get("spec.hard")
    assert hard["requests.nvidia.com/gpu"] == str(project.gpu_quota + math.ceil(project.gpu_quota * 0.5))
    assert hard["requests.cpu"] == str(project.cpu_quota + math.ceil(project.cpu_quota * 0.5))
    assert hard[f"requests.{TIME_SLICED_GPU}"] == str(project.gpu_slices + math.ceil(project.gpu_slices * 0.5))


def test_without_a_cohort_nothing_is_borrowed(plans: Any) -> None:
    for cq in queue_objects(plans["prod"], "ClusterQueue"):
        spec = cq.get("spec")
        assert "cohortName" not in spec and spec["preemption"]["reclaimWithinCohort"] == "Never"
        assert all("borrowingLimit" not in r for r in spec["resourceGroups"][0]["flavors"][0]["resources"])


def test_quota_ceiling_is_the_quota_without_borrowing() -> None:
    p = ProjectConfig(name="a", owners=["a@example.com"], github_repo="o/a", gpu_quota=3, gpu_slices=8)
    assert quota_ceiling(p, (TIME_SLICED_GPU,), None) == {"cpu": 16, "memory": 64, "nvidia.com/gpu": 3,
                                                          TIME_SLICED_GPU: 8}
    assert quota_ceiling(p, (), QueueSettings(cohort=None)) == {"cpu": 16, "memory": 64, "nvidia.com/gpu": 3}
    assert quota_ceiling(p, (), QueueSettings(cohort="c", borrowing_limit_pct=10))["nvidia.com/gpu"] == 4  # ceil
    assert cluster_queue_spec("a", p, (), QueueSettings())["preemption"]["reclaimWithinCohort"] == "Never"


@given(cpu=st.integers(1, 512), gpus=st.integers(0, 64), slices=st.integers(0, 64), pct=st.integers(1, 1000))
def test_borrowing_ceiling_is_the_quota_plus_at_most_pct(cpu: int, gpus: int, slices: int, pct: int) -> None:
    p = ProjectConfig(name="a", owners=["a@example.com"], github_repo="o/a", cpu_quota=cpu, gpu_quota=gpus,
                      gpu_slices=slices)
    own = quota_ceiling(p, (TIME_SLICED_GPU,), None)
    ceiling = quota_ceiling(p, (TIME_SLICED_GPU,), QueueSettings(cohort=COHORT, borrowing_limit_pct=pct))
    for res, n in own.items():
        assert n <= ceiling[res] < n + n * pct / 100 + 1  # rounded up, never more than one unit over
        assert (ceiling[res] == n) is (n == 0)  # nothing to lend on a zero quota, something on any other


# ---------------------------------------------------------------- the controller
def test_controller_is_hardened_and_replicated_with_a_pdb_in_prod(plans: Any) -> None:
    for env, replicas in (("staging", 1), ("prod", 2)):
        values = helm_values(plans[env], "kueue")
        cm = values["controllerManager"]
        assert cm["replicas"] == replicas
        assert cm["podDisruptionBudget"] == {"enabled": replicas > 1, "minAvailable": 1}
        manager = cm["manager"]
        # the git values.yaml names the staging image `:main`: the release image is pinned here
        assert manager["image"]["repository"] == "registry.k8s.io/kueue/kueue" and manager["image"]["tag"] == "v0.19.2"
        assert manager["resources"]["limits"]["memory"] and manager["resources"]["requests"]["cpu"]
        assert values["enableKueueViz"] is False


def test_gang_scheduling_and_integrations_are_configured(plans: Any) -> None:
    """waitForPodsReady (all pods of an admitted job ready in time, else evict + requeue), RayJob and the
    pod integration (Argo steps), the latter only in project namespaces; unlabelled jobs are not managed."""
    for env in ("staging", "prod"):
        config = json.loads(helm_values(plans[env], "kueue")["managerConfig"]["controllerManagerConfigYaml"])
        assert config["apiVersion"] == "config.kueue.x-k8s.io/v1beta2" and config["kind"] == "Configuration"
        assert config["waitForPodsReady"]["timeout"] == f"{load_env(env).queueing.pods_ready_timeout_minutes}m"
        assert {"ray.io/rayjob", "ray.io/raycluster", "batch/job", "pod"} <= set(config["integrations"]["frameworks"])
        assert config["manageJobsWithoutQueueName"] is False
        assert config["managedJobsNamespaceSelector"] == {
            "matchExpressions": [{"key": "mlops.io/project", "operator": "Exists"}]}
        assert ("fairSharing" in config) is load_env(env).queueing.cohort_borrowing


def test_fair_sharing_only_with_borrowing() -> None:
    args = dict(k8s_version="1.35", provider=None, project_label="mlops.io/project")
    assert "fairSharing" not in manager_config(KueueArgs(**args))  # type: ignore[arg-type]
    assert manager_config(KueueArgs(**args, fair_sharing=True))["fairSharing"]["preemptionStrategies"]  # type: ignore[arg-type]


def test_projects_learn_their_queue_from_the_outputs(plans: Any) -> None:
    for env, expect in (("dev", False), ("staging", True)):
        projects = plans[env].outputs["projects"]
        assert all(bool(p["queue"]) is expect for p in projects.values())
        if expect:
            assert all(p["queue"] == p["namespace"] for p in projects.values())


# ---------------------------------------------------------------- config rules
def test_borrowing_needs_kueue() -> None:
    cfg = load_env("dev")
    bad = cfg.model_copy(update={"queueing": cfg.queueing.model_copy(update={"cohort_borrowing": True})})
    issues = [i for i in check_rules(bad) if i.path == "queueing.cohort_borrowing"]
    assert len(issues) == 1 and "set queueing.enabled: true" in issues[0].fix


def test_queue_label_constant_is_kueues() -> None:
    # kueue pkg/controller/constants: QueueLabel = "kueue.x-k8s.io/queue-name"
    assert QUEUE_LABEL == "kueue.x-k8s.io/queue-name"


def test_the_api_server_reaches_the_webhooks_and_the_visibility_api(plans: Any) -> None:
    """kueue chart: webhook Service → 9443, visibility-server Service → 8082 (templates/visibility/service.yaml);
    everything else into kueue-system stays fenced."""
    (policy,) = [p for p in k8s_of(plans["prod"], "kubernetes:networking.k8s.io/v1:NetworkPolicy")
                 if p.get("metadata.namespace") == "kueue-system" and p.get("metadata.name") == "allow-service-ports"]
    assert [port["port"] for port in policy.get("spec.ingress")[0]["ports"]] == [9443, 8082]


# ---------------------------------------------------------------- fair sharing
#: kueue v0.19.2 pkg/config/validation.go `validStrategySets`: the only accepted preemptionStrategies lists.
VALID_STRATEGY_SETS = (["LessThanOrEqualToFinalShare"], ["LessThanInitialShare"],
                       ["LessThanOrEqualToFinalShare", "LessThanInitialShare"])


def test_fair_sharing_is_enabled_by_its_section_with_a_valid_strategy_set() -> None:
    """config.kueue.x-k8s.io/v1beta2 has no `fairSharing.enable`: the section's presence turns fair sharing on
    (v0.19.2 pkg/scheduler/preemption/fairsharing/strategy.go `Enabled` = non-nil), and Kueue refuses to start
    unless preemptionStrategies is one of the valid sets."""
    args = dict(k8s_version="1.35", provider=None, project_label="mlops.io/project", fair_sharing=True)
    section = manager_config(KueueArgs(**args))["fairSharing"]  # type: ignore[arg-type]
    assert set(section) == {"preemptionStrategies"} and section["preemptionStrategies"] in VALID_STRATEGY_SETS


@pytest.mark.parametrize(("weight", "quantity"), [(1.0, "1"), (0.5, "0.5"), (2.25, "2.25"), (0.0, "0"),
                                                  (1 / 3, "0.333"), (100.0, "100")])
def test_weights_render_as_kubernetes_quantities(weight: float, quantity: str) -> None:
    assert weight_quantity(weight) == quantity


def test_each_borrowing_queue_carries_its_projects_weight(plans: Any) -> None:
    cfg = load_env("staging")
    weights = {r.get("metadata.name"): r.get("spec.fairSharing") for r in queue_objects(plans["staging"],
                                                                                       "ClusterQueue")}
    assert weights == {p.name: {"weight": weight_quantity(p.fair_share_weight)} for p in cfg.projects}
    assert all("fairSharing" not in r.get("spec") for r in queue_objects(plans["prod"], "ClusterQueue"))


def test_a_weighted_queue_validates_against_the_published_schema() -> None:
    project = ProjectConfig(name="fraud", owners=["a@example.com"], github_repo="o/r", gpu_quota=2,
                            fair_share_weight=2.5)
    spec = cluster_queue_spec("fraud", project, (TIME_SLICED_GPU,), QueueSettings(cohort=COHORT))
    assert spec["fairSharing"] == {"weight": "2.5"}
    cq = {"apiVersion": KUEUE_API, "kind": "ClusterQueue", "metadata": {"name": "fraud"}, "spec": spec}
    validator = crd_validator("kueue.x-k8s.io", "ClusterQueue", "v1beta2")
    assert [e.message for e in validator.iter_errors(as_sent(cq))] == []


def test_a_weight_needs_cohort_borrowing() -> None:
    cfg = load_env("prod")  # queueing on, no borrowing
    weighted = ProjectConfig.model_validate({**cfg.projects[0].model_dump(), "fair_share_weight": 3.0})
    bad = cfg.model_copy(update={"projects": [weighted, *cfg.projects[1:]]})
    [issue] = [i for i in check_rules(bad) if i.path.endswith("fair_share_weight")]
    assert issue.path == "projects[0].fair_share_weight" and issue.value == 3.0
    assert "queueing.cohort_borrowing: true" in issue.fix and "within the cohort" in issue.message
    staging = load_env("staging")
    ok = staging.model_copy(update={"projects": [ProjectConfig.model_validate(
        {**staging.projects[0].model_dump(), "fair_share_weight": 3.0})]})
    assert not [i for i in check_rules(ok) if i.path.endswith("fair_share_weight")]


@pytest.mark.parametrize("weight", [-1, 101])
def test_a_weight_outside_0_to_100_is_refused(weight: float) -> None:
    with pytest.raises(ValidationError, match="fair_share_weight"):
        ProjectConfig(name="fraud", owners=["a@example.com"], github_repo="o/r", fair_share_weight=weight)
