"""Offline evaluation through the analyzer interface the Pulumi engine itself calls.

`pulumi preview --policy-pack DIR` starts the pack (whose `PolicyPack` serves the analyzer servicer over
gRPC, see `sdk.analyzer`) and calls `GetAnalyzerInfo`, `Configure`, `Analyze` once per resource and
`AnalyzeStack` once.
Here the same servicer is built without a server, and the same protobuf requests are built from a plan
JSON (`{"stack", "resources": [{"urn","type","name","parent","dependencies","inputs"}], "outputs"}`),
properties as `google.protobuf.Struct` exactly as the engine marshals them (numbers as doubles, unknowns
as the engine's magic string). The diagnostics that come back are what the engine would print.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel

from mlops_platform.core.errors import ConfigError, ConfigIssue
from mlops_platform.engine.urns import ROOT_STACK_TYPE
from mlops_platform.policy.config import Enforcement, PolicyPackConfig, Severity
from mlops_platform.policy.config_files import to_pulumi_config
from mlops_platform.policy.pack import PACK_NAME, all_specs, build_policies
from mlops_platform.policy.registry import Kind, PolicySpec
from mlops_platform.policy.sdk.analyzer import AnalyzerServicer, new_analyzer
from mlops_platform.policy.waivers import stack_urn_of

PACK_VERSION = "0.1.0"
_CANT_RUN = "can't run policy"
_DISABLED = Enforcement.DISABLED.value
_LEVELS = {Enforcement.ADVISORY: proto.ADVISORY, Enforcement.MANDATORY: proto.MANDATORY,
           Enforcement.DISABLED: proto.DISABLED}
_LEVEL_NAMES = {proto.ADVISORY: Enforcement.ADVISORY, proto.MANDATORY: Enforcement.MANDATORY,
                proto.REMEDIATE: Enforcement.MANDATORY, proto.DISABLED: Enforcement.DISABLED}


@dataclass(frozen=True)
class Diagnostic:
    """One analyzer diagnostic, decoded: a violation, or a policy that could not run (deferred)."""

    policy: str
    severity: Severity
    enforcement: Enforcement
    urn: str
    message: str
    deferred: bool = False


@dataclass(frozen=True)
class Evaluation:
    stack: str
    diagnostics: list[Diagnostic]
    levels: dict[str, Enforcement]  # the level each policy ran at
    resources: int


def analyzer(specs: Sequence[PolicySpec] | None = None) -> AnalyzerServicer:
    """The pack's analyzer servicer, as `PolicyPack(...)` builds it, minus the gRPC server."""
    return new_analyzer(PACK_NAME, PACK_VERSION, build_policies(specs), EnforcementLevel.ADVISORY)


def to_struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def configure_request(pulumi_config: Mapping[str, Mapping[str, Any]]) -> proto.ConfigureAnalyzerRequest:
    """`--policy-pack-config` document → the Configure request the engine sends."""
    request = proto.ConfigureAnalyzerRequest()
    for name, entry in pulumi_config.items():
        level = Enforcement(entry.get("enforcementLevel", Enforcement.MANDATORY.value))
        props = {k: v for k, v in entry.items() if k != "enforcementLevel"}
        request.policyConfig[name].CopyFrom(proto.PolicyConfig(enforcementLevel=_LEVELS[level],
                                                               properties=to_struct(props)))
    return request


def check_config_schemas(info: Any, pulumi_config: Mapping[str, Mapping[str, Any]], source: str) -> None:
    """Validate each policy's properties against the schema it advertises, as the Pulumi CLI does."""
    _check_with(config_validators(info), pulumi_config, source)


def config_validators(info: Any) -> list[tuple[str, Any]]:
    """Each policy's name and a validator of the properties schema it advertises (GetAnalyzerInfo)."""
    return [(policy.name,
             _jsonschema().Draft7Validator({"type": "object",
                                            "properties": dict(_plain_struct(policy.configSchema.properties))}))
            for policy in info.policies]


def _check_with(validators: Sequence[tuple[str, Any]], pulumi_config: Mapping[str, Mapping[str, Any]],
                source: str) -> None:
    issues: list[ConfigIssue] = []
    for name, validator in validators:
        entry = {k: v for k, v in pulumi_config.get(name, {}).items() if k != "enforcementLevel"}
        # the schema is an object of optional properties: nothing set is always valid
        for err in validator.iter_errors(entry) if entry else ():
            path = ".".join(str(p) for p in err.absolute_path)
            issues.append(ConfigIssue(f"{name}.{path}", err.message, file=source))
    if issues:
        raise ConfigError(issues, source)


