"""Resource URNs as the Pulumi engine computes them, and the duplicates a real `pulumi up` refuses.

A URN is `urn:pulumi:<stack>::<project>::<qualified type>::<name>`, where the qualified type is the
parent's qualified type, `$`, then the resource's own type; the root stack (`pulumi:pulumi:Stack`) is left
out of the chain (https://www.pulumi.com/docs/concepts/resources/names/#urns; the format and the `$` type
delimiter: https://pkg.go.dev/github.com/pulumi/pulumi/sdk/v3/go/common/resource/urn). Two registrations
with one URN make the real engine stop the update with "Duplicate resource URN '…'; try giving it a unique
name" (pulumi/pulumi diag code 2001, checked in the step generator since pulumi/pulumi#1687).

The mock runtime sees none of this: `MockMonitor.make_urn` keeps only the parent's *last* type (and the
stack's) and silently overwrites a second registration. So the recorder asks `UrnTracker` about every
registration: one dict lookup and one set/dict insert each, cheap enough for every plan.
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
    """Engine URNs of one program run, keyed by the mock runtime's URNs (the parents the SDK sends)."""

    def __init__(self, stack: str, project: str) -> None:
        self.stack, self.project = stack, project
        self._by_mock: dict[str, str] = {}  # mock URN -> engine URN ("" where two engine URNs share one)
        self._seen: dict[str, Seen] = {}  # engine URN -> first registration
        self.duplicates: dict[str, list[Seen]] = {}  # engine URN -> every registration, where more than one
        self.unresolved: list[tuple[str, Seen]] = []  # children of a parent the mock runtime cannot single out

    def add(self, mock_urn: str, type_: str, name: str, parent_mock_urn: str) -> None:
        """Record one registration (call under the monitor's lock: registrations come from worker threads)."""
        parent = self._by_mock.get(parent_mock_urn, parent_mock_urn) if parent_mock_urn else ""
        if parent_mock_urn and not parent:
            self.unresolved.append((parent_mock_urn, Seen(type_, name, parent_mock_urn)))
            return
        chain = qualified_type(parent) if parent else ""
        seen = Seen(type_, name, parent if chain else "")
        urn = engine_urn(self.stack, self.project, chain, type_, name)
        first = self._seen.setdefault(urn, seen)
        if first is not seen:
            self.duplicates.setdefault(urn, [first]).append(seen)
        known = self._by_mock.setdefault(mock_urn, urn)
        if known != urn:  # the mock runtime named two resources alike: their children's parent is ambiguous
            self._by_mock[mock_urn] = ""

    def problems(self) -> list[str]:
        """One line per duplicate URN (naming both registrations) and per child the engine cannot place."""
        lines = [f"duplicate resource URN {urn}, registered {len(seen)} times: {_registrations(seen)} — a real "
                 "`pulumi up` fails with 'Duplicate resource URN'; fix: give each a unique name (children are "
                 "named f\"{name}-…\" after their component)" for urn, seen in sorted(self.duplicates.items())]
        lines += [f"{seen.describe()}: its parent {parent} names two different resources under the mock runtime, "
                  "so the offline engine cannot tell which one it belongs to; fix: give those parents distinct "
                  "names" for parent, seen in self.unresolved]
        return lines


def _registrations(seen: list[Seen]) -> str:
    """`a; b` in a stable order (registrations arrive from worker threads), repeats counted: `a (×2)`."""
    counts = Counter(s.describe() for s in seen)
    return "; ".join(text + (f" (×{n})" if n > 1 else "") for text, n in sorted(counts.items()))


def recorded_problems(resources: Iterable[tuple[str, str, str, str | None]]) -> list[str]:
    """`UrnTracker.problems` over recorded registrations `(mock urn, type, name, parent mock urn)` of one or
    more programs, in any order (a stored plan is sorted by URN; a program's stack and project are in its URNs)."""
    rows = list(resources)
    parents = {urn: parent or "" for urn, _, _, parent in rows}

    def depth(urn: str) -> int:
        steps = 0
        while (urn := parents.get(urn, "")) and steps <= len(parents):
            steps += 1
        return steps

    trackers: dict[tuple[str, str], UrnTracker] = {}
    for urn, type_, name, parent in sorted(rows, key=lambda row: depth(row[0])):  # parents before children
        stack, project = urn.removeprefix("urn:pulumi:").split("::")[:2]
        trackers.setdefault((stack, project), UrnTracker(stack, project)).add(urn, type_, name, parent or "")
    return [line for tracker in trackers.values() for line in tracker.problems()]
