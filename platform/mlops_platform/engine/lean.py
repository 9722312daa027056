"""Run a program under the mock runtime for less CPU, without changing anything the plan records.

Two costs of a plain mock-runtime run that say nothing about the plan (profiled on `make bench`'s prod
workloads, docs/operations.md):

- **Garbage collection.** A program imports tens of thousands of SDK classes and functions (pulumi_aws,
  pulumi_kubernetes) and keeps every resource, Output and request alive until it ends. With CPython's
  default thresholds, full collections traverse that whole heap again and again: a third of a 10-tenant
  plan's CPU went to collections that found next to nothing. A run raises the thresholds (the youngest
  generation still collects every `GC_THRESHOLDS[0]` allocations, so cyclic garbage stays bounded) and
  restores the caller's afterwards.
- **Source positions.** For every resource the SDK walks the Python stack (`traceback.extract_stack`, a
  `file://` URI per frame) to send the engine a `sourcePosition` and `stackTrace`. The real engine shows them
  in diagnostics; the mock monitor drops them and the recorder never reads them (`engine/recorder.py`), so a
  run sends an empty trace instead. The SDK's own fields stay, so the request has the same shape.

And one cost of the process that ran a plan: at exit, CPython's finalization collects the whole heap more
than once (a second of CPU after a 10-tenant plan, a fifth of the process), although every object is about to
go. The first run registers an exit hook that moves the heap into the collector's permanent generation
(`gc.freeze`), so finalization frees objects by reference count without traversing them. Finalizers of
objects that die in reference cycles at exit then do not run; nothing the engine or the CLI writes depends on
them (files are closed where they are written).

The per-run savings are undone when the run ends, nested runs included (a StackReference resolved offline
plans another program inside a run). `tests/foundation/test_engine_lean.py` shows a plan is byte-identical
with and without them.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
from collections.abc import Iterator
from typing import Any

from pulumi.runtime import resource as sdk_resource
from pulumi.runtime.proto import source_pb2

#: (youngest, middle, oldest) generation thresholds during a program run; CPython's default is (700, 10, 10).
GC_THRESHOLDS = (50_000, 20, 100)
#: The SDK function that captures a resource's source position (pulumi 3.x `runtime/resource.py`).
_STACK_TRACE_HOOK = "_get_stack_trace"


def _empty_stack_trace() -> Any:
    return source_pb2.StackTrace()


@contextlib.contextmanager
def gc_thresholds(thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> Iterator[None]:
    """Collect garbage less often while a program runs; the caller's thresholds come back afterwards."""
    before = gc.get_threshold()
    gc.set_threshold(*thresholds)
    try:
        yield
    finally:
        gc.set_threshold(*before)


@contextlib.contextmanager
def without_source_positions() -> Iterator[None]:
    """Send the mock monitor empty stack traces (it drops them) instead of walking the stack per resource.

    An SDK without the hook runs unchanged: the saving is lost, never the plan."""
    captured = getattr(sdk_resource, _STACK_TRACE_HOOK, None)
    if captured is None:
        yield
        return
    setattr(sdk_resource, _STACK_TRACE_HOOK, _empty_stack_trace)
    try:
        yield
    finally:
        setattr(sdk_resource, _STACK_TRACE_HOOK, captured)


@functools.cache
def freeze_heap_at_exit() -> None:
    """Once per process: at exit, freeze the heap before finalization would traverse it."""
    atexit.register(gc.freeze)


@contextlib.contextmanager
def lean_run(enabled: bool = True) -> Iterator[None]:
    """The savings for one program run (`enabled=False`: the SDK's own behaviour, for comparison)."""
    if not enabled:
        yield
        return
    freeze_heap_at_exit()
    with gc_thresholds(), without_source_positions():
        yield
