"""Run a real Pulumi Python program under the mock runtime, the way the Python language host would.

Configures the runtime with a `RecordingMonitor`, loads the stack's config, runs the program's
`__main__.py` inside `run_in_stack` (so exports become stack outputs and program errors surface after
all RPCs settle) and returns a `Plan`. No Pulumi CLI, no cloud.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import runpy
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks, settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.settings import SETTINGS, _get_rpc_manager
from pulumi.runtime.stack import run_in_stack
from ruamel.yaml.error import YAMLError

from mlops_platform.core.errors import EngineError, MlplatError, UsageError
from mlops_platform.core.files import kind_of, load_yaml, read_text
from mlops_platform.engine.computed import Ctx
from mlops_platform.engine.lean import lean_run
from mlops_platform.engine.plan import Plan
from mlops_platform.engine.recorder import SECRET, PlatformMocks, RecordingMonitor
from mlops_platform.engine.sandbox import where

OutputsResolver = Callable[[str], Mapping[str, Any]]





def _flatten_config(project: str, config: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Stack-file config → the `ns:key` → string map the language host passes (JSON for objects)."""
    values: dict[str, str] = {}
    secrets: list[str] = []
    for key, value in config.items():
        full = key if ":" in key else f"{project}:{key}"
        if _is_secure(value):
            secrets.append(full)
        plain = _mask_secure(value)
        if isinstance(plain, bool):
            values[full] = "true" if plain else "false"
        else:
            values[full] = plain if isinstance(plain, str) else json.dumps(plain)
    return values, secrets


def _is_secure(value: Any) -> bool:
    if isinstance(value, Mapping):
        return set(value) == {"secure"} or any(_is_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_is_secure(v) for v in value)
    return False


