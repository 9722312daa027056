"""Numbers in user-written files are numbers: the base of every model that reads them.

pydantic's lax mode reads YAML's `true` as 1 for an `int` field and accepts `.inf`/`.nan` for a
`float`: `max_size: true` became one node and `monthly_usd: .inf` passed validation, then printed
`Infinity` (not JSON) from `cost --json`. `StrictNumbers` rejects both, naming the field.
"""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

BOOL_FOR_NUMBER = ("a boolean where a number is expected (YAML reads true/false/yes/no/on/off as booleans; "
                   "write a number)")


def _kinds(annotation: Any) -> set[type]:
    """The scalar types an annotation accepts at its top level (through Optional/Union/Annotated)."""
    if get_origin(annotation) in (Union, types.UnionType):
        return set().union(*(_kinds(arg) for arg in get_args(annotation)))
    if hasattr(annotation, "__metadata__"):  # Annotated[...]
        return _kinds(get_args(annotation)[0])
    return {annotation} if isinstance(annotation, type) else set()


def expects_number(annotation: Any) -> bool:
    kinds = _kinds(annotation)
    return bool(kinds & {int, float}) and bool not in kinds


def _item_annotation(annotation: Any) -> Any:
    """The element type of list[...] (also inside Optional), else None."""
    for candidate in (annotation, *get_args(annotation)):
        if get_origin(candidate) is list:
            return get_args(candidate)[0]
    return None


class StrictNumbers(BaseModel):
    """Rejects booleans for numeric fields (and list items) and non-finite floats."""

    model_config = ConfigDict(allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_number(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is None:
            return value
        if isinstance(value, bool) and expects_number(field.annotation):
            raise ValueError(BOOL_FOR_NUMBER)
        item = _item_annotation(field.annotation)
        if isinstance(value, list) and item is not None and expects_number(item) \
                and any(isinstance(v, bool) for v in value):
            raise ValueError(BOOL_FOR_NUMBER)
        return value
