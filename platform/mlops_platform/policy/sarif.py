"""SARIF 2.1.0 for GitHub code scanning: one rule per policy, one result per finding.

GitHub reads `properties.security-severity` (a CVSS-like number as a string) to rank alerts, shows
`help.markdown` on the alert page, and needs a physical location: results point at the stack (or program)
file, and carry the resource URN as a logical location. Waived findings carry an accepted suppression
with the waiver's justification; deferred ("unknown at preview") ones are notes.
"""

from __future__ import annotations

import hashlib
from typing import Any

from mlops_platform import __version__
from mlops_platform.policy.config import Enforcement, Severity
from mlops_platform.policy.pack import all_specs
from mlops_platform.policy.registry import PolicySpec
from mlops_platform.policy.report import Finding, Report

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
#: GitHub buckets security-severity: > 9 critical, 7-8.9 high, 4-6.9 medium, < 4 low.
SECURITY_SEVERITY = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5", Severity.LOW: "3.0"}
TOOL = "mlplat-policy"


def _help_markdown(spec: PolicySpec) -> str:
    lines = [f"**{spec.description}**", "", f"**Remediation.** {spec.remediation}", "",
             f"Area: `{spec.area.value}` · kind: {spec.kind.value} policy · values unknown at preview: "
             f"{spec.on_unknown.value} — {spec.unknown_note}"]
    if spec.compliance:
        lines += ["", "Compliance: " + ", ".join(c.label() for c in spec.compliance)]
    return "\n".join([*lines, "", f"[Documentation]({spec.url})"])


def rule(spec: PolicySpec, level: Enforcement) -> dict[str, Any]:
    default = "error" if level is Enforcement.MANDATORY else "warning"
    return {
        "id": spec.name,
        "name": "".join(part.capitalize() for part in spec.name.split("-")),
        "shortDescription": {"text": spec.description},
        "fullDescription": {"text": f"{spec.description} {spec.remediation}"},
        "helpUri": spec.url,
        "help": {"text": f"{spec.description}\nRemediation: {spec.remediation}\n{spec.url}",
                 "markdown": _help_markdown(spec)},
        "defaultConfiguration": {"level": default, "enabled": level is not Enforcement.DISABLED},
        "properties": {"security-severity": SECURITY_SEVERITY[spec.severity], "precision": "very-high",
                       "problem.severity": "error" if spec.severity in (Severity.CRITICAL, Severity.HIGH)
                       else "warning",
                       "tags": ["security", "iac", "pulumi", spec.area.value,
                                *(c.reference for c in spec.compliance)]},
    }


def _level(f: Finding) -> str:
    if f.deferred:
        return "note"
    return "error" if f.enforcement is Enforcement.MANDATORY else "warning"


def result(f: Finding, index: int, uri: str) -> dict[str, Any]:
    name = f.urn.rsplit("::", 1)[-1]
    out: dict[str, Any] = {
        "ruleId": f.policy, "ruleIndex": index, "level": _level(f),
        "message": {"text": f"{f.resource}: {f.message}"},
        "locations": [{
            "physicalLocation": {"artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
                                 "region": {"startLine": 1}},
            "logicalLocations": [{"name": name, "fullyQualifiedName": f.urn, "kind": "resource"}]}],
        "partialFingerprints": {"mlplatFinding/v1": hashlib.sha256(f"{f.policy}|{f.urn}".encode()).hexdigest()},
        "properties": {"enforcement": f.enforcement.value, "severity": f.severity.value, "urn": f.urn,
                       "deferred": f.deferred},
    }
    if f.waiver is not None:
        out["suppressions"] = [{"kind": "external", "status": "accepted",
                                "justification": f"{f.waiver.reason} (approved by {f.waiver.approver}, "
                                                 f"expires {f.waiver.expires.isoformat()})"}]
    return out


def to_sarif(report: Report, uri: str | None = None) -> dict[str, Any]:
    """The report as a SARIF 2.1.0 log; `uri` is the repository-relative file results point at."""
    specs = list(all_specs())
    index = {s.name: i for i, s in enumerate(specs)}
    target = (uri or report.source or "Pulumi.yaml").replace("\\", "/")
    results = [result(f, index[f.policy], target) for f in [*report.violations, *report.unknowns]]
    return {
        "$schema": SCHEMA, "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": TOOL, "version": __version__, "semanticVersion": __version__,
                                "informationUri": "https://www.pulumi.com/docs/iac/using-pulumi/crossguard/",
                                "rules": [rule(s, report.levels.get(s.name, Enforcement.MANDATORY)) for s in specs]}},
            "automationDetails": {"id": f"mlplat-review/{report.stack}/"},
            "results": results,
            "properties": {"stack": report.stack, "summary": report.summary()},
        }],
    }