def _mask_secure(value: Any) -> Any:
    if isinstance(value, Mapping):
        return SECRET if set(value) == {"secure"} else {str(k): _mask_secure(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_secure(v) for v in value]
    return value


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    text = read_text(path, "Pulumi YAML file", "pass a Pulumi project/stack file")
    try:
        data = load_yaml(text, path, "Pulumi YAML file")
    except YAMLError as exc:
        raise UsageError(f"{path}: not readable YAML ({exc}) — fix: pass a Pulumi YAML file") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a YAML mapping — fix: pass a Pulumi project/stack file")
    return data


def project_name(program_dir: Path) -> tuple[str, Path]:
    """(project name, directory holding the program entry) from the directory's Pulumi.yaml."""
    manifest = program_dir / "Pulumi.yaml"
    if kind_of(manifest) == "missing":  # anything else there is reported as what it is
        raise UsageError(f"{program_dir}: no Pulumi.yaml — fix: pass a Pulumi program directory")
    data = read_yaml_mapping(manifest)
    name = data.get("name")
    runtime = data.get("runtime")
    runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if not isinstance(name, str) or runtime_name != "python":
        raise UsageError(f"{manifest}: name/runtime: need a named Python program (runtime: python), "
                         f"got name={name!r} runtime={runtime_name!r}")
    main = data.get("main")
    entry_dir = (program_dir / main) if isinstance(main, str) else program_dir
    return name, entry_dir


@contextlib.contextmanager
def _program_environment(entry_dir: Path) -> Iterator[None]:
    old_path, old_cwd = list(sys.path), os.getcwd()
    sys.path.insert(0, str(entry_dir))
    os.chdir(entry_dir)
    try:
        yield
    finally:
        sys.path[:] = old_path
        os.chdir(old_cwd)


def _configure(monitor: RecordingMonitor, project: str, stack: str, preview: bool) -> None:
    settings.ROOT.set(None)
    features = set(monitor.GetDeploymentInfo(None).supportedFeatures)
    settings.configure(mocks.MockSettings(
        monitor=monitor, monitor_features=features, engine=mocks.MockEngine(logging.getLogger("mlplat.engine")),
        project=project, stack=stack, dry_run=preview, organization="organization", callbacks=None))


def raised_at(exc: BaseException, program_dir: Path) -> str:
    """`file:line` where the program raised: the deepest frame in the program's own files (else the
    deepest frame at all), so a reviewer is pointed at the line, not at the entry module."""
    return where(traceback.extract_tb(exc.__traceback__), program_dir.resolve())


def run(entry_dir: Path, project: str, stack: str, config: Mapping[str, Any], ctx: Ctx,
        stack_outputs: OutputsResolver | None = None, preview: bool = True, settle: bool | None = None) -> Plan:
    """Run the program in `entry_dir` (its `__main__.py`) and record what it registers.

    `settle`: wait for the program's outputs in one pass (`_settle_outputs`); default only when the program
    resolves no StackReferences, since a resolver may plan another program inside this run and settling
    would wait on that very call. Pass True when the resolver only reads outputs planned before."""
    entry = entry_dir / "__main__.py"
    if not entry.is_file():
        raise UsageError(f"{entry_dir}: no __main__.py — fix: point at the Pulumi Python program directory")
    monitor = RecordingMonitor(PlatformMocks(ctx, stack_outputs), stack=stack, project=project)
    values, secret_keys = _flatten_config(project, config)
    _configure(monitor, project, stack, preview)
    set_all_config(values, secret_keys)
    loop = asyncio.new_event_loop()
    try:
        with _program_environment(entry_dir), lean_run():
            early = stack_outputs is None if settle is None else settle
            loop.run_until_complete(run_in_stack(lambda: _run_entry(entry, settle=early)))
        # Join the threads the SDK ran monitor calls on: a finished plan leaves no thread behind, so the
        # engine may fork tenants planners afterwards (engine/layered.py) without copying a busy thread's locks.
        loop.run_until_complete(loop.shutdown_default_executor())
    except MlplatError:
        raise
    except pulumi.RunError as exc:
        raise EngineError(f"{entry}: the program failed: {exc}") from None
    except SystemExit as exc:  # a plan cut short is not a plan: never a pass
        raise EngineError(f"{raised_at(exc, entry_dir)}: the program exited early with sys.exit({exc.code!r}) "
                          f"— fix: let {entry.name} run to its end") from None
    except Exception as exc:
        raise EngineError(f"{raised_at(exc, entry_dir) or entry}: the program raised {type(exc).__name__}: "
                          f"{exc}") from exc
    finally:
        loop.close()
        monitor.close_thread_loops()
        settings.ROOT.set(None)
    _refuse_duplicate_urns(entry, monitor)
    return Plan.from_monitor(stack, monitor)


def _refuse_duplicate_urns(entry: Path, monitor: RecordingMonitor) -> None:
    """A plan a real `pulumi up` would stop at ("Duplicate resource URN") is no plan (engine/urns.py)."""
    problems = monitor.urns.problems()
    if problems:
        raise EngineError(f"{entry}: {len(problems)} resource URN problem(s), all listed:\n  " + "\n  ".join(problems))


async def _run_entry(entry: Path, settle: bool) -> None:
    runpy.run_path(str(entry), run_name="__main__")
    if settle:
        await _settle_outputs()


async def _settle_outputs() -> None:
    """Wait once for every output the program created, until no new ones appear.

    Pulumi's `wait_for_rpcs` waits for the first of all pending outputs to finish, then again on all the
    rest: at thousands of outputs that is quadratic (most of a large plan's time). Waiting for all at once
    settles the same outputs with one callback each; `wait_for_rpcs` then finds them done. Failures are
    left in their tasks, for `wait_for_rpcs` to raise as it always does.
    """
    rpcs = _get_rpc_manager()
    while rpcs.unhandled_exception is None:
        with SETTINGS.lock:
            pending = [task for task in SETTINGS.outputs if not task.done()]
        if not pending:
            return
        # A failed registration leaves the outputs that depend on it pending forever; Pulumi's own loop
        # raises the failure instead of waiting for them, so stop at the first failure and let it.
        waiting = pending + [rpc for rpc in rpcs.rpcs if isinstance(rpc, asyncio.Future) and not rpc.done()]
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_EXCEPTION)
        if any(not task.cancelled() and task.exception() is not None for task in done):
            return
