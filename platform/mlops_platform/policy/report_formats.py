"""Report renderers: a terminal table, JSON, Markdown for a pull-request comment, SARIF for code scanning."""

from __future__ import annotations

import json
from enum import StrEnum
from io import StringIO

from rich.console import Console
from rich.table import Table

from mlops_platform.policy.report import Finding, Report
from mlops_platform.policy.sarif import to_sarif


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"
    SARIF = "sarif"


def _status(report: Report) -> str:
    s = report.summary()
    verdict = "PASSED" if report.passed else "FAILED"
    kind = f"{report.stack_kind} stack" if report.stack_kind else "stack"
    scoped = f" (not applicable to it: {', '.join(report.not_applicable)})" if report.not_applicable else ""
    return (f"{verdict}: {s['blocking']} blocking, {s['advisory']} advisory, {s['waived']} waived, "
            f"{s['unknown']} unknown at preview — {s['policies']} policies over {s['resources']} resources "
            f"of {kind} {report.stack!r}{scoped}")


def _state(f: Finding) -> str:
    if f.waived:
        return "waived"
    if f.deferred:
        return "unknown"
    return "BLOCKING" if f.blocking else f.enforcement.value


def render_table(report: Report, width: int = 160, color: bool = False) -> str:
    table = Table(title=f"Policy review of {report.stack}", show_lines=False, expand=False)
    for col in ("state", "severity", "policy", "resource", "message"):
        table.add_column(col, overflow="fold")
    style = {"BLOCKING": "bold red", "advisory": "yellow", "waived": "dim", "unknown": "cyan"}
    for f in [*report.violations, *report.unknowns]:
        state = _state(f)
        table.add_row(state, f.severity.value, f.policy, f.resource, f.message, style=style.get(state, ""))
    buffer = StringIO()
    console = Console(file=buffer, width=width, force_terminal=color, color_system="auto" if color else None)
    if report.violations or report.unknowns:
        console.print(table)
    for w in report.unused_waivers:
        console.print(f"note: waiver for {w.policy} on {w.urn} matched nothing (expires {w.expires})")
    console.print(_status(report), style="bold green" if report.passed else "bold red")
    return buffer.getvalue()


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_rows(findings: list[Finding], waived: bool = False) -> list[str]:
    head = "| severity | policy | resource | finding |" + (" waiver |" if waived else "")
    rows = [head, "|---|---|---|---|" + ("---|" if waived else "")]
    for f in findings:
        row = f"| {f.severity.value} | `{f.policy}` | `{_md_escape(f.resource)}` | {_md_escape(f.message)} |"
        if waived and f.waiver is not None:
            row += f" {_md_escape(f.waiver.reason)} — {f.waiver.approver}, until {f.waiver.expires} |"
        rows.append(row)
    return rows


def render_markdown(report: Report) -> str:
    icon = ":white_check_mark:" if report.passed else ":x:"
    lines = [f"### {icon} Policy review: `{report.stack}`", "", _status(report), ""]
    sections = [("Blocking (mandatory)", report.blocking, False),
                ("Advisory", [f for f in report.violations if not f.blocking and not f.waived], False),
                ("Waived", [f for f in report.violations if f.waived], True),
                ("Unknown until apply (re-checked by `pulumi up`)", report.unknowns, False)]
    for title, findings, waived in sections:
        if not findings:
            continue
        collapsed = title != "Blocking (mandatory)"
        lines += ([f"<details><summary>{title} ({len(findings)})</summary>", ""] if collapsed
                  else [f"#### {title} ({len(findings)})", ""])
        lines += [*_md_rows(findings, waived), ""]
        lines += ["</details>", ""] if collapsed else []
    return "\n".join(lines)


def render(report: Report, fmt: Format, sarif_uri: str | None = None, color: bool = False) -> str:
    if fmt is Format.JSON:
        return json.dumps(report.to_json(), indent=2) + "\n"
    if fmt is Format.SARIF:
        return json.dumps(to_sarif(report, sarif_uri), indent=2) + "\n"
    if fmt is Format.MARKDOWN:
        return render_markdown(report)
    return render_table(report, color=color)
