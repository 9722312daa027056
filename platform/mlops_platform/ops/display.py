"""Terminal (rich) and PNG presentation of bootstrap, preflight and cost results. No logic lives here."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mlops_platform.core.errors import UsageError
from mlops_platform.core.files import write_atomic
from mlops_platform.ops.bootstrap import BootstrapReport, Change
from mlops_platform.ops.chargeback import Chargeback
from mlops_platform.ops.cost import CompareRow, CostEstimate
from mlops_platform.ops.preflight import PreflightReport, Status

BAR_WIDTH = 32
_CHANGE_STYLE = {Change.CREATED: "green", Change.STRENGTHENED: "yellow", Change.UNCHANGED: "dim",
                 Change.KEPT: "cyan"}
_STATUS_STYLE = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "bold red"}


def bootstrap_view(report: BootstrapReport) -> RenderableType:
    table = Table(title=f"state backend s3://{report.backend.bucket}", title_justify="left")
    for col in ("item", "change", "detail"):
        table.add_column(col)
    for step in report.steps:
        table.add_row(step.item, Text(step.change.value, style=_CHANGE_STYLE[step.change]), escape(step.detail))
    changed = sum(s.change in (Change.CREATED, Change.STRENGTHENED) for s in report.steps)
    verdict = (f"[green]{changed} change(s) made[/]" if changed
               else "[dim]no changes: the backend was already in place[/]")
    use = (f"use it:\n  pulumi login '{report.backend.login_url}'\n"
           f"  pulumi stack init <env> --secrets-provider '{report.backend.secrets_provider}'\n"
           "(mlplat preview/up log in and select the stack for you)")
    return Group(table, Text.from_markup(verdict), Text(use))


def preflight_view(report: PreflightReport) -> RenderableType:
    table = Table(title=f"preflight {report.env} (account {report.account_id}, {report.region})",
                  title_justify="left")
    for col in ("check", "status", "detail", "fix"):
        table.add_column(col, overflow="fold")
    for r in report.results:
        table.add_row(r.check, Text(r.status.value, style=_STATUS_STYLE[r.status]), escape(r.detail), escape(r.fix))
    verdict = "[green]all checks passed[/]" if report.passed else f"[bold red]{len(report.failures)} failed[/]"
    return Group(table, Text.from_markup(verdict))


def bar(p50: float, p90: float, scale: float, width: int = BAR_WIDTH) -> Text:
    """Solid up to p50, shaded from p50 to p90: the spread a budget has to absorb."""
    solid = round(width * p50 / scale) if scale > 0 else 0
    shaded = max(round(width * p90 / scale) - solid, 0) if scale > 0 else 0
    return Text("█" * solid, style="blue") + Text("░" * shaded, style="blue")


def cost_view(est: CostEstimate) -> RenderableType:
    scale = max([li.p90 for li in est.lines] + [0.0])
    table = Table(title=f"monthly cost {est.env} ({est.region}), USD", title_justify="left")
    table.add_column("line")
    table.add_column("p50", justify="right")
    table.add_column("p90", justify="right")
    table.add_column("p50 █ … p90 ░")
    for li in est.lines:
        table.add_row(li.name, f"{li.p50:,.0f}", f"{li.p90:,.0f}", bar(li.p50, li.p90, scale))
    table.add_row("[bold]total[/]", f"[bold]{est.total_p50:,.0f}[/]", f"[bold]{est.total_p90:,.0f}[/]", "")
    style = "bold red" if est.over_budget else "green"
    share = est.total_p90 / est.budget_usd
    budget = Text(f"budget {est.budget_usd:,.0f} USD/month: p90 is {share:.0%} of it", style=style)
    meta = [f"prices: {est.price_source} (as of {est.price_as_of}); {est.scenarios} scenarios"]
    meta += [f"note: {n}" for n in est.notes]
    return Group(table, budget, Text("\n".join(meta), style="dim"))


def chargeback_view(report: Chargeback) -> RenderableType:
    table = Table(title=f"monthly cost by project {report.env}, USD (from quotas)", title_justify="left")
    for col in ("project", "gpu / cpu / GiB quota", "p50", "p90", "of it GPU p90", "budget"):
        table.add_column(col, justify="left" if col == "project" else "right")
    for s in report.projects:
        q = s.quota
        budget = Text(f"{s.budget_usd:,.0f}", style="bold red" if s.over_budget else "green")
        table.add_row(q.name, f"{q.gpus} / {q.vcpus} / {q.memory_gib}", f"{s.p50:,.0f}", f"{s.p90:,.0f}",
                      f"{s.gpu_p90:,.0f}", budget)
    table.add_row("shared (platform, unclaimed)", "", f"{report.shared_p50:,.0f}",
                  f"{report.shared_p90:,.0f}", "", "")
    table.add_row("[bold]environment total[/]", "", f"[bold]{report.total_p50:,.0f}[/]",
                  f"[bold]{report.total_p90:,.0f}[/]", "", "")
    meta = [f"prices: {report.price_source}", *(f"note: {n}" for n in report.notes)]
    return Group(table, Text("\n".join(meta), style="dim"))


def compare_view(left: CostEstimate, right: CostEstimate, rows: Sequence[CompareRow]) -> RenderableType:
    table = Table(title=f"monthly cost {left.env} → {right.env}, USD (p50 / p90)", title_justify="left")
    for col, just in (("line", "left"), (left.env, "right"), (right.env, "right"), ("Δ p90", "right")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in rows:
        delta = Text(f"{r.delta_p90:+,.0f}", style="red" if r.delta_p90 > 0 else "green")
        table.add_row(r.name, f"{r.left_p50:,.0f} / {r.left_p90:,.0f}", f"{r.right_p50:,.0f} / {r.right_p90:,.0f}",
                      delta)
    return table


def matplotlib_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def write_png(estimates: Sequence[CostEstimate], path: Path) -> Path:
    """Horizontal bars per line (p50, whisker to p90), one colour per environment."""
    if not matplotlib_available():
        raise UsageError("--png needs matplotlib, which is not installed — fix: `pip install matplotlib` "
                         "or drop --png (the terminal chart shows the same numbers)")
    # matplotlib is optional (not a dependency): imported only when a PNG is asked for and it is installed.
    import matplotlib

    matplotlib.use("Agg")  # files only; never open a window
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(li.name for est in estimates for li in est.lines))
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(names) * len(estimates) + 1.5))
    height = 0.8 / len(estimates)
    for i, est in enumerate(estimates):
        lines = {li.name: li for li in est.lines}
        p50 = [lines[n].p50 if n in lines else 0.0 for n in names]
        p90 = [lines[n].p90 if n in lines else 0.0 for n in names]
        ys = [k + i * height for k in range(len(names))]
        ax.barh(ys, p50, height=height, xerr=[[0.0] * len(names), [b - a for a, b in zip(p50, p90, strict=True)]],
                label=f"{est.env}: p50 {est.total_p50:,.0f}, p90 {est.total_p90:,.0f} USD", capsize=3)
    ax.set_yticks([k + 0.4 - height / 2 for k in range(len(names))], names)
    ax.invert_yaxis()
    ax.set_xlabel("USD per month (bar p50, whisker p90)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    try:  # format="png": the temporary name has no .png suffix to infer it from
        write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    finally:
        plt.close(fig)
    return path
