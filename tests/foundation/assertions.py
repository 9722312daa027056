"""Plan assertions in the style of CDK's `Template` (resourceCountIs, hasResourceProperties).

Numbers arrive from the engine as floats (the wire format has no ints); Python's `2 == 2.0` makes
subset matching work without conversion.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mlops_platform.engine import Plan, Resource

BASE_TAG_KEYS = frozenset({"environment", "owner", "cost-center", "managed-by"})


def is_subset(expected: Any, actual: Any) -> bool:
    """Mappings match when every expected key matches; lists match element-wise with equal length."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and is_subset(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(actual) == len(expected)
                and all(is_subset(e, a) for e, a in zip(expected, actual, strict=True)))
    return bool(expected == actual)


def resource_count_is(plan: Plan, type_: str, count: int) -> None:
    found = len(plan.of_type(type_))
    assert found == count, f"{plan.stack}: expected {count} × {type_}, found {found}"


def has_resource_properties(plan: Plan, type_: str, subset: dict[str, Any]) -> list[Resource]:
    """At least one resource of the type has inputs matching `subset`; returns the matches."""
    candidates = plan.of_type(type_)
    matches = [r for r in candidates if is_subset(subset, r.inputs)]
    assert matches, (f"{plan.stack}: no {type_} among {len(candidates)} has {subset}; "
                     f"first: {candidates[0].inputs if candidates else None}")
    return matches


def all_resources_have(plan: Plan, type_: str, subset: dict[str, Any], minimum: int = 1) -> list[Resource]:
    """Every resource of the type (and at least `minimum` of them) has inputs matching `subset`."""
    candidates = plan.of_type(type_)
    assert len(candidates) >= minimum, f"{plan.stack}: expected >= {minimum} × {type_}, found {len(candidates)}"
    bad = [r.name for r in candidates if not is_subset(subset, r.inputs)]
    assert not bad, f"{plan.stack}: {type_} {bad} lack {subset}"
    return candidates


def by_input(plan: Plan, type_: str, key: str, value: Any) -> Resource:
    """The single resource of a type whose input `key` equals `value` (e.g. a bucket's versioning)."""
    found = [r for r in plan.of_type(type_) if r.get(key) == value]
    assert len(found) == 1, f"{plan.stack}: {len(found)} × {type_} with {key}={value!r}"
    return found[0]


def policy_documents(plan: Plan) -> Iterator[tuple[Resource, str, dict[str, Any]]]:
    """(resource, input key, parsed document) for every IAM-style JSON policy in the plan's inputs."""
    for res in plan.custom_resources():
        for key, value in res.inputs.items():
            if isinstance(value, str) and value.lstrip().startswith("{"):
                doc = json.loads(value)
                if isinstance(doc, dict) and "Statement" in doc:
                    yield res, key, doc
