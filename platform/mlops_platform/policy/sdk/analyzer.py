"""The one adapter around pulumi_policy's private API: everything else in the package uses only what this
module exports, so an SDK upgrade that moves these names is fixed here and nowhere else.

What is borrowed, and why:
- `_DictProxy`/`_ListProxy`: the analyzer wraps resource properties in proxies that raise on the first
  unknown value; `unwrap` reads the raw container they hold, so `values.plain` can mark unknowns instead.
- the `UNKNOWN_*` wire strings: how the engine marshals values computed at apply time.
- `UnknownValueError`: raised after reporting, it makes the engine print its own advisory
  "can't run during preview" diagnostic for a policy that deferred.
- `_PolicyAnalyzerServicer`: the servicer `PolicyPack(...)` serves over gRPC; the offline evaluation calls
  the very same servicer without the server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import pulumi_policy as pp
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
    _DictProxy,
    _ListProxy,
)

#: The engine marshals every computed value as this string, whatever its type.
UNKNOWN_WIRE_VALUE: Final = UNKNOWN_STRING_VALUE
#: Every form an unknown value takes on the wire.
UNKNOWN_STRINGS: Final = frozenset({UNKNOWN_STRING_VALUE, UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE,
                                    UNKNOWN_ARRAY_VALUE, UNKNOWN_ASSET_VALUE, UNKNOWN_ARCHIVE_VALUE,
                                    UNKNOWN_OBJECT_VALUE})

#: The analyzer servicer type (`PolicyPack` serves one over gRPC).
AnalyzerServicer = _PolicyAnalyzerServicer


def unwrap(value: Any) -> Any:
    """The raw container under an analyzer proxy (which would raise on unknown items); other values as they are."""
    kind = type(value)
    if kind is _DictProxy or kind is _ListProxy or isinstance(value, _DictProxy | _ListProxy):
        return value["__target"]
    return value


def unknown_value_error(message: str) -> UnknownValueError:
    """The error that makes the engine report "can't run during preview" for the running policy."""
    error = UnknownValueError(UNKNOWN_STRING_VALUE, [])
    error.message = message
    return error


def new_analyzer(name: str, version: str, policies: Sequence[pp.Policy],
                 level: pp.EnforcementLevel) -> AnalyzerServicer:
    """The servicer `PolicyPack(name, policies, level)` would serve, without starting its gRPC server."""
    return _PolicyAnalyzerServicer(name, version, list(policies), level)
