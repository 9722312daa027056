"""The policy registry: every policy's metadata and check, and how they become CrossGuard policies.

A policy is a plain generator function decorated with `@resource_policy(...)` or `@stack_policy(...)`.
It yields `Violation`s (or plain strings) and `Defer`s; it never touches the analyzer proxies, so it is
testable without an engine. `build_policies()` wraps each one into a `pulumi_policy` policy that
reports every definite violation first and then, if anything was deferred, raises the engine's own
`UnknownValueError`: the engine turns that into its advisory "can't run during preview" diagnostic,
and `pulumi up` evaluates the policy again once the values are known.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Any

import pulumi_policy as pp
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from mlops_platform.policy import _types as t
from mlops_platform.policy._graph import Res, StackView
from mlops_platform.policy._values import Outcome, Violation, plain
from mlops_platform.policy.config import PolicySettings, Severity, StackKind, settings_schema

PACK_NAME = "mlops-platform"


class Area(StrEnum):
    EKS = "eks"
    NODES = "nodes"
    S3 = "s3"
    ECR = "ecr"
    IAM = "iam"
    KMS = "kms"
    LOGS = "logs"
    RDS = "rds"
    K8S = "k8s"
    TAGS = "tags"
    GPU = "gpu"
    IRSA = "irsa"
    BUDGETS = "budgets"


class Kind(StrEnum):
    RESOURCE = "resource"  # sees one resource's inputs
    STACK = "stack"  # sees every resource, with parents and dependencies


class OnUnknown(StrEnum):
    """What a policy does with a value unknown at preview (e.g. an ARN of a resource being created)."""

    DEFER = "defer"  # the value decides the outcome: "can't run during preview", re-checked at update
    PASS = "pass"  # only presence matters (a reference will be filled in): unknown counts as set
    RESOLVE = "resolve"  # cross-resource references are resolved through the dependency graph instead


@dataclass(frozen=True)
class Compliance:
    framework: str  # "Checkov", "CIS Amazon EKS Benchmark", "AWS Foundational Security Best Practices"
    reference: str  # "CKV_AWS_39", "5.4.2", "S3.5"
    version: str = ""

    def label(self) -> str:
        return f"{self.framework} {self.reference}"


def checkov(*ids: str) -> tuple[Compliance, ...]:
    return tuple(Compliance("Checkov", i) for i in ids)


def cis_eks(*ids: str) -> tuple[Compliance, ...]:
    return tuple(Compliance("CIS Amazon EKS Benchmark", i, "1.7.0") for i in ids)


def fsbp(*ids: str) -> tuple[Compliance, ...]:
    return tuple(Compliance("AWS Foundational Security Best Practices", i) for i in ids)


Check = Callable[..., Iterable[Outcome | str]]


#: The kinds a stack resolves to (`auto` is a way of choosing one, not a kind).
ALL_KINDS = (StackKind.PLATFORM, StackKind.PROJECT)


@dataclass(frozen=True)
class PolicySpec:
    name: str
    area: Area
    kind: Kind
    description: str
    severity: Severity
    remediation: str
    url: str
    check: Check = field(compare=False, repr=False)
    resource_types: tuple[str, ...] = ()
    compliance: tuple[Compliance, ...] = ()
    settings: tuple[str, ...] = ()
    on_unknown: OnUnknown = OnUnknown.DEFER
    unknown_note: str = ""
    stack_kinds: tuple[StackKind, ...] = ALL_KINDS  # where the policy applies

    @property
    def scoped(self) -> bool:
        """Applies to some kinds of stack only (see `stack_kind`)."""
        return set(self.stack_kinds) != set(ALL_KINDS)


#: What `StackKind.AUTO` looks at: each layer stack of an environment (mlops_platform.layers) holds one:
#: the aws layer the EKS cluster, the cluster and tenants layers their root component.
ENVIRONMENT_MARKERS = (t.EKS_CLUSTER, t.CLUSTER_LAYER, t.TENANTS_LAYER)


def kind_of(configured: StackKind, types: Iterable[str]) -> StackKind:
    """`configured`, or for `auto` what the stack's resource types show: platform with an environment marker."""
    if configured is not StackKind.AUTO:
        return configured
    return StackKind.PLATFORM if set(types) & set(ENVIRONMENT_MARKERS) else StackKind.PROJECT


def stack_kind(stack: StackView, settings: PolicySettings) -> StackKind:
    """The kind of stack a policy run judges (inside the pack)."""
    return kind_of(settings.stack_kind, (m for m in ENVIRONMENT_MARKERS if stack.of_type(m)))


