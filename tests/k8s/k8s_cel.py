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

import re
from typing import Any

import celpy
from celpy import celtypes


def _find_all(text: celtypes.StringType, regex: celtypes.StringType) -> celtypes.ListType:
    return celtypes.ListType([celtypes.StringType(m.group(0)) for m in re.finditer(str(regex), str(text))])


def _replace(text: celtypes.StringType, old: celtypes.StringType, new: celtypes.StringType) -> celtypes.StringType:
    return celtypes.StringType(str(text).replace(str(old), str(new)))


FUNCTIONS = {"findAll": _find_all, "replace": _replace}


def admits(expression: str, obj: dict[str, Any], namespace: str) -> bool:
    """Evaluate a ValidatingAdmissionPolicy expression over `object` in `namespace`: True admits."""
    env = celpy.Environment()
    program = env.program(env.compile(expression), functions=FUNCTIONS)
    result = program.evaluate({"object": celpy.json_to_cel(obj),
                               "namespaceObject": celpy.json_to_cel({"metadata": {"name": namespace}})})
    if isinstance(result, celpy.CELEvalError):
        return False  # an evaluation error under failurePolicy Fail refuses
    return bool(result)
