"""Cost guardrails: a budget for the environment and for every project, alerts that reach people, and a
budget that covers the environment's p90 cost estimate.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlops_platform.policy.config import PolicySettings, Severity, StackKind
from mlops_platform.policy.registry import Area, OnUnknown, resource_policy, stack_policy
from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.graph import Res, StackView
from mlops_platform.policy.sdk.values import Defer, Violation, as_list, fmt, is_unknown

_DOCS = "https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-managing-costs.html"
#: Cost-allocation tag keys that scope a budget to a project (`user:<key>$<project>` filters).
PROJECT_TAG_KEYS = ("project", "mlops.io/project", "mlops-project")


def tag_filters(budget: Res) -> list[tuple[str, str]]:
    """(tag key, value) of the budget's TagKeyValue cost filters (`user:<key>$<value>`)."""
    out = []
    for f in as_list(budget.get("costFilters")):
        if isinstance(f, dict) and f.get("name") == "TagKeyValue":
            for v in as_list(f.get("values")):
                key, sep, value = str(v).removeprefix("user:").partition("$")
                if sep:
                    out.append((key, value))
    return out


def project_of(budget: Res, settings: PolicySettings) -> str | None:
    keys = {*PROJECT_TAG_KEYS, settings.project_label}
    return next((value for key, value in tag_filters(budget) if key in keys), None)


def _cost_budgets(stack: StackView) -> list[Res]:
    return [b for b in stack.of_type(t.BUDGET) if b.get("budgetType") in ("COST", None)]


@stack_policy(
    name="budget-environment", area=Area.BUDGETS, resource_types=(t.BUDGET,), severity=Severity.MEDIUM,
    description="The environment has a monthly AWS cost budget (not scoped to one project).",
    remediation="Set `budget.monthly_usd` in the stack file; the platform creates the environment budget with "
                "email alerts at the configured thresholds.",
    url=_DOCS, settings=("project_label",), on_unknown=OnUnknown.DEFER, stack_kinds=(StackKind.PLATFORM,),
    held_by=t.EKS_CLUSTER,  # the aws layer creates the environment budget (programs/aws_program.py)
    unknown_note="Deferred when a budget's type or time unit is unknown.",
)
def budget_environment(stack: StackView, settings: PolicySettings) -> Iterator[Violation | Defer]:
    budgets = _cost_budgets(stack)
    if any(is_unknown(b.get("timeUnit")) for b in budgets):
        yield Defer("timeUnit")
    elif not any(b.get("timeUnit") == "MONTHLY" and project_of(b, settings) is None for b in budgets):
        yield Violation("no monthly COST budget covers the environment: overspend is noticed on the invoice")


def project_namespaces(stack: StackView, settings: PolicySettings) -> Iterator[tuple[Res, Any]]:
    for ns in stack.of_type(t.K8S_NAMESPACE):
        labels = ns.get("metadata.labels")
        if isinstance(labels, dict) and settings.project_label in labels:
            yield ns, labels[settings.project_label]


@stack_policy(
    name="budget-per-project", area=Area.BUDGETS, resource_types=(t.K8S_NAMESPACE, t.BUDGET),
    severity=Severity.MEDIUM,
    description="Every project (a namespace labelled mlops.io/project) has its own monthly budget.",
    remediation="Give the project a `monthly_budget_usd` in the stack's projects list; the platform creates a "
                "budget filtered on the cost-allocation tag user:project$<project>.",
    url=_DOCS, settings=("project_label",), on_unknown=OnUnknown.DEFER,
    unknown_note="Deferred when a project label value is unknown.",
)
def budget_per_project(stack: StackView, settings: PolicySettings) -> Iterator[Violation | Defer]:
    covered = {project_of(b, settings) for b in _cost_budgets(stack)}
    for ns, project in project_namespaces(stack, settings):
        if is_unknown(project):
            yield Defer(f"metadata.labels.{settings.project_label}", ns.urn)
        elif project not in covered:
            yield Violation(f"project {project!r} (namespace {ns.name!r}) has no budget", ns.urn)


def _limit(budget: Res) -> float | None:
    try:
        return float(budget.get("limitAmount"))
    except (TypeError, ValueError):
        return None


@stack_policy(
    name="budget-covers-estimate", area=Area.BUDGETS, resource_types=(t.BUDGET,), severity=Severity.HIGH,
    description="The environment's p90 monthly cost estimate fits its budget, and the budget resource says so.",
    remediation="Shrink what drives the estimate (`mlplat cost ENV` shows it: GPU pool max sizes, NAT per AZ) "
                "or raise `budget.monthly_usd` with the budget owner's approval.",
    url=_DOCS, settings=("estimated_monthly_p90_usd", "monthly_budget_usd", "project_label"),
    on_unknown=OnUnknown.DEFER, stack_kinds=(StackKind.PLATFORM,), held_by=t.EKS_CLUSTER,  # as above
    unknown_note="Deferred when the environment budget's limitAmount is unknown.",
)
def budget_covers_estimate(stack: StackView, settings: PolicySettings) -> Iterator[Violation | Defer]:
    estimate, budget = settings.estimated_monthly_p90_usd, settings.monthly_budget_usd
    if estimate is None:
        return
    if budget is not None and estimate > budget:
        yield Violation(f"p90 estimate {estimate:,.0f} USD/month exceeds the budget of {budget:,.0f} USD")
    for b in _cost_budgets(stack):
        if project_of(b, settings) is not None:
            continue
        limit = _limit(b)
        if is_unknown(b.get("limitAmount")):
            yield Defer("limitAmount", b.urn)
        elif limit is not None and limit < estimate:
            yield Violation(f"budget {b.name!r} limit {limit:,.0f} USD is below the p90 estimate "
                            f"{estimate:,.0f} USD: it alerts every month and means nothing", b.urn)


@resource_policy(
    name="budget-notifications", area=Area.BUDGETS, resource_types=(t.BUDGET,), severity=Severity.LOW,
    description="Budgets alert someone: at least one notification with a subscriber.",
    remediation="Add notifications with subscriberEmailAddresses (or an SNS topic) at e.g. 50/80/100 % ACTUAL "
                "and 100 % FORECASTED.",
    url="https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-sns-policy.html",
    on_unknown=OnUnknown.PASS, unknown_note="Unknown subscriber lists (e.g. an SNS topic ARN) count as present.",
)
def budget_notifications(res: Res, _: PolicySettings) -> Iterator[str]:
    notes = res.get("notifications")
    if is_unknown(notes):
        return
    reach = [n for n in as_list(notes) if isinstance(n, dict) and any(
        is_unknown(n.get(k)) or as_list(n.get(k)) for k in ("subscriberEmailAddresses", "subscriberSnsTopicArns"))]
    if not reach:
        yield f"{len(as_list(notes))} notification(s), none with a subscriber: {fmt(res.name)} alerts nobody"