_REGISTRY: dict[str, PolicySpec] = {}


def _scope(kind: Kind, meta: dict[str, Any]) -> dict[str, Any]:
    """A policy scoped to a kind of stack, or reading `stack_kind` itself, gets the setting and sees the
    resources `auto` decides on (a routed evaluation would otherwise judge every stack a project)."""
    kinds = set(meta.get("stack_kinds", ALL_KINDS))
    if kinds == set(ALL_KINDS) and "stack_kind" not in meta.get("settings", ()):
        return meta
    if kind is not Kind.STACK or StackKind.AUTO in kinds:
        raise ValueError(f"{meta.get('name')}: only stack policies are scoped, to platform or project stacks")
    types = tuple(dict.fromkeys((*meta.get("resource_types", ()), *ENVIRONMENT_MARKERS)))
    settings = tuple(dict.fromkeys((*meta.get("settings", ()), "stack_kind")))
    return {**meta, "resource_types": types, "settings": settings}


def _register(kind: Kind, **meta: Any) -> Callable[[Check], Check]:
    def decorate(check: Check) -> Check:
        spec = PolicySpec(kind=kind, check=check, **_scope(kind, meta))
        if spec.name in _REGISTRY:
            raise ValueError(f"duplicate policy name {spec.name!r}")
        unknown = set(spec.settings) - set(PolicySettings.model_fields)
        if unknown:
            raise ValueError(f"{spec.name}: unknown settings {sorted(unknown)}")
        _REGISTRY[spec.name] = spec
        return check
    return decorate


def resource_policy(**meta: Any) -> Callable[[Check], Check]:
    """Register `check(res: Res, settings: PolicySettings) -> Iterable[Violation | str | Defer]`."""
    return _register(Kind.RESOURCE, **meta)


def stack_policy(**meta: Any) -> Callable[[Check], Check]:
    """Register `check(stack: StackView, settings: PolicySettings) -> Iterable[Violation | Defer]`."""
    return _register(Kind.STACK, **meta)


@cache
def all_specs() -> tuple[PolicySpec, ...]:
    """Every registered policy, sorted by area then name (imports every rules module once)."""
    from mlops_platform.policy import rules

    for mod in pkgutil.iter_modules(rules.__path__):
        importlib.import_module(f"{rules.__name__}.{mod.name}")
    return tuple(sorted(_REGISTRY.values(), key=lambda s: (list(Area).index(s.area), s.name)))


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


def report_outcomes(outcomes: Iterable[Outcome | str], report: pp.ReportViolation) -> None:
    """Report violations as they come; afterwards raise the engine's UnknownValueError for deferrals."""
    deferred: list[str] = []
    for outcome in outcomes:
        if isinstance(outcome, str):
            report(outcome, None)
        elif isinstance(outcome, Violation):
            report(outcome.message, outcome.urn)
        else:
            deferred.append(outcome.what if outcome.urn is None else f"{outcome.what} ({outcome.urn})")
    if deferred:
        error = UnknownValueError(UNKNOWN_STRING_VALUE, [])
        error.message = "value(s) unknown until apply: " + "; ".join(deferred)
        raise error


def _resource_validation(spec: PolicySpec) -> pp.ResourceValidation:
    types = frozenset(spec.resource_types)

    def validate(args: pp.ResourceValidationArgs, report: pp.ReportViolation) -> None:
        if args.resource_type not in types:
            return
        provider = plain(args.provider.props) if args.provider is not None else {}
        res = Res(args.urn, args.resource_type, args.name, plain(args.props), provider=provider)
        report_outcomes(spec.check(res, settings_from(args.get_config())), report)
    return validate


def _stack_validation(spec: PolicySpec) -> pp.StackValidation:
    def validate(args: pp.StackValidationArgs, report: pp.ReportViolation) -> None:
        stack, settings = StackView(args.resources), settings_from(args.get_config())
        if stack_kind(stack, settings) in spec.stack_kinds:
            report_outcomes(spec.check(stack, settings), report)
    return validate


def _metadata(spec: PolicySpec) -> dict[str, Any]:
    primary = spec.compliance[0] if spec.compliance else None
    framework = (pp.PolicyComplianceFramework(primary.framework, primary.version or None, primary.reference)
                 if primary else None)
    tags = [spec.area.value, *(c.reference for c in spec.compliance)]
    schema = pp.PolicyConfigSchema(settings_schema(spec.settings)) if spec.settings else None
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
