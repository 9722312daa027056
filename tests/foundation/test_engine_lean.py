"""The offline engine's CPU savings (`engine/lean.py`) change nothing a plan records, and are undone after a run."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest
from mlops_platform.engine import Plan, run_platform, runner
from mlops_platform.engine.cache import CACHE_ENV
from mlops_platform.engine.lean import GC_THRESHOLDS, lean_run
from pulumi.runtime import resource as sdk_resource

#: The shipped environment with the most kinds of resources (protected stateful resources, serving, tenants).
ENV = "prod"


def _text(plan: Plan) -> str:
    return json.dumps(plan.to_json(), sort_keys=True)


def test_a_lean_plan_is_byte_identical_to_the_sdk_s_own_run(plans: dict[str, Plan],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # `plans[ENV]` ran lean (every run does); plan again with the SDK's stack capture and default GC.
    monkeypatch.setenv(CACHE_ENV, "off")
    monkeypatch.setattr(runner, "lean_run", lambda: lean_run(enabled=False))
    plain = run_platform(env=ENV)
    assert _text(plain) == _text(plans[ENV])
    assert plain.outputs == plans[ENV].outputs


def test_a_run_restores_the_sdk_hook_and_the_gc_thresholds_even_nested_and_on_errors() -> None:
    hook, thresholds = sdk_resource._get_stack_trace, gc.get_threshold()
    with lean_run():
        assert gc.get_threshold() == GC_THRESHOLDS
        assert sdk_resource._get_stack_trace is not hook
        assert list(sdk_resource._get_stack_trace().frames) == []
        with lean_run():  # a StackReference planned offline runs a program inside a run
            pass
        assert gc.get_threshold() == GC_THRESHOLDS and sdk_resource._get_stack_trace is not hook
    assert sdk_resource._get_stack_trace is hook and gc.get_threshold() == thresholds
    with pytest.raises(RuntimeError, match="boom"), lean_run():
        raise RuntimeError("boom")
    assert sdk_resource._get_stack_trace is hook and gc.get_threshold() == thresholds


def test_disabled_is_the_sdk_s_own_behaviour() -> None:
    hook, thresholds = sdk_resource._get_stack_trace, gc.get_threshold()
    with lean_run(enabled=False):
        assert sdk_resource._get_stack_trace is hook and gc.get_threshold() == thresholds


EXITING = """
import json, sys
from pathlib import Path
from mlops_platform.engine import run_program
plan = run_program(Path(sys.argv[1]))
with open(sys.argv[2], "w") as fh:
    json.dump(plan.to_json(), fh)
print(json.dumps({"resources": len(plan.resources)}))
"""
PROGRAM = """
import pulumi
pulumi.ComponentResource("test:index:Part", "part")
pulumi.export("answer", 42)
"""


def test_a_process_that_ran_a_plan_exits_cleanly_with_its_output_whole(tmp_path: Path) -> None:
    # The exit hook freezes the heap for a cheaper finalization: output and files must still be complete.
    (tmp_path / "Pulumi.yaml").write_text("name: tiny\nruntime: python\n")
    (tmp_path / "__main__.py").write_text(PROGRAM)
    done = subprocess.run([sys.executable, "-c", EXITING, str(tmp_path), str(tmp_path / "plan.json")],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"resources": 1}
    assert json.loads((tmp_path / "plan.json").read_text())["outputs"] == {"answer": 42.0}
