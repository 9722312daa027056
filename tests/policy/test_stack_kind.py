"""Platform stacks and project stacks: environment-level policies apply only where the environment is created,
and a project's GPU workloads are checked against its platform environment's pools (setting `gpu_pools`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mlops_platform.cli import main
from mlops_platform.core.errors import ConfigError, UsageError
from mlops_platform.core.layers import LAYER_PROJECTS, Layer
from mlops_platform.policy import all_specs, evaluate
from mlops_platform.policy.config import Enforcement, StackKind
from mlops_platform.policy.config_files import preset, to_pulumi_config
from mlops_platform.policy.evaluate import Diagnostic
from mlops_platform.policy.registry import ENVIRONMENT_MARKERS, Kind, applies, kind_of, markers_of, stack_policy
from mlops_platform.policy.sdk import types as t
from mlops_platform.scaffold.outputs import validate_outputs
from mlops_platform.workflows.review import (
    is_platform_outputs,
    plan_kind,
    plan_types,
    platform_config,
    project_config,
    referenced_platform,
)
from policy_plans import Drop, Only, Patch, config_for, urn, variant

# k8s-inference-auth: a project stack's routes are covered by the platform's per-namespace SecurityPolicy,
# which lives in the platform's tenants stack, not in the project's
PLATFORM_ONLY = {"budget-covers-estimate", "budget-environment", "k8s-inference-auth"}
#: Per platform-only policy: what breaks it in the reference stack, and the URNs its findings name.
BREAKS: dict[str, tuple[Drop, list[str]]] = {
    "budget-covers-estimate": (Drop("env-budget"), [""]), "budget-environment": (Drop("env-budget"), [""]),
    "k8s-inference-auth": (Drop("fraud-auth"), [
        urn("kubernetes:core/v1:Namespace", "fraud-ns"),
        urn("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "fraud-route")])}
POD = "spec.template.spec"
# the reference stack without its cluster and node groups: what a project's infra/ program looks like
PROJECT_STACK = (Drop("eks"), Drop("system"), Drop("gpu-l4"), Drop("nodes-lt"))
SEVERITY = {s.name: s.severity for s in all_specs()}
PLATFORM_POOLS = {"l4": {"gpu_type": "l4", "gpus_per_node": 1}, "h100": {"gpu_type": "h100", "gpus_per_node": 8}}


def run(policy: str, *changes: Any, **settings: Any) -> list[Diagnostic]:
    found = evaluate(variant(*changes), config_for(Only((policy,), settings))).diagnostics
    assert {d.policy for d in found} <= {policy}
    return found


def test_exactly_the_environment_level_policies_are_scoped_to_platform_stacks() -> None:
    scoped = {s.name for s in all_specs() if s.scoped}
    assert scoped == PLATFORM_ONLY
    for spec in all_specs():
        if spec.scoped:  # a real pack passes each policy only its declared settings and routed types
            assert spec.kind is Kind.STACK and spec.stack_kinds == (StackKind.PLATFORM,)
            assert "stack_kind" in spec.settings and set(ENVIRONMENT_MARKERS) <= set(spec.resource_types)
        if "stack_kind" in spec.settings:  # routed evaluation must show it what `auto` decides on
            assert set(ENVIRONMENT_MARKERS) <= set(spec.resource_types), spec.name
    assert "stack_kind" in {s.name: s for s in all_specs()}["gpu-workload-targets-pool"].settings


def test_only_stack_policies_can_be_scoped() -> None:
    with pytest.raises(ValueError, match="only stack policies are scoped"):
        stack_policy(name="x-scoped-auto", stack_kinds=(StackKind.AUTO,))(lambda stack, settings: ())


@pytest.mark.parametrize("policy", sorted(PLATFORM_ONLY))
def test_environment_policies_skip_project_stacks(policy: str) -> None:
    broken, _ = BREAKS[policy]
    assert run(policy, *PROJECT_STACK, broken, estimated_monthly_p90_usd=9000.0) == []  # auto: no cluster
    assert run(policy, broken, stack_kind="project", estimated_monthly_p90_usd=9000.0) == []  # explicit


@pytest.mark.parametrize("policy", sorted(PLATFORM_ONLY))
def test_environment_policies_still_judge_platform_stacks(policy: str) -> None:
    settings = {"estimated_monthly_p90_usd": 9000.0}
    broken, found = BREAKS[policy]
    assert sorted(d.urn for d in run(policy, broken, **settings)) == found  # auto: the cluster is there
    # explicit platform: a stack that lost its cluster does not escape its budget
    assert sorted(d.urn for d in run(policy, *PROJECT_STACK, broken, stack_kind="platform", **settings)) == found


def _select(pool: str, gpus: int = 1) -> tuple[Patch, Patch]:
    limits = {"memory": "4Gi", "nvidia.com/gpu": gpus}
    return (Patch("fraud-serving", f"{POD}.nodeSelector", {"mlops.io/pool": pool}),
            Patch("fraud-serving", f"{POD}.containers.0.resources.limits", limits))


def test_project_gpu_workloads_are_checked_against_the_platform_pools() -> None:
    policy = "gpu-workload-targets-pool"
    assert run(policy, *PROJECT_STACK, *_select("h100", 8), gpu_pools=PLATFORM_POOLS) == []
    [missing] = run(policy, *PROJECT_STACK, *_select("a100"), gpu_pools=PLATFORM_POOLS)
    assert not missing.deferred and "(pools: h100, l4)" in missing.message
    [small] = run(policy, *PROJECT_STACK, *_select("l4", 2), gpu_pools=PLATFORM_POOLS)
    assert "needs 2 GPUs per pod" in small.message


def test_project_gpu_workloads_without_known_pools_are_deferred_not_failed() -> None:
    [found] = run("gpu-workload-targets-pool", *PROJECT_STACK, *_select("l4"))
    assert found.deferred and "gpu_pools" in found.message
    # ... but a pod that selects no pool at all is wrong whatever the platform has
    [unselected] = run("gpu-workload-targets-pool", *PROJECT_STACK,
                       Patch("fraud-serving", f"{POD}.nodeSelector", {}))
    assert not unselected.deferred and "selects no GPU pool" in unselected.message


def test_a_platform_stack_without_pools_fails_gpu_workloads() -> None:
    [found] = run("gpu-workload-targets-pool", Drop("gpu-l4"))
    assert not found.deferred and "(pools: system)" not in found.message and "pools: none" in found.message


def _staging(**changes: Any) -> dict[str, Any]:
    from mlops_platform.engine import platform_outputs

    return {**platform_outputs("staging"), **changes}


def test_project_config_from_platform_outputs() -> None:
    pool = {"gpu_type": "l4", "gpus_per_node": 1.0, "instance_types": ["g6.xlarge"], "max_nodes": 4.0,
            "capacity": "spot"}
    raw = _staging(gpu_pools={"l4": pool})
    assert is_platform_outputs(raw)
    outputs = validate_outputs(raw, "platform.json")
    cfg = project_config(outputs)
    assert cfg.settings.stack_kind is StackKind.PROJECT and cfg.settings.gpu_pools is not None
    assert cfg.settings.gpu_pools["l4"].gpus_per_node == 1
    assert cfg.level("k8s-resources", SEVERITY["k8s-resources"]) == preset("staging").level(
        "k8s-resources", SEVERITY["k8s-resources"]) == Enforcement.MANDATORY
    pulumi = to_pulumi_config(cfg)
    assert pulumi["budget-environment"]["stack_kind"] == "project"
    # an output without `resources` (a platform older than it) advertises whole GPUs
    assert pulumi["gpu-workload-targets-pool"]["gpu_pools"] == {"l4": {"gpu_type": "l4", "gpus_per_node": 1,
                                                                       "resources": {"nvidia.com/gpu": 1}}}
    assert project_config(outputs, "dev").default.value == "advisory"
    # the platform's webhook opt-out and Prometheus judge the project's Canaries and MetricTemplates
    assert (cfg.settings.allow_external_webhooks, cfg.settings.metrics_server_url) == (False, raw["prometheus_url"])
    opted = project_config(validate_outputs({**raw, "allow_external_webhooks": True}, "platform.json"))
    assert opted.settings.allow_external_webhooks is True


@pytest.mark.parametrize(("changes", "path"), [
    ({"tier": "qa"}, "tier"),
    ({"gpu_pools": {"l4": {"gpus_per_node": 1}}}, "gpu_pools.l4.gpu_type"),
    ({"gpu_pools": {"l4": {"gpu_type": "l4", "gpus_per_node": "many"}}}, "gpu_pools.l4.gpus_per_node"),
])
def test_bad_platform_outputs_name_the_field(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as err:
        project_config(validate_outputs(_staging(**changes), "platform.json"), source="platform.json")
    assert path in [i.path for i in err.value.issues] and "platform.json" in str(err.value)


def test_a_program_reading_two_platform_environments_is_refused() -> None:
    from mlops_platform.engine import platform_outputs

    refs = {"org/mlops-platform/dev": platform_outputs("dev"), "org/mlops-platform/prod": platform_outputs("prod")}
    with pytest.raises(UsageError, match="several platform environments"):
        referenced_platform(refs)
    one = referenced_platform({**{"org/mlops-platform/dev": platform_outputs("dev")}, "org/other/x": {"bucket": 1}})
    assert one is not None and one.environment == "dev"
    assert referenced_platform({"org/other/x": {"bucket": 1}}) is None


def test_plan_kind_follows_the_configuration_then_the_resources() -> None:
    assert plan_kind(variant(), config_for()) is StackKind.PLATFORM
    assert plan_kind(variant(*PROJECT_STACK), config_for()) is StackKind.PROJECT
    assert plan_kind(variant(), config_for(Only((), {"stack_kind": "project"}))) is StackKind.PROJECT


def test_policy_config_cli_for_a_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_platform.engine import platform_outputs

    outputs = tmp_path / "platform.json"
    outputs.write_text(json.dumps(platform_outputs("dev")))
    assert main(["policy", "config", "--platform-outputs", str(outputs), "--tier", "prod"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["budget-environment"] == {"enforcementLevel": "mandatory", "project_label": "mlops.io/project",
                                         "stack_kind": "project"}
    assert set(doc["gpu-workload-targets-pool"]["gpu_pools"]) == set(platform_outputs("dev")["gpu_pools"])
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"bucket": "x"}))
    assert main(["policy", "config", "--platform-outputs", str(other)]) == ConfigError.exit_code
    err = capsys.readouterr().err
    assert f"{other}: bucket" in err.replace("\n", "") and "cluster_name: required output is missing" in err
    assert main(["policy", "config", "dev", "--platform-outputs", str(outputs)]) == 2


def test_routed_evaluation_judges_the_stack_kind_as_the_whole_pack_does() -> None:
    """Routing hands a stack policy only its declared types: the kind must still come out the same."""
    plans = [variant(*PROJECT_STACK, Drop("env-budget"), *_select("a100")),  # project: deferred, not failed
             variant(Drop("gpu-l4"), Drop("env-budget"), *_select("a100"))]  # platform: both fail
    for plan in plans:
        routed = sorted(map(repr, evaluate(plan, config_for(), routed=True).diagnostics))
        whole = sorted(map(repr, evaluate(plan, config_for(), routed=False).diagnostics))
        assert routed == whole and routed
    platform = evaluate(plans[1], config_for(), routed=True).diagnostics
    assert {"budget-environment", "gpu-workload-targets-pool"} <= {d.policy for d in platform if not d.deferred}


def test_every_layer_stack_of_an_environment_is_judged_as_a_platform_stack(plans: Any) -> None:
    """`mlplat up` runs the pack once per layer stack (issue #9): each carries an environment marker, so
    the cluster and tenants stacks (no EKS cluster of their own) are not mistaken for project stacks."""
    plan = plans["dev"]
    for project in LAYER_PROJECTS.values():
        types = {r.type for r in plan.resources if r.urn.split("::")[1] == project}
        assert types and kind_of(StackKind.AUTO, types) is StackKind.PLATFORM, project


#: The layer stack holding what each environment-wide policy checks: the aws layer creates the environment
#: budget (programs/aws_program.py). k8s-inference-auth judges each project namespace it finds, so it runs
#: wherever namespaces are (the tenants layer and each tenant shard) and finds nothing in the others.
HELD_IN = {"budget-covers-estimate": ["aws"], "budget-environment": ["aws"],
           "k8s-inference-auth": ["aws", "cluster", "tenants"]}


def _layer_plan(plan: Any, layer: str, drop_type: str = "") -> dict[str, Any]:
    """One layer stack's share of a whole-environment plan: what the pack sees in that stack's `pulumi up`."""
    whole = plan.to_json()
    keep = [r for r in whole["resources"] if r["urn"].split("::")[1] == LAYER_PROJECTS[Layer(layer)]
            and r["type"] != drop_type]
    return {**whole, "resources": keep}


def test_each_environment_level_policy_is_judged_in_exactly_one_layer_stack(plans: Any) -> None:
    """A layer stack of an environment is a platform stack, but not every one holds the environment budget:
    each environment-level policy applies in the layer holding what it checks, and in a whole plan."""
    plan = plans["staging"]
    for spec in (s for s in all_specs() if s.name in PLATFORM_ONLY):
        holders = [layer.value for layer in Layer
                   if applies(spec, StackKind.PLATFORM, markers_of(plan_types(_layer_plan(plan, layer.value))))]
        assert holders == HELD_IN[spec.name], spec.name
        assert applies(spec, StackKind.PLATFORM, markers_of(r.type for r in plan.resources))
        assert applies(spec, StackKind.PLATFORM, ())  # `stack_kind: platform` on a stack with no layer marker


def test_layer_stacks_pass_the_pack_like_the_whole_environment(plans: Any) -> None:
    """The real pack per layer stack (no configuration: `auto`, as `mlplat up` runs it): the cluster and tenants
    stacks are not blocked for a budget they do not hold; a missing environment budget still fails the aws one."""
    plan, config = plans["staging"], platform_config("staging")
    for layer in ("cluster", "tenants"):
        found = evaluate(_layer_plan(plan, layer), config_for()).diagnostics
        assert not {d.policy for d in found} & {"budget-environment", "budget-covers-estimate"}, layer
    no_budget = evaluate(_layer_plan(plan, "aws", t.BUDGET), config).diagnostics
    assert "budget-environment" in {d.policy for d in no_budget if not d.deferred}
    whole = {**plan.to_json()}
    whole["resources"] = [r for r in whole["resources"]
                          if not (r["type"] == t.BUDGET and r["urn"].split("::")[1] == LAYER_PROJECTS[Layer.AWS])]
    assert "budget-environment" in {d.policy for d in evaluate(whole, config).diagnostics if not d.deferred}


@pytest.mark.parametrize("layer", ["tenants", "cluster"])
def test_review_of_an_upper_layer_passes_when_the_environment_passes(
        layer: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review", "staging", "--format", "json"]) == 0
    capsys.readouterr()
    assert main(["review", "staging", "--layer", layer, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"budget-environment", "budget-covers-estimate"} <= set(report["summary"]["not_applicable"])


def test_an_irsa_role_is_bound_where_both_sides_are_planned(plans: Any) -> None:
    """The aws layer makes the load balancer controller's IRSA role; the cluster layer's chart makes the
    ServiceAccount it trusts. `mlplat up` runs the pack on the aws layer alone, which cannot show that
    ServiceAccount, so `irsa-serviceaccount-binding` leaves it to the stack that holds ServiceAccounts and to
    the whole-environment review, which still fails when the binding is missing."""
    plan, config = plans["staging"], platform_config("staging")
    binding = "irsa-serviceaccount-binding"
    aws_found = evaluate(_layer_plan(plan, "aws"), config).diagnostics
    assert binding not in {d.policy for d in aws_found if not d.deferred}
    whole = {**plan.to_json()}
    whole["resources"] = [r for r in whole["resources"]
                          if not (r["type"] == "kubernetes:helm.sh/v3:Release" and "lb-controller" in r["urn"])]
    assert len(whole["resources"]) < len(plan.to_json()["resources"]), "the controller's chart is in the plan"
    unbound = [d for d in evaluate(whole, config).diagnostics if d.policy == binding and not d.deferred]
    assert any("lb-controller" in d.urn for d in unbound), unbound


def test_review_of_the_aws_layer_passes_when_the_environment_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review", "staging", "--layer", "aws", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["stack"] == "staging"
