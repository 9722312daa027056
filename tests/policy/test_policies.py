"""Every policy, through the analyzer servicer, on its passing, failing and unknown-at-preview fixtures."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from mlops_platform.policy import all_specs, evaluate
from mlops_platform.policy.evaluate import Diagnostic
from mlops_platform.policy.registry import OnUnknown
from policy_cases import CASES, DEFERRED, PASSES, VIOLATES, Case, Failing
from policy_cases._base import PUSH, gh_policy, gh_role
from policy_cases.github_oidc import gh_environment
from policy_plans import Add, Change, Drop, Only, U, config_for, variant

SPECS = {s.name: s for s in all_specs()}


def run_one(policy: str, plan: dict, settings: dict | None = None) -> list[Diagnostic]:
    """Diagnostics of one policy (all others disabled) over a plan."""
    found = evaluate(plan, config_for(Only((policy,), settings or {}))).diagnostics
    assert {d.policy for d in found} <= {policy}, found
    return found


def outcome(found: list[Diagnostic]) -> str:
    if any(not d.deferred for d in found):
        return VIOLATES
    return DEFERRED if found else PASSES


def test_reference_stack_passes_the_whole_pack() -> None:
    result = evaluate(variant(), config_for())
    assert result.diagnostics == []
    # 28 shared (EKS cluster, 2 node groups + launch template, 2 buckets with their 6 settings each, KMS key,
    # log group, RDS, OIDC provider, a role, a Helm release, the budget, an ECR creation template, ...) + the
    # one project's 15
    # (policy_plans._PROJECT_RESOURCES: IRSA role and policy, repository and its 2 policies, namespace,
    # default-deny, service account, Deployment, PDB, Service, HTTPRoute, SecurityPolicy, Canary, budget)
    assert result.resources == 43


def test_every_policy_has_complete_metadata_and_fixtures() -> None:
    assert len(SPECS) >= 60
    assert set(CASES) == set(SPECS), set(CASES) ^ set(SPECS)
    for name, spec in SPECS.items():
        case = CASES[name]
        assert case.passing and case.failing, name
        assert spec.description.endswith(".") and len(spec.remediation) > 30, name
        assert urlparse(spec.url).scheme == "https" and urlparse(spec.url).netloc, name
        assert spec.resource_types and spec.unknown_note, name


def test_compliance_mappings_cover_the_checkov_reference_checks() -> None:
    refs = {c.reference for s in SPECS.values() for c in s.compliance}
    for checkov_id in ("CKV_AWS_39", "CKV_AWS_58", "CKV_AWS_37", "CKV_AWS_339", "CKV_AWS_100", "CKV_AWS_79",
                       "CKV_AWS_341", "CKV_AWS_53", "CKV_AWS_70", "CKV_AWS_145", "CKV_AWS_21", "CKV_AWS_18",
                       "CKV_AWS_300", "CKV_AWS_51", "CKV_AWS_163", "CKV_AWS_136", "CKV_AWS_32", "CKV_AWS_62",
                       "CKV_AWS_63", "CKV_AWS_355", "CKV_AWS_286", "CKV_AWS_60", "CKV_AWS_7", "CKV_AWS_33",
                       "CKV_AWS_66", "CKV_AWS_158", "CKV_K8S_14", "CKV_K8S_10"):
        assert checkov_id in refs, checkov_id


@pytest.mark.parametrize("policy", sorted(CASES))
def test_passing_fixtures_pass(policy: str) -> None:
    case: Case = CASES[policy]
    for changes in case.passing:
        assert run_one(policy, variant(*changes), case.pass_settings) == [], changes


def _failing(policy: str) -> list[tuple[str, int, Failing]]:
    return [(policy, i, f) for i, f in enumerate(CASES[policy].failing)]


@pytest.mark.parametrize(("policy", "index", "fixture"), [x for p in sorted(CASES) for x in _failing(p)],
                         ids=lambda v: v if isinstance(v, str) else str(v) if isinstance(v, int) else "")
def test_failing_fixtures_fail_on_the_right_resource(policy: str, index: int, fixture: Failing) -> None:
    found = run_one(policy, variant(*fixture.changes), fixture.settings)
    violations = [d for d in found if not d.deferred]
    assert violations, f"{policy}[{index}] did not fire"
    assert {d.urn for d in violations} == set(fixture.on), violations
    assert all(d.message and d.severity is SPECS[policy].severity for d in violations)


@pytest.mark.parametrize("policy", sorted(CASES))
def test_unknown_values_are_handled_as_declared(policy: str) -> None:
    changes, expected = CASES[policy].unknown
    found = run_one(policy, variant(*changes))
    assert outcome(found) == expected, found
    declared = SPECS[policy].on_unknown
    allowed = {OnUnknown.DEFER: {DEFERRED}, OnUnknown.PASS: {PASSES}, OnUnknown.RESOLVE: {PASSES, DEFERRED}}
    assert expected in allowed[declared], (policy, declared, expected)
    for d in found:  # a deferral is the engine's advisory "can't run during preview" note
        assert d.enforcement.value == "advisory" and "during preview" in d.message


def _touched(change: Change) -> str:
    return change.resource["name"] if isinstance(change, Add) else change.name


def _fidelity_plans() -> list[dict]:
    """The reference stack and every failing fixture, packed greedily into a few plans (no two changes of a
    plan touch the same resource), so the whole-pack comparison stays cheap."""
    batches: list[tuple[set[str], list[Change]]] = []
    for fixture in (f for p in sorted(CASES) for f in CASES[p].failing):
        touched = {_touched(c) for c in fixture.changes}
        batch = next((b for b in batches if not b[0] & touched), None)
        if batch is None:
            batches.append((set(touched), list(fixture.changes)))
        else:
            batch[0].update(touched)
            batch[1].extend(fixture.changes)
    return [variant(), *(variant(*changes) for _, changes in batches)]


@pytest.mark.slow
def test_routing_gives_exactly_what_the_whole_pack_gives() -> None:
    """Routed evaluation (each type to the policies that declare it) == the whole pack, as the engine runs it."""
    plans = _fidelity_plans()
    assert len(plans) < 40
    for i, plan in enumerate(plans):
        routed = sorted(map(repr, evaluate(plan, config_for(), routed=True).diagnostics))
        whole = sorted(map(repr, evaluate(plan, config_for(), routed=False).diagnostics))
        assert routed == whole, i
        assert i == 0 or routed, "every failing batch produces findings"


def test_an_environment_whose_owner_is_unknown_defers_the_workflow_pinning_check() -> None:
    """Security review item 4: whether `repo:org/fraud:environment:prod` is the graph's environment depends on
    the owner its provider names; computed at preview, the check defers rather than guess."""
    found = run_one("github-deploy-workflow-pinned", variant(
        gh_role("repo:org/fraud:environment:prod"), gh_policy(*PUSH), *gh_environment(owner=U)))
    assert outcome(found) == DEFERRED, found


def test_the_dev_preset_allows_an_instant_switch_that_prod_refuses() -> None:
    """`allow_instant_delivery` (true in presets/dev.yaml only): a serving Deployment without a Canary."""
    instant = variant(Drop("fraud-canary"))
    assert run_one("k8s-serving-progressive-delivery", instant, {"allow_instant_delivery": True}) == []
    assert outcome(run_one("k8s-serving-progressive-delivery", instant)) == VIOLATES


def test_the_dev_preset_allows_unauthenticated_inference_that_prod_refuses() -> None:
    """`allow_unauthenticated_inference` (true in presets/dev.yaml only, like the platform's serving.auth
    default there): a project namespace without an authenticating SecurityPolicy."""
    open_routes = variant(Drop("fraud-auth"))
    assert run_one("k8s-inference-auth", open_routes, {"allow_unauthenticated_inference": True}) == []
    assert outcome(run_one("k8s-inference-auth", open_routes)) == VIOLATES
