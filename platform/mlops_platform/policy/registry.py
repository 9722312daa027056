"""The policy registry: every policy's metadata and check, registered by decorator.

A policy is a plain generator function decorated with `@resource_policy(...)` or `@stack_policy(...)`.
It yields `Violation`s (or plain strings) and `Defer`s; it never touches the analyzer proxies, so it is
testable without an engine. The rules modules (`rules/`) sit above this module and register into it;
`pack.py` sits above them and turns every registered spec into a CrossGuard policy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mlops_platform.policy.config import PolicySettings, Severity, StackKind
from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.graph import StackView
from mlops_platform.policy.sdk.values import Outcome


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
    held_by: str = ""  # an environment-level policy: the marker of the layer stack holding what it checks

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


def markers_of(types: Iterable[str]) -> frozenset[str]:
    """The environment markers among a stack's resource types."""
    return frozenset(types) & frozenset(ENVIRONMENT_MARKERS)


def applies(spec: PolicySpec, kind: StackKind, markers: Iterable[str]) -> bool:
    """Whether `spec` judges a stack of `kind` holding these environment markers.

    An environment-level policy (`held_by`) is judged once per environment: in the layer stack holding what
    it checks (the environment budget in the aws layer's), not again in the cluster or tenants layer's, where
    it would find nothing and block. A whole-environment plan holds every marker; a platform stack with none
    (`stack_kind: platform` set on some other program) is judged by every platform policy as before."""
    held = frozenset(markers)
    return kind in spec.stack_kinds and (not spec.held_by or not held or spec.held_by in held)


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
        if spec.held_by and (spec.held_by not in ENVIRONMENT_MARKERS or set(spec.stack_kinds) != {StackKind.PLATFORM}):
            raise ValueError(f"{spec.name}: held_by names an environment marker, of a platform-only policy")
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


def registered() -> tuple[PolicySpec, ...]:
    """The specs registered so far, in registration order (`pack.all_specs` loads every rules module first)."""
    return tuple(_REGISTRY.values())
