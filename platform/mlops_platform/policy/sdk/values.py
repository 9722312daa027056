"""Resource properties as policies read them: plain Python, with values unknown at preview made explicit.

The analyzer hands policies proxies that raise `UnknownValueError` on the first unknown value touched,
which turns the whole policy into an advisory "can't run during preview" note. Policies here instead
convert properties once with `plain()` (unknowns become the `UNKNOWN` sentinel) and decide per value:
a reference that will be filled in later (a KMS key ARN) usually passes, a value that decides the outcome
(`httpTokens`) is deferred with `Defer`, which the registry turns back into the engine's own
"can't run" diagnostic after all definite violations were reported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from mlops_platform.policy.sdk.analyzer import UNKNOWN_STRINGS, UNKNOWN_WIRE_VALUE, unwrap


class _Unknown:
    """A value the engine only learns at apply time (an ARN of a resource being created)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"

    def __bool__(self) -> bool:
        raise TypeError("an unknown value has no truth value; test it with is_unknown() first")


UNKNOWN: Final = _Unknown()


def is_unknown(value: object) -> bool:
    return value is UNKNOWN


@dataclass(frozen=True)
class Violation:
    """One violation; `urn` only for stack policies (resource policies report on their resource)."""

    message: str
    urn: str | None = None


@dataclass(frozen=True)
class Defer:
    """The outcome depends on `what`, unknown until apply: report "can't run during preview"."""

    what: str
    urn: str | None = None


Outcome = Violation | Defer


#: JSON scalars other than strings: `plain` returns them as they are.
_SCALARS = frozenset({bool, int, float, type(None)})


def plain(value: Any) -> Any:
    """Analyzer proxies (or any nested mapping/list) → plain dicts/lists with `UNKNOWN` sentinels."""
    # Every policy converts every resource it judges: exact-type checks first (scalars, strings, the
    # analyzer's proxies) keep the generic ABC checks for what is none of them.
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is str:
        return UNKNOWN if value in UNKNOWN_STRINGS else value
    target = unwrap(value)
    if type(target) is dict or isinstance(target, Mapping):
        return {str(k): plain(v) for k, v in target.items()}
    if isinstance(target, list | tuple):
        return [plain(v) for v in target]
    if isinstance(target, str):
        return UNKNOWN if target in UNKNOWN_STRINGS else target
    return target


def dig(data: Any, path: str) -> Any:
    """Value at a dotted path (`vpcConfig.endpointPublicAccess`, `taints.0.key`); None when absent.

    Returns `UNKNOWN` as soon as any step is unknown, so callers see "unknown" rather than "absent".
    """
    node = data
    for part in path.split("."):
        if node is UNKNOWN:
            return UNKNOWN
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def as_list(value: Any) -> list[Any]:
    """A list property as a list: None → [], a scalar → [scalar] (IAM `Action: "s3:GetObject"`)."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def is_true(value: Any) -> bool:
    """True, or the string "true" (launch-template flags are strings in the AWS provider)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def as_int(value: Any) -> int | None:
    """The wire format has only doubles: 4.0 → 4. Non-numbers → None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def parse_json_document(value: Any) -> Any:
    """A JSON policy document (IAM, bucket, key, ECR lifecycle) as data; UNKNOWN stays UNKNOWN.

    Documents arrive as strings; programs sometimes pass dicts. A string that is not JSON → None.
    """
    if value is UNKNOWN or value is None:
        return value
    if isinstance(value, str):
        if UNKNOWN_WIRE_VALUE in value:
            return UNKNOWN  # an interpolated unknown inside the document
        try:
            return plain(json.loads(value))
        except ValueError:
            return None
    return value


def walk_unknown_paths(data: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths of every unknown value inside `data` (used to explain deferrals)."""
    if data is UNKNOWN:
        yield prefix or "."
    elif isinstance(data, Mapping):
        for key, val in data.items():
            yield from walk_unknown_paths(val, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, list):
        for i, val in enumerate(data):
            yield from walk_unknown_paths(val, f"{prefix}.{i}" if prefix else str(i))


def fmt(value: Any) -> str:
    """A value for a message: 4.0 → 4, strings quoted, unknowns named."""
    if value is UNKNOWN:
        return "<unknown until apply>"
    if value is None:
        return "unset"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value) if isinstance(value, str | list | dict) else repr(value)
