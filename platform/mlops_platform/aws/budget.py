"""AWS Budgets with email alerts: one per environment and one per project (tenant)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from mlops_platform.aws._base import child_opts


def notifications(thresholds_pct: list[int], emails: list[str]) -> list[aws.budgets.BudgetNotificationArgs]:
    """ACTUAL alerts at every threshold, plus a FORECASTED alert at 100% so overruns are seen early."""
    def note(pct: int, kind: str) -> aws.budgets.BudgetNotificationArgs:
        return aws.budgets.BudgetNotificationArgs(comparison_operator="GREATER_THAN", threshold=float(pct),
                                                  threshold_type="PERCENTAGE", notification_type=kind,
                                                  subscriber_email_addresses=sorted(set(emails)))
    return [note(p, "ACTUAL") for p in thresholds_pct] + [note(100, "FORECASTED")]


@dataclass(frozen=True, kw_only=True)
class CostBudgetArgs:
    """Arguments of `CostBudget`."""

    budget_name: str
    """Name of the AWS Budget (unique in the account). Required."""
    monthly_usd: float
    """Monthly cost limit, USD. Required."""
    emails: list[str]
    """Who is notified when a threshold is crossed. Required."""
    tag_filter: tuple[str, str]
    """(cost-allocation tag key, value) the budget tracks. Required."""
    thresholds_pct: tuple[int, ...] = (50, 80, 100)
    """Percentages of `monthly_usd` that notify (forecast and actual). Default: 50, 80 and 100."""
    tags: dict[str, str] | None = None
    """Tags of the budget. Default: none."""


class CostBudget(pulumi.ComponentResource):
    """A monthly COST budget filtered by a cost-allocation tag (activate the tag in Billing once)."""

    def __init__(self, name: str, args: CostBudgetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:CostBudget", name, None, opts)
        key, value = args.tag_filter
        self.budget = aws.budgets.Budget(
            f"{name}-budget", name=args.budget_name, budget_type="COST", limit_amount=f"{args.monthly_usd:.2f}",
            limit_unit="USD", time_unit="MONTHLY",
            cost_filters=[aws.budgets.BudgetCostFilterArgs(name="TagKeyValue", values=[f"user:{key}${value}"])],
            notifications=notifications(list(args.thresholds_pct), args.emails), tags=args.tags,
            opts=child_opts(self))
        self.register_outputs({"name": self.budget.name})
