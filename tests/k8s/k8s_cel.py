"""cel-python with the Kubernetes CEL functions the platform's admission policies use, so their expressions
are compiled and evaluated here by a real CEL implementation.

cel-python implements the CEL standard library (`matches` included). The Kubernetes additions used here are
written over Python's `re`, whose leftmost-first alternation agrees with RE2 on the patterns the policies use
(no backreferences, lookarounds or possessives):
- `findAll(regex)`: Kubernetes CEL regex library (k8s.io/apiserver/pkg/cel/library/regex.go, "findAll:
  returns all substrings that match the regex");
- `replace(old, new)`: cel-go strings extension (ext/strings.go), enabled in every Kubernetes CEL
  environment ("Kubernetes CEL libraries": strings library).
"""

from __future__ import annotations

import functools
import re
from typing import Any

import celpy
from celpy import celtypes


def _find_all(text: celtypes.StringType, regex: celtypes.StringType) -> celtypes.ListType:
    return celtypes.ListType([celtypes.StringType(m.group(0)) for m in re.finditer(str(regex), str(text))])


def _replace(text: celtypes.StringType, old: celtypes.StringType, new: celtypes.StringType) -> celtypes.StringType:
    return celtypes.StringType(str(text).replace(str(old), str(new)))


FUNCTIONS = {"findAll": _find_all, "replace": _replace}


@functools.lru_cache(maxsize=64)
def _program(expression: str) -> Any:
    """Compiled once per expression (compiling dominates an evaluation's time)."""
    env = celpy.Environment()
    return env.program(env.compile(expression), functions=FUNCTIONS)


def evaluate(expression: str, obj: dict[str, Any], namespace: str, request: dict[str, Any] | None = None) -> bool:
    """Evaluate a ValidatingAdmissionPolicy expression over `object` in `namespace` (and the admission
    `request`, when the expression reads it): True admits. An evaluation error refuses (failurePolicy Fail)."""
    program = _program(expression)
    activation = {"object": celpy.json_to_cel(obj),
                  "namespaceObject": celpy.json_to_cel({"metadata": {"name": namespace}})}
    if request is not None:
        activation["request"] = celpy.json_to_cel(request)
    result = program.evaluate(activation)
    return not isinstance(result, celpy.CELEvalError) and bool(result)


def admits(expression: str, obj: dict[str, Any], namespace: str) -> bool:
    """`evaluate` of an expression that reads only the object and its namespace."""
    return evaluate(expression, obj, namespace)


def message(expression: str, obj: dict[str, Any], namespace: str) -> str:
    """A `messageExpression` rendered over `object` in `namespace` (what a refused requester reads)."""
    result = _program(expression).evaluate({"object": celpy.json_to_cel(obj),
                                            "namespaceObject": celpy.json_to_cel({"metadata": {"name": namespace}})})
    assert not isinstance(result, celpy.CELEvalError), result
    return str(result)