@lru_cache(maxsize=1)
def _pack_validators() -> tuple[tuple[str, Any], ...]:
    """The pack's validators, built once per process: GetAnalyzerInfo's schemas never change, and building
    the servicer and the validators cost far more than checking one configuration."""
    return tuple(config_validators(analyzer().GetAnalyzerInfo(None, None)))


@lru_cache(maxsize=32)
def _check_once(pulumi_config_json: str, source: str) -> None:
    """Schema-check a configuration once per process."""
    _check_with(_pack_validators(), json.loads(pulumi_config_json), source)


def _jsonschema() -> Any:
    # Imported lazily and untyped: the engine's own validation step, used only when a config is checked.
    return importlib.import_module("jsonschema")


def _plain_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(struct)


def _options(entry: Mapping[str, Any]) -> proto.AnalyzerResourceOptions:
    return proto.AnalyzerResourceOptions(parent=entry.get("parent") or "", protect=bool(entry.get("protect")))


def _provider(entry: Mapping[str, Any], by_urn: Mapping[str, Mapping[str, Any]]) -> Any:
    ref = entry.get("provider") or ""
    found = by_urn.get(ref.rsplit("::", 1)[0]) if "::" in ref else None
    if found is None:
        return None
    return proto.AnalyzerProviderResource(type=found["type"], properties=to_struct(found.get("inputs") or {}),
                                          urn=found["urn"], name=found["name"])


def analyze_request(entry: Mapping[str, Any], by_urn: Mapping[str, Mapping[str, Any]]) -> proto.AnalyzeRequest:
    return _analyze_request(stack_resource(entry, by_urn))


def _analyze_request(res: proto.AnalyzerResource) -> proto.AnalyzeRequest:
    """The per-resource request, reusing the already marshalled properties (Struct building dominates)."""
    request = proto.AnalyzeRequest(type=res.type, properties=res.properties, urn=res.urn, name=res.name,
                                   options=res.options)
    if res.HasField("provider"):
        request.provider.CopyFrom(res.provider)
    return request


def stack_resource(entry: Mapping[str, Any], by_urn: Mapping[str, Mapping[str, Any]]) -> proto.AnalyzerResource:
    res = proto.AnalyzerResource(type=entry["type"], properties=to_struct(entry.get("inputs") or {}),
                                 urn=entry["urn"], name=entry["name"], options=_options(entry),
                                 parent=entry.get("parent") or "", dependencies=list(entry.get("dependencies") or ()))
    for prop, urns in (entry.get("propertyDependencies") or {}).items():
        res.propertyDependencies[prop].urns.extend(urns)
    provider = _provider(entry, by_urn)
    if provider is not None:
        res.provider.CopyFrom(provider)
    return res


def _decode(diag: Any, urn: str, severities: Mapping[str, Severity]) -> Diagnostic:
    deferred = diag.message.startswith(_CANT_RUN)
    message = diag.message
    if not deferred and message.startswith(diag.description):
        message = message[len(diag.description):].lstrip("\n") or diag.description
    return Diagnostic(policy=diag.policyName, severity=severities.get(diag.policyName, Severity.MEDIUM),
                      enforcement=_LEVEL_NAMES[diag.enforcementLevel], urn=diag.urn or urn,
                      message=message, deferred=deferred)


class _Session:
    """The pack's analyzers for one evaluation, configured once, and the plan's protobuf requests.

    `routed=True` gives each resource type (and each stack policy) a servicer holding only the policies
    that declare it. The servicer deserializes every resource once per policy it holds, so routing saves
    work a policy would discard anyway (its first line ignores other types); results are identical to
    the whole pack, which `routed=False` runs and the fidelity tests compare against.
    """

    def __init__(self, specs: Sequence[PolicySpec], pulumi_config: Mapping[str, Mapping[str, Any]]) -> None:
        self._specs, self._config = specs, pulumi_config
        self._servicers: dict[tuple[str, ...], AnalyzerServicer] = {}

    def servicer(self, names: tuple[str, ...]) -> AnalyzerServicer:
        if names not in self._servicers:
            wanted = set(names)
            servicer = analyzer([s for s in self._specs if s.name in wanted])
            servicer.Configure(configure_request({k: v for k, v in self._config.items() if k in wanted}), None)
            self._servicers[names] = servicer
        return self._servicers[names]


