"""The offline engine: run real Pulumi programs under the mock runtime and record the plan.

`Plan` and `Resource` load with the package; the planning functions load when first used (module `__getattr__`):
a program's review child (`child.py`) imports `program.py` only, not the stack config `stacks.py` reads.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mlops_platform.engine.plan import Plan, Resource

if TYPE_CHECKING:
    from mlops_platform.engine.program import run_program
    from mlops_platform.engine.stacks import default_stack_outputs, platform_outputs, run_platform

__all__ = ["Plan", "Resource", "default_stack_outputs", "platform_outputs", "run_platform", "run_program"]

#: Each lazily loaded name and its module.
_LAZY = {"run_program": "program", "run_platform": "stacks", "platform_outputs": "stacks",
         "default_stack_outputs": "stacks"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
