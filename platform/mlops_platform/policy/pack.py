"""The policy pack: every registered policy, and how each becomes a CrossGuard policy.

`build_policies()` wraps each spec's check into a `pulumi_policy` policy that reports every definite
violation first and then, if anything was deferred, raises the engine's own `UnknownValueError`: the
engine turns that into its advisory "can't run during preview" diagnostic, and `pulumi up` evaluates the
policy again once the values are known.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

import pulumi_policy as pp

from mlops_platform.core.errors import WaiverError
from mlops_platform.policy import rules
from mlops_platform.policy.config import PolicySettings, settings_schema
from mlops_platform.policy.registry import ENVIRONMENT_MARKERS, Area, Kind, PolicySpec, applies, registered, stack_kind
from mlops_platform.policy.sdk.analyzer import unknown_value_error
from mlops_platform.policy.sdk.graph import Res, StackView
from mlops_platform.policy.sdk.values import Outcome, Violation, plain
from mlops_platform.policy.waivers import NO_WAIVERS, Waiver, Waivers, parse_waivers, stack_urn_of

PACK_NAME = "mlops-platform"


@cache
def all_specs() -> tuple[PolicySpec, ...]:
    """Every registered policy, sorted by area then name (imports every rules module once: importing a
    rules module registers its policies, so a new module under `rules/` joins the pack by existing)."""
    for mod in pkgutil.iter_modules(rules.__path__):
        importlib.import_module(f"{rules.__name__}.{mod.name}")
    return tuple(sorted(registered(), key=lambda s: (list(Area).index(s.area), s.name)))


def spec(name: str) -> PolicySpec:
    specs = {s.name: s for s in all_specs()}
    return specs[name]


# --- from specs to CrossGuard policies ------------------------------------------------------------

_SETTINGS_CACHE: dict[str, PolicySettings] = {}


def settings_from(config: Mapping[str, Any]) -> PolicySettings:
    """Policy config as sent by the engine (numbers as doubles) → validated settings, cached."""
    key = json.dumps(config, sort_keys=True, default=str)
    found = _SETTINGS_CACHE.get(key)
    if found is None:
        known = {k: v for k, v in config.items() if k in PolicySettings.model_fields}
        found = _SETTINGS_CACHE[key] = PolicySettings.model_validate(known)
    return found


WAIVERS_SOURCE = "policy config waivers"
#: JSON schema of a policy's `waivers` config entry (every policy accepts one).
WAIVERS_SCHEMA: dict[str, Any] = {"type": "array", "items": Waiver.model_json_schema()}


def waivers_from(config: Mapping[str, Any], policy: str) -> Waivers:
    """The live waivers a policy's config carries (`config_files.to_pulumi_config`), validated as offline:
    a malformed, expired or other policy's waiver is a WaiverError."""
    raw = config.get("waivers")
    if not raw:
        return NO_WAIVERS
    waivers = parse_waivers({"waivers": raw}, WAIVERS_SOURCE, [s.name for s in all_specs()])
    stray = [w.policy for w in waivers.entries if w.policy != policy]
    if stray:
        raise WaiverError(f"{WAIVERS_SOURCE} of {policy}: waivers for other policies {stray} — fix: regenerate "
                          "the config with `mlplat policy config ENV`")
    return waivers


def _checked_waivers(config: Mapping[str, Any], policy: str, report: pp.ReportViolation) -> Waivers:
    # A bad waiver waives nothing and is reported itself, like the offline review's failure on it.
    try:
        return waivers_from(config, policy)
    except WaiverError as exc:
        report(exc.render(), None)
        return NO_WAIVERS


def report_outcomes(outcomes: Iterable[Outcome | str], report: pp.ReportViolation, policy: str = "",
                    waivers: Waivers = NO_WAIVERS, urn: str | None = None) -> None:
    """Report violations as they come, except those a live waiver of `policy` covers (matched on the real URN —
    the violation's, else `urn`: the judged resource's, or for a stack policy the stack's own — by the offline
    review's `Waivers.find`); afterwards raise the engine's UnknownValueError for deferrals."""
    deferred: list[str] = []
    for outcome in outcomes:
        if isinstance(outcome, str):
            if urn is None or waivers.find(policy, urn) is None:
                report(outcome, None)
        elif isinstance(outcome, Violation):
            judged = outcome.urn or urn
            if judged is None or waivers.find(policy, judged) is None:
                report(outcome.message, outcome.urn)
        else:
            deferred.append(outcome.what if outcome.urn is None else f"{outcome.what} ({outcome.urn})")
    if deferred:
        raise unknown_value_error("value(s) unknown until apply: " + "; ".join(deferred))


def _resource_validation(spec: PolicySpec) -> pp.ResourceValidation:
    types = frozenset(spec.resource_types)

    def validate(args: pp.ResourceValidationArgs, report: pp.ReportViolation) -> None:
        if args.resource_type not in types:
            return
        provider = plain(args.provider.props) if args.provider is not None else {}
        res, config = Res(args.urn, args.resource_type, args.name, plain(args.props), provider=provider), \
            args.get_config()
        waivers = _checked_waivers(config, spec.name, report)
        report_outcomes(spec.check(res, settings_from(config)), report, spec.name, waivers, args.urn)
    return validate


def _stack_validation(spec: PolicySpec) -> pp.StackValidation:
    def validate(args: pp.StackValidationArgs, report: pp.ReportViolation) -> None:
        config = args.get_config()
        stack, settings = StackView(args.resources), settings_from(config)
        markers = [m for m in ENVIRONMENT_MARKERS if stack.of_type(m)]
        if applies(spec, stack_kind(stack, settings), markers):
            waivers = _checked_waivers(config, spec.name, report)
            # a finding naming no resource is the stack's: matched on the stack's URN, as the review does
            root = stack_urn_of(r.urn for r in args.resources) if waivers.entries else None
            report_outcomes(spec.check(stack, settings), report, spec.name, waivers, root)
    return validate


def _metadata(spec: PolicySpec) -> dict[str, Any]:
    primary = spec.compliance[0] if spec.compliance else None
    framework = (pp.PolicyComplianceFramework(primary.framework, primary.version or None, primary.reference)
                 if primary else None)
    tags = [spec.area.value, *(c.reference for c in spec.compliance)]
    # Every policy takes `waivers`: the engine rejects config a policy's schema does not declare.
    schema = pp.PolicyConfigSchema({**settings_schema(spec.settings), "waivers": WAIVERS_SCHEMA})
    return {"name": spec.name, "description": spec.description, "severity": pp.Severity(spec.severity.value),
            "remediation_steps": spec.remediation, "url": spec.url, "framework": framework, "tags": tags,
            "config_schema": schema, "enforcement_level": pp.EnforcementLevel.MANDATORY}


@cache
def to_policy(spec: PolicySpec) -> pp.Policy:
    """The CrossGuard policy of a spec (stateless, so built once per process)."""
    if spec.kind is Kind.RESOURCE:
        return pp.ResourceValidationPolicy(validate=_resource_validation(spec), **_metadata(spec))
    return pp.StackValidationPolicy(validate=_stack_validation(spec), **_metadata(spec))


def build_policies(specs: Iterable[PolicySpec] | None = None) -> list[pp.Policy]:
    """CrossGuard policies of the pack (what `platform/policypack/__main__.py` hands to PolicyPack)."""
    return [to_policy(s) for s in (all_specs() if specs is None else specs)]