def _resource_routes(specs: Sequence[PolicySpec], routed: bool) -> Callable[[str], tuple[str, ...]]:
    everything = tuple(s.name for s in specs)
    by_type: dict[str, list[str]] = {}
    for spec in specs:
        if spec.kind is Kind.RESOURCE:
            for type_ in spec.resource_types:
                by_type.setdefault(type_, []).append(spec.name)
    return (lambda type_: tuple(by_type.get(type_, ()))) if routed else (lambda _type: everything)


def _stack_types(specs: Sequence[PolicySpec], routed: bool) -> Callable[[str], bool]:
    wanted = {t for s in specs if s.kind is Kind.STACK for t in s.resource_types}
    return (lambda type_: type_ in wanted) if routed else (lambda _type: True)


def root_stack_resource(stack: str, urns: list[str]) -> proto.AnalyzerResource | None:
    """The root stack resource (`pulumi:pulumi:Stack`) the engine registers first and sends with every stack
    analysis; the offline plan leaves it out, so it is rebuilt here (the pack matches stack-level waivers on
    its URN: waivers.stack_urn_of). None when no URN tells the project."""
    root = stack_urn_of(urns, stack)
    if root is None:
        return None
    return proto.AnalyzerResource(type=ROOT_STACK_TYPE, urn=root, name=root.rsplit("::", 1)[1],
                                  properties=to_struct({}))


def _stack_requests(specs: Sequence[PolicySpec], resources: list[proto.AnalyzerResource],
                    routed: bool, root: proto.AnalyzerResource | None
                    ) -> Iterator[tuple[tuple[str, ...], proto.AnalyzeStackRequest]]:
    stack_specs = [s for s in specs if s.kind is Kind.STACK]
    top = [root] if root is not None else []
    if not routed:
        yield tuple(s.name for s in specs), proto.AnalyzeStackRequest(resources=[*top, *resources])
        return
    for spec in stack_specs:
        wanted = set(spec.resource_types)
        yield (spec.name,), proto.AnalyzeStackRequest(resources=[*top, *(r for r in resources if r.type in wanted)])


def evaluate(plan: Mapping[str, Any], config: PolicyPackConfig, source: str = "<policy config>",
             routed: bool = True) -> Evaluation:
    """Run every policy of the pack over a plan JSON, configured for one environment."""
    specs = all_specs()
    pulumi_config = to_pulumi_config(config)
    _check_once(json.dumps(pulumi_config, sort_keys=True), source)
    session = _Session(specs, pulumi_config)
    entries: list[Mapping[str, Any]] = plan.get("resources") or []
    by_urn = {e["urn"]: e for e in entries}
    severities = {s.name: s.severity for s in specs}
    # A disabled policy never runs (the servicer skips it), so routing leaves it out: a review with most
    # policies disabled builds, configures and feeds only the servicers of the ones that run. The whole pack
    # (routed=False, what the fidelity tests compare against) still gets every policy, as the engine does.
    chosen = [s for s in specs if not routed or pulumi_config[s.name]["enforcementLevel"] != _DISABLED]
    route, in_stack = _resource_routes(chosen, routed), _stack_types(chosen, routed)
    # Marshal each resource once, and only when some policy will look at it.
    marshalled = {e["urn"]: stack_resource(e, by_urn) for e in entries if route(e["type"]) or in_stack(e["type"])}
    diagnostics: list[Diagnostic] = []
    for entry in entries:
        names = route(entry["type"])
        if names:
            response = session.servicer(names).Analyze(_analyze_request(marshalled[entry["urn"]]), None)
            diagnostics.extend(_decode(d, entry["urn"], severities) for d in response.diagnostics)
    resources = [r for r in marshalled.values() if in_stack(r.type)]
    root = root_stack_resource(str(plan.get("stack", "")), list(by_urn))
    for names, request in _stack_requests(chosen, resources, routed, root):
        response = session.servicer(names).AnalyzeStack(request, None)
        diagnostics.extend(_decode(d, "", severities) for d in response.diagnostics)
    levels = {s.name: config.level(s.name, s.severity) for s in specs}
    return Evaluation(str(plan.get("stack", "")), diagnostics, levels, len(entries))


def policies_by_name(specs: Iterable[PolicySpec] | None = None) -> dict[str, PolicySpec]:
    return {s.name: s for s in (specs or all_specs())}
