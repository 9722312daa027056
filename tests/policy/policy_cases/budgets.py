"""Fixtures of the policies in `mlops_platform.policy.rules.budgets`."""

from __future__ import annotations

from policy_plans import Drop, Patch, U

from policy_cases._base import DEFERRED, ENV_BUDGET, NOTIFY, PASSES, STACK_LEVEL, Case, fail, ok, on, u

CASES: dict[str, Case] = {
    "budget-environment": Case(
        passing=(ok(),), failing=(fail(STACK_LEVEL, Drop("env-budget")),
                                  fail(STACK_LEVEL, Patch("env-budget", "timeUnit", "ANNUALLY"))),
        unknown=u(DEFERRED, Patch("env-budget", "timeUnit", U))),
    "budget-per-project": Case(
        passing=(ok(),), failing=(fail(on("kubernetes:core/v1:Namespace", "fraud-ns"), Drop("fraud-budget")),),
        unknown=u(DEFERRED, Patch("fraud-ns", "metadata.labels", {"mlops.io/project": U}))),
    "budget-covers-estimate": Case(
        passing=(ok(),),
        failing=(fail((STACK_LEVEL, ENV_BUDGET), estimated_monthly_p90_usd=6000.0),
                 fail(STACK_LEVEL, estimated_monthly_p90_usd=4500.0, monthly_budget_usd=4000.0),
                 fail(ENV_BUDGET, Patch("env-budget", "limitAmount", "2000.00"))),
        unknown=u(DEFERRED, Patch("env-budget", "limitAmount", U))),
    "budget-notifications": Case(
        passing=(ok(),), failing=(fail(ENV_BUDGET, Patch("env-budget", "notifications", [])),
                                  fail(ENV_BUDGET, Patch("env-budget", NOTIFY, []))),
        unknown=u(PASSES, Patch("env-budget", NOTIFY, U))),
}
