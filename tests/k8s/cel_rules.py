"""The CEL rules of a recorded CRD schema (`x-kubernetes-validations`), evaluated by cel-python over an object the
way the API server does on create: schema defaults applied first, each rule with `self` bound to the value at
its node, transition rules (`oldSelf`) skipped. JSON schema validation (crd_validator) cannot see these rules;
they hold facts like "an HTTPS listener needs tls" (Gateway API v1.3.0).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from typing import Any

import celpy


@dataclass
class CelReport:
    violations: list[str] = field(default_factory=list)
    #: Rules cel-python could not evaluate (a Kubernetes-only CEL function): listed, never counted as passing.
    unevaluated: list[str] = field(default_factory=list)
    evaluated: int = 0


def with_defaults(schema: dict[str, Any], value: Any) -> Any:
    """`value` with the schema's `default`s filled in below every object present (structural defaulting)."""
    if isinstance(value, dict):
        out = dict(value)
        for key, sub in (schema.get("properties") or {}).items():
            if key not in out and "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
            if key in out:
                out[key] = with_defaults(sub, out[key])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            known = schema.get("properties") or {}
            out.update({k: with_defaults(extra, v) for k, v in out.items() if k not in known})
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [with_defaults(schema["items"], v) for v in value]
    return value


@functools.lru_cache(maxsize=512)
def _program(rule: str) -> Any:
    """A rule compiled once per process (compiling dominates an evaluation; a rule that does not compile
    raises on every call, since errors are not cached)."""
    env = celpy.Environment()
    return env.program(env.compile(rule))


def _check(schema: dict[str, Any], value: Any, path: str, report: CelReport) -> None:
    for rule in schema.get("x-kubernetes-validations") or []:
        if "oldSelf" in rule["rule"]:
            continue
        try:
            ok = _program(rule["rule"]).evaluate({"self": celpy.json_to_cel(value)})
        except Exception as exc:
            report.unevaluated.append(f"{path or '.'}: {rule['rule'][:80]} ({type(exc).__name__})")
            continue
        if isinstance(ok, celpy.celtypes.BoolType):
            report.evaluated += 1
            if not ok:
                report.violations.append(f"{path or '.'}: {rule.get('message', rule['rule'])}")
        else:
            report.unevaluated.append(f"{path or '.'}: {rule['rule'][:80]} (gave {ok!r})")
    _descend(schema, value, path, report)


def _descend(schema: dict[str, Any], value: Any, path: str, report: CelReport) -> None:
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if key in value:
                _check(sub, value[key], f"{path}.{key}", report)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, sub_value in value.items():
                if key not in props:
                    _check(extra, sub_value, f"{path}.{key}", report)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _check(schema["items"], item, f"{path}[{i}]", report)


def cel_report(schema: dict[str, Any], obj: dict[str, Any]) -> CelReport:
    report = CelReport()
    _check(schema, with_defaults(schema, obj), "", report)
    return report
