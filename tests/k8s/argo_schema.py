"""Argo objects against the published Argo Workflows / Argo Events JSON schemas (tests/fixtures/upstream/crds),
strictly: a key the schema does not declare is an error (any recorded CRD schema, by group and version)."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema

from .upstream import crd_schema

ARGO = "argoproj.io"


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with `additionalProperties: false` wherever an object lists its properties, so a
    misspelt or misplaced field fails instead of being ignored (the API server prunes unknown fields)."""
    out = copy.deepcopy(schema)
    stack: list[Any] = [out]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return out


def crd_errors(kind: str, obj: dict[str, Any], group: str = ARGO, version: str = "v1alpha1") -> list[str]:
    schema = strict(crd_schema(group, kind, version))
    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft4Validator)(schema)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]
