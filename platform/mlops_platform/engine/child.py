"""The child process of `mlplat review --program`: plan one program behind the guards, write the outcome.

`python -m mlops_platform.engine.child REQUEST_JSON RESULT_FILE`. The outcome file holds exactly one of
`{"plan", "references"}`, `{"error": {"class", "message", "issues"}}` or (written by a guarded `os._exit`)
`{"hard_exit": {"code", "where"}}`; the parent (`engine/isolated.py`) trusts a plan only together with
exit status 0.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops_platform.core.errors import ConfigError, EngineError, MlplatError
from mlops_platform.engine import default_stack_outputs, run_program
from mlops_platform.engine.sandbox import Guard, SandboxViolation, install

_real_exit = os._exit  # saved before the guard wraps it: the child's own exit needs no report


def _write(path: Path, payload: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(payload), encoding="utf-8")


def _error(exc: MlplatError) -> dict[str, Any]:
    if isinstance(exc, ConfigError):  # rebuilt as a ConfigError, so `--format json` keeps its issues
        return {"error": {"class": "ConfigError", "message": exc.source,
                          "issues": [dataclasses.asdict(i) for i in exc.issues]}}
    return {"error": {"class": type(exc).__name__, "message": exc.render(), "issues": []}}


def _refused(guard: Guard) -> EngineError:
    listed = "; ".join(r.render() for r in guard.refusals)
    return EngineError(f"the program tried {listed}; a review runs offline: network access and new processes "
                       f"are blocked — fix: plan without them (pass such values through stack config)")


def _plan(request: Mapping[str, Any], guard: Guard) -> dict[str, Any]:
    references: dict[str, Mapping[str, Any]] = {}

    def resolve(name: str) -> Mapping[str, Any]:
        references[name] = default_stack_outputs(name)
        return references[name]

    config_file = request.get("config_file")
    try:
        plan = run_program(Path(request["program_dir"]), stack=request.get("stack"),
                           config_file=Path(config_file) if config_file else None, stack_outputs=resolve)
    except SandboxViolation:
        raise _refused(guard) from None
    except EngineError:
        if guard.refusals:  # the refusal explains the failure better than its consequence
            raise _refused(guard) from None
        raise
    if guard.refusals:  # the program swallowed the refusal: its plan is not the plan it makes online
        raise _refused(guard)
    return {"plan": plan.to_json(), "references": references}


def main(argv: list[str]) -> None:
    request = json.loads(argv[0])
    result = Path(argv[1])
    guard = install(Path(request["program_dir"]).resolve(),
                    lambda code, where: _write(result, {"hard_exit": {"code": code, "where": where}}))
    try:
        payload = _plan(request, guard)
    except MlplatError as exc:
        payload = _error(exc)
    _write(result, payload)
    sys.stdout.flush()
    sys.stderr.flush()
    _real_exit(0)  # not sys.exit: the program's threads and atexit handlers do not get the last word


if __name__ == "__main__":
    main(sys.argv[1:])
