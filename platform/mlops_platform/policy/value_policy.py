"""Policies that are one value check, declared as data (like checkov's `BaseResourceValueCheck`).

Many policies read one property, defer when it is unknown at preview, and report when it is not the
expected value. `value_policy(path=..., expected=..., problem=...)` registers such a policy from its
declaration; policies that weigh several values or several resources keep hand-written bodies.

    value_policy(name="rds-not-public", ..., path="publiclyAccessible", expected=False,
                 problem=": the endpoint resolves to a public address")

`expected` is compared the way the AWS provider's defaults read:
- a `bool`: a flag, where absent means false (`value is True` must equal it);
- an `int`: the number, whatever its wire form (4.0 is 4);
- a tuple of strings: one of them.
The message is `<path> is <value><problem>`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mlops_platform.policy.config import PolicySettings
from mlops_platform.policy.registry import Check, OnUnknown, resource_policy
from mlops_platform.policy.sdk.graph import Res
from mlops_platform.policy.sdk.values import Defer, as_int, fmt, is_unknown

Expected = bool | int | tuple[str, ...]


@dataclass(frozen=True)
class ValueCheck:
    """One property, the value it must have, and what it means when it does not."""

    path: str  # dotted path into the resource's inputs, e.g. `imageScanningConfiguration.scanOnPush`
    expected: Expected
    problem: str = ""  # appended to `<path> is <value>`: ": why it matters" or " (provider default X)"
    on_unknown: OnUnknown = OnUnknown.DEFER  # DEFER: "can't run during preview"; PASS: unknown counts as set
    enabled_by: str | None = None  # a boolean setting that switches the check on (always on when None)

    def passes(self, value: Any) -> bool:
        if isinstance(self.expected, bool):
            return (value is True) == self.expected
        if isinstance(self.expected, int):
            return as_int(value) == self.expected
        return value in self.expected

    def __call__(self, res: Res, settings: PolicySettings) -> Iterator[str | Defer]:
        if self.enabled_by is not None and not getattr(settings, self.enabled_by):
            return
        value = res.get(self.path)
        if is_unknown(value):
            if self.on_unknown is OnUnknown.DEFER:
                yield Defer(self.path)
        elif not self.passes(value):
            yield f"{self.path} is {fmt(value)}{self.problem}"


def value_policy(*, path: str, expected: Expected, problem: str = "", enabled_by: str | None = None,
                 on_unknown: OnUnknown = OnUnknown.DEFER, **meta: Any) -> Check:
    """Register a resource policy that is one `ValueCheck`; `meta` as for `resource_policy` (name, area, ...).

    A check switched on by a setting declares that setting, so the engine sends it to the policy.
    """
    if enabled_by is not None:
        meta["settings"] = tuple(dict.fromkeys((*meta.get("settings", ()), enabled_by)))
    check = ValueCheck(path, expected, problem, on_unknown, enabled_by)
    return resource_policy(on_unknown=on_unknown, **meta)(check)
