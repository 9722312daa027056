"""The child process of `mlplat review --program`: plan one program behind the guards, send the outcome.

`python -m mlops_platform.engine.child REQUEST_JSON CHANNEL_FD`, with a per-run secret as the first line
on stdin. The outcome goes to the inherited pipe CHANNEL_FD (no file path a program could write to), one
JSON line each: `{"hard_exit": {"code", "where"}}` from a guarded `os._exit`/`posix._exit`, and, only once
the program's module has returned, `{"secret", "plan", "references"}` or `{"secret", "error": {"class",
"message", "issues"}}`. The parent (`engine/isolated.py`) accepts a plan only with that secret and exit
status 0. The secret lives in this interpreter, so a program written against this reviewer can find it:
it stops a program that fakes a result blind, not a determined one (docs/policies.md).
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
from mlops_platform.engine.plan import Plan
from mlops_platform.engine.program import platform_stack_outputs, run_program
from mlops_platform.engine.sandbox import Refusal, SandboxViolation, install

_real_exit = os._exit  # saved before the guard wraps it: the child's own exit needs no report


def _send(channel: int, payload: Mapping[str, Any]) -> None:
    data = (json.dumps(payload) + "\n").encode()
    while data:
        data = data[os.write(channel, data):]


def _error(exc: MlplatError) -> dict[str, Any]:
    if isinstance(exc, ConfigError):  # rebuilt as a ConfigError, so `--format json` keeps its issues
        return {"error": {"class": "ConfigError", "message": exc.source,
                          "issues": [dataclasses.asdict(i) for i in exc.issues]}}
    return {"error": {"class": type(exc).__name__, "message": exc.render(), "issues": []}}


def _refused(refusals: list[Refusal]) -> EngineError:
    listed = "; ".join(r.render() for r in refusals)
    return EngineError(f"the program tried {listed}; a review runs offline: network access and new processes "
                       f"are blocked — fix: plan without them (pass such values through stack config)")


def plan_offline(program_dir: Path, *, stack: str | None,
                 config_file: Path | None = None) -> tuple[Plan, dict[str, Mapping[str, Any]]]:
    """A program's offline plan and the stack references it read (name -> the offline outputs it was given):
    what this child plans behind the guards, callable unguarded for programs that are ours (the template's)."""
    references: dict[str, Mapping[str, Any]] = {}

    def resolve(name: str) -> Mapping[str, Any]:
        references[name] = platform_stack_outputs(name)
        return references[name]

    return run_program(program_dir, stack=stack, config_file=config_file, stack_outputs=resolve), references


def _plan(request: Mapping[str, Any], refusals: list[Refusal]) -> dict[str, Any]:
    config_file = request.get("config_file")
    try:
        plan, references = plan_offline(Path(request["program_dir"]), stack=request.get("stack"),
                                        config_file=Path(config_file) if config_file else None)
    except SandboxViolation:
        raise _refused(refusals) from None
    except EngineError:
        if refusals:  # the refusal explains the failure better than its consequence
            raise _refused(refusals) from None
        raise
    if refusals:  # the program swallowed the refusal: its plan is not the plan it makes online
        raise _refused(refusals)
    return {"plan": plan.to_json(), "references": references}


def main(argv: list[str]) -> None:
    request, channel = json.loads(argv[0]), int(argv[1])
    secret = sys.stdin.readline().strip()  # read before the program runs; stdin is closed for it
    sys.stdin.close()
    refusals = install(Path(request["program_dir"]).resolve(),
                       lambda code, where: _send(channel, {"hard_exit": {"code": code, "where": where}}))
    try:
        payload = _plan(request, refusals)
    except MlplatError as exc:
        payload = _error(exc)
    _send(channel, {"secret": secret, **payload})  # reached only once the program's module has returned
    sys.stdout.flush()
    sys.stderr.flush()
    _real_exit(0)  # not sys.exit: the program's threads and atexit handlers do not get the last word


if __name__ == "__main__":
    main(sys.argv[1:])
