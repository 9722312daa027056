"""A review report: the analyzer's diagnostics with waivers applied, ready to render or gate on."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mlops_platform.policy.config import Enforcement, Severity
from mlops_platform.policy.evaluate import Diagnostic, Evaluation
from mlops_platform.policy.waivers import NO_WAIVERS, Waiver, Waivers, root_stack_urn, stack_urn_of

SEVERITY_ORDER = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)


@dataclass(frozen=True)
class Finding:
    policy: str
    severity: Severity
    enforcement: Enforcement
    urn: str
    message: str
    waiver: Waiver | None = None
    deferred: bool = False  # "can't run during preview": a value was unknown

    @property
    def waived(self) -> bool:
        return self.waiver is not None

    @property
    def blocking(self) -> bool:
        return self.enforcement is Enforcement.MANDATORY and not self.waived and not self.deferred

    @property
    def resource(self) -> str:
        """`type::name` part of the URN (what a reviewer scans for)."""
        parts = self.urn.split("::")
        return f"{parts[-2].rsplit('$', 1)[-1]}::{parts[-1]}" if len(parts) >= 4 else self.urn

    def to_json(self) -> dict[str, Any]:
        waiver = None if self.waiver is None else {
            "reason": self.waiver.reason, "approver": self.waiver.approver,
            "expires": self.waiver.expires.isoformat(), "urn": self.waiver.urn}
        return {"policy": self.policy, "severity": self.severity.value, "enforcement": self.enforcement.value,
                "urn": self.urn, "message": self.message, "waived": self.waived, "waiver": waiver}


@dataclass(frozen=True)
class Report:
    stack: str
    source: str  # the file the findings point at (stack file, program's Pulumi.yaml, plan JSON)
    violations: list[Finding]
    unknowns: list[Finding]
    levels: dict[str, Enforcement]
    resources: int
    waivers_file: str = ""
    unused_waivers: list[Waiver] = field(default_factory=list)
    stack_kind: str = ""  # platform | project: what the stack was judged as
    not_applicable: list[str] = field(default_factory=list)  # policies scoped to the other kind of stack

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.violations if f.blocking]

    @property
    def passed(self) -> bool:
        return not self.blocking

    def summary(self) -> dict[str, Any]:
        by_severity = Counter(f.severity.value for f in self.violations if not f.waived)
        return {
            "passed": self.passed, "resources": self.resources,
            "policies": sum(1 for lvl in self.levels.values() if lvl is not Enforcement.DISABLED),
            "disabled": sorted(p for p, lvl in self.levels.items() if lvl is Enforcement.DISABLED),
            "violations": len(self.violations), "blocking": len(self.blocking),
            "advisory": sum(1 for f in self.violations if f.enforcement is Enforcement.ADVISORY and not f.waived),
            "waived": sum(1 for f in self.violations if f.waived), "unknown": len(self.unknowns),
            "by_severity": {s.value: by_severity.get(s.value, 0) for s in SEVERITY_ORDER},
            "stack_kind": self.stack_kind, "not_applicable": self.not_applicable,
            "waivers_file": self.waivers_file,
            "unused_waivers": [w.model_dump(mode="json") for w in self.unused_waivers],
        }

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "source": self.source,
                "violations": [f.to_json() for f in self.violations],
                "unknowns": [f.to_json() for f in self.unknowns], "summary": self.summary()}


def stack_urn(stack: str, resource_urns: list[str]) -> str:
    """The stack's own URN (stack-level findings are reported on it, so waivers can name it; the pack matches
    them on the same URN: waivers.stack_urn_of)."""
    return stack_urn_of(resource_urns, stack) or root_stack_urn(stack, "project")


def _sort_key(f: Finding) -> tuple[int, int, str, str]:
    return (int(not f.blocking), SEVERITY_ORDER.index(f.severity), f.policy, f.urn)


def build_report(evaluation: Evaluation, source: str, waivers: Waivers = NO_WAIVERS,
                 resource_urns: list[str] | None = None, stack_kind: str = "",
                 not_applicable: list[str] | None = None) -> Report:
    """Apply waivers to an evaluation; stack-level diagnostics are put on the stack's URN."""
    root = stack_urn(evaluation.stack, resource_urns or [])

    def finding(d: Diagnostic) -> Finding:
        urn = d.urn or root
        waiver = None if d.deferred else waivers.find(d.policy, urn)
        return Finding(d.policy, d.severity, d.enforcement, urn, d.message, waiver, d.deferred)

    findings = [finding(d) for d in evaluation.diagnostics]
    used = {id(f.waiver) for f in findings if f.waiver is not None}
    return Report(
        stack=evaluation.stack, source=source,
        violations=sorted((f for f in findings if not f.deferred), key=_sort_key),
        unknowns=sorted((f for f in findings if f.deferred), key=_sort_key),
        levels=evaluation.levels, resources=evaluation.resources, waivers_file=waivers.source,
        unused_waivers=[w for w in waivers.entries if id(w) not in used], stack_kind=stack_kind,
        not_applicable=sorted(not_applicable or []))
