"""`mlplat bootstrap / preflight / cost / preview / up / destroy`: everything before and around `pulumi up`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console, Group, RenderableType

from mlops_platform.cli.commands import echo_json, fail_after_output
from mlops_platform.config import load_env
from mlops_platform.core.errors import BudgetExceededError, MlplatError, PreflightError, UsageError
from mlops_platform.core.layers import Layer
from mlops_platform.ops import display
from mlops_platform.ops.bootstrap import bootstrap as run_bootstrap
from mlops_platform.ops.chargeback import by_project as chargeback_by_project
from mlops_platform.ops.cost import CostEstimate, check_budget, compare, estimate
from mlops_platform.ops.preflight import run_preflight
from mlops_platform.ops.prices import PriceSource, resolve_prices
from mlops_platform.workflows.automation import FORCE_FLAG, Operation, run_operation

out = Console()
_err = Console(stderr=True)
ENV = typer.Argument(..., help="Environment (a stacks/Pulumi.<env>.yaml).")
JSON = typer.Option(False, "--json", help="Machine-readable result.")
LAYER = typer.Option(None, "--layer", help="One layer stack: aws | cluster | tenants (default: all, in order; "
                                          "destroy in reverse).")
SHARD = typer.Option(None, "--shard", min=0, help="Only this tenant shard's stack (<env>-tenants-K; `mlplat shards "
                     "ENV` lists them). Default: every stack of the selected layers, each shard in turn.")


def _show(as_json: bool, data: dict[str, Any], view: RenderableType, failure: MlplatError | None = None) -> None:
    """The result, then (when it failed) the failure: in the JSON object, or on stderr after the view."""
    if as_json:
        echo_json(data, failure)
    else:
        out.print(view)
    if failure is not None:
        fail_after_output(failure)


def bootstrap(env: str = ENV, as_json: bool = JSON) -> None:
    """Create the env's Pulumi state bucket and secrets KMS key (idempotent; never weakens an existing one)."""
    report = run_bootstrap(load_env(env))
    _show(as_json, report.to_json(), display.bootstrap_view(report))


def preflight(env: str = ENV, as_json: bool = JSON) -> None:
    """Check account, instance offerings per AZ, GPU vCPU quotas, EKS version and state backend."""
    report = run_preflight(load_env(env))
    failure = None if report.passed else PreflightError(f"preflight failed for {env}: "
                                                         + "; ".join(r.check for r in report.failures))
    _show(as_json, report.to_json(), display.preflight_view(report), failure)


def _estimate(env: str, prices: PriceSource) -> CostEstimate:
    cfg = load_env(env)
    return estimate(cfg, resolve_prices(cfg, prices))


def cost(env: str = ENV, as_json: bool = JSON,
         compare_env: str = typer.Option(None, "--compare", metavar="ENV2", help="Show the difference to ENV2."),
         png: Path = typer.Option(None, "--png", help="Also write a bar chart PNG here (needs matplotlib)."),
         prices: PriceSource = typer.Option(PriceSource.AUTO, "--prices",
                                            help="auto: Pricing API when AWS credentials exist, else the table."),
         no_fail: bool = typer.Option(False, "--no-fail", help="Report a p90 above budget without failing."),
         by_project: bool = typer.Option(False, "--by-project",
                                         help="Each project's monthly share (from quotas) beside the total.")) -> None:
    """p50/p90 monthly cost per node pool and in total; fails when p90 exceeds budget.monthly_usd."""
    if by_project:
        _by_project(env, prices, as_json, compare_env, png)
        return
    estimates = [_estimate(e, prices) for e in [env, *([compare_env] if compare_env is not None else [])]]
    if png is not None:
        display.write_png(estimates, png)
    _show(as_json, _cost_json(estimates), _cost_view(estimates, png), _over_budget(estimates, no_fail))


def _by_project(env: str, prices: PriceSource, as_json: bool, compare_env: str | None, png: Path | None) -> None:
    """Reports shares only: it never fails on a budget (`mlplat cost ENV` checks the environment's)."""
    if compare_env is not None or png is not None:
        raise UsageError("--by-project takes neither --compare nor --png — fix: drop them, or run "
                         "`mlplat cost ENV --compare ENV2` separately")
    cfg = load_env(env)
    report = chargeback_by_project(cfg, resolve_prices(cfg, prices))
    _show(as_json, report.to_json(), display.chargeback_view(report))


def _cost_json(estimates: list[CostEstimate]) -> dict[str, Any]:
    if len(estimates) == 1:
        return estimates[0].to_json()
    diff = [{"name": r.name, "delta_p50": round(r.right_p50 - r.left_p50, 2), "delta_p90": round(r.delta_p90, 2)}
            for r in compare(*estimates)]
    return {"left": estimates[0].to_json(), "right": estimates[1].to_json(), "diff": diff}


def _cost_view(estimates: list[CostEstimate], png: Path | None) -> RenderableType:
    views: list[RenderableType] = [display.cost_view(est) for est in estimates]
    if len(estimates) == 2:
        views.append(display.compare_view(estimates[0], estimates[1], compare(*estimates)))
    if png is not None:
        views.append(f"chart written to {png}")
    return Group(*views)


def _over_budget(estimates: list[CostEstimate], no_fail: bool) -> BudgetExceededError | None:
    over = [est for est in estimates if est.over_budget]
    if not over or no_fail:
        return None
    if len(over) == 1:
        try:
            check_budget(over[0])
        except BudgetExceededError as exc:
            return exc
    return BudgetExceededError("; ".join(f"{e.env}: p90 {e.total_p90:,.0f} > budget {e.budget_usd:,.0f} USD"
                                        for e in over) + " — fix: lower max pool sizes or raise the budgets")


def _run(env: str, operation: Operation, layer: Layer | None, shard: int | None, force: bool = False,
         as_json: bool = False) -> None:
    # with --json the engine's stream goes to stderr: stdout holds exactly one JSON object
    stream = _err if as_json else out
    result = run_operation(env, operation, layer=layer, shard=shard, force_destroy_protected_data=force,
                           on_output=lambda text: stream.out(text, end="", highlight=False))
    if as_json:
        echo_json(result.to_json())
        return
    for change in result.desired_size_raises:
        out.print(f"raised node group {change.nodegroup} from {change.desired_from} to {change.desired_to} node(s)")
    out.print(f"[green]{operation.value} {env} done[/]: {result.summary}")


def preview(env: str = ENV, layer: Layer = LAYER, shard: int = SHARD) -> None:
    """validate → preflight → offline review → `pulumi preview` with the policy pack, per layer stack."""
    _run(env, Operation.PREVIEW, layer, shard)


def up(env: str = ENV, layer: Layer = LAYER, shard: int = SHARD, as_json: bool = JSON) -> None:
    """validate → preflight → offline review → `pulumi up` per layer stack; stops before an in-cluster layer
    this machine cannot reach, with the next step. A node group below a raised min_size is scaled up first."""
    _run(env, Operation.UP, layer, shard, as_json=as_json)


def destroy(env: str = ENV, layer: Layer = LAYER, shard: int = SHARD, force: bool = typer.Option(
        False, FORCE_FLAG, help="Allow destroying prod / deletion-protected envs and protected resources.")) -> None:
    """`pulumi destroy` per layer stack, tenants first; refuses prod and protected data unless forced."""
    _run(env, Operation.DESTROY, layer, shard, force)


def register(app: typer.Typer) -> None:
    for fn in (bootstrap, preflight, cost, preview, up, destroy):
        app.command(fn.__name__)(fn)
