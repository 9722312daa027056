"""Resource URNs as the Pulumi engine computes them, and the duplicates a real `pulumi up` refuses.

A URN is `urn:pulumi:<stack>::<project>::<qualified type>::<name>`, where the qualified type is the
parent's qualified type, `$`, then the resource's own type; the root stack (`pulumi:pulumi:Stack`) is left
out of the chain (https://www.pulumi.com/docs/concepts/resources/names/#urns; the format and the `$` type
delimiter: https://pkg.go.dev/github.com/pulumi/pulumi/sdk/v3/go/common/resource/urn). Two registrations
with one URN make the real engine stop the update with "Duplicate resource URN '…'; try giving it a unique
name" (pulumi/pulumi diag code 2001, checked in the step generator since pulumi/pulumi#1687).

The mock runtime sees neither: `MockMonitor.make_urn` keeps only the parent's *last* type (and the stack's)
and silently overwrites a second registration. So the recorder makes the engine's URNs instead
(`RecordingMonitor.make_urn`, so plans, reports and waivers name what `pulumi stack --show-urns` prints) and
tells `UrnTracker` about every registration: one dict insert each, cheap enough for every plan.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


def engine_urn(stack: str, project: str, parent_qualified_type: str, type_: str, name: str) -> str:
    """The URN the Pulumi engine gives a resource whose parent has `parent_qualified_type` ("" for the stack)."""
    qualified = f"{parent_qualified_type}${type_}" if parent_qualified_type else type_
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


def qualified_type(urn: str) -> str:
    """The `$`-joined type chain of a URN (`a$b$c`), "" for the root stack (left out of its children's)."""
    qualified = urn.split("::")[2]
    return "" if qualified == ROOT_STACK_TYPE else qualified


@dataclass(frozen=True)
class Seen:
    """One registration as a duplicate report names it."""

    type: str
    name: str
    parent: str  # the parent's engine URN, "" for the stack (or none)

    def describe(self) -> str:
        return f"{self.type} {self.name!r} (parent: {self.parent or 'the stack'})"


class UrnTracker:
    """The registrations of one program run by engine URN, and the URNs registered more than once."""

    def __init__(self, stack: str, project: str) -> None:
        self.stack, self.project = stack, project
        self._seen: dict[str, Seen] = {}  # engine URN -> first registration
        self.duplicates: dict[str, list[Seen]] = {}  # engine URN -> every registration, where more than one

    def add(self, urn: str, type_: str, name: str, parent: str) -> None:
        """Record one registration by its engine URN and its parent's ("" for none); call under the monitor's
        lock: registrations come from worker threads."""
        seen = Seen(type_, name, parent if parent and qualified_type(parent) else "")
        first = self._seen.setdefault(urn, seen)
        if first is not seen:
            self.duplicates.setdefault(urn, [first]).append(seen)

    def problems(self) -> list[str]:
        """One line per duplicate URN, naming every registration."""
        return [f"duplicate resource URN {urn}, registered {len(seen)} times: {_registrations(seen)} — a real "
                "`pulumi up` fails with 'Duplicate resource URN'; fix: give each a unique name (children are "
                "named f\"{name}-…\" after their component)" for urn, seen in sorted(self.duplicates.items())]


def _registrations(seen: list[Seen]) -> str:
    """`a; b` in a stable order (registrations arrive from worker threads), repeats counted: `a (×2)`."""
    counts = Counter(s.describe() for s in seen)
    return "; ".join(text + (f" (×{n})" if n > 1 else "") for text, n in sorted(counts.items()))


def recorded_problems(resources: Iterable[tuple[str, str, str, str | None]]) -> list[str]:
    """`UrnTracker.problems` over recorded registrations `(engine urn, type, name, parent urn)` of one or more
    programs, in any order (a program's stack and project are in its URNs)."""
    trackers: dict[tuple[str, str], UrnTracker] = {}
    for urn, type_, name, parent in resources:
        stack, project = urn.removeprefix("urn:pulumi:").split("::")[:2]
        trackers.setdefault((stack, project), UrnTracker(stack, project)).add(urn, type_, name, parent or "")
    return [line for tracker in trackers.values() for line in tracker.problems()]

