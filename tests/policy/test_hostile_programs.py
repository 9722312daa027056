"""`mlplat review --program` over programs that try to end, hang or escape the review.

Each program first creates resources, then misbehaves; the review must be an engine error (exit 4) that
names what happened and where, never a pass, and print no traceback. The review runs in a subprocess of
its own here too, bounded in time, so a regression that hangs or kills the reviewer fails instead of
taking the suite down with it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROGRAMS = Path(__file__).resolve().parent / "programs"
MLPLAT = Path(sys.executable).parent / "mlplat"  # the installed entry point, as a user runs it
BOUND = 120  # seconds: far above a healthy review, far below a stuck one


def review(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MLPLAT), "review", *args],
                          capture_output=True, text=True, timeout=BOUND, check=False)


def assert_engine_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 4, output
    for fragment in fragments:
        assert fragment in output, (fragment, output)
    assert "Traceback" not in output


CASES = {
    "early-exit": (f"{PROGRAMS}/early-exit/__main__.py:8: the program exited early with sys.exit(0)",),
    "hard-exit": (f"ended the engine process with os._exit(7) at {PROGRAMS}/hard-exit/__main__.py:8",),
    "raises": (f"{PROGRAMS}/raises/__main__.py:9: the program raised ValueError: tenant list is empty",),
    "network": (f"tried network access (socket.getaddrinfo '203.0.113.7') at {PROGRAMS}/network/__main__.py:9",
                "network access and new processes are blocked"),
    "subprocess": (f"tried starting a process (subprocess.Popen 'curl') at {PROGRAMS}/subprocess/__main__.py:8",),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_a_program_that_does_not_finish_is_an_engine_error(name: str) -> None:
    assert_engine_error(review("--program", str(PROGRAMS / name)), *CASES[name])


@pytest.mark.slow
def test_a_hung_program_is_stopped_at_the_timeout() -> None:
    result = review("--program", str(PROGRAMS / "hangs"), "--timeout", "3")
    assert_engine_error(result, "the program did not finish within 3 s and was stopped", "raise --timeout")


@pytest.mark.slow
def test_json_output_stays_json_on_an_engine_error() -> None:
    result = review("--program", str(PROGRAMS / "hard-exit"), "--format", "json")
    assert result.returncode == 4, result.stderr
    error = json.loads(result.stdout)["error"]
    assert (error["code"], error["exit_code"], error["issues"]) == ("engine", 4, [])
    assert "os._exit(7)" in error["message"]
    assert "Traceback" not in result.stdout + result.stderr


def test_timeout_is_a_program_option() -> None:
    result = review("--plan", "plan.json", "--timeout", "5")
    assert result.returncode == 2 and "--timeout apply to --program only" in result.stderr


def test_guard_refuses_network_and_processes_but_not_loopback_probes(tmp_path: Path) -> None:
    from mlops_platform.engine.sandbox import Guard, SandboxViolation

    guard = Guard(tmp_path)
    guard("socket.bind", (None, ("::1", 0)))  # urllib3's IPv6 probe at import: no network reached
    guard("open", (str(tmp_path / "x"), "r", 0))  # files: the program keeps the caller's permissions
    for event, args in [("socket.bind", (None, ("0.0.0.0", 8080))), ("socket.connect", (None, ("10.0.0.1", 443))),
                        ("socket.getaddrinfo", ("example.com", 443, 0, 0, 0)), ("os.system", (b"id",))]:
        with pytest.raises(SandboxViolation):
            guard(event, args)
    assert [r.what.split(" (")[0] for r in guard.refusals] == ["network access"] * 3 + ["starting a process"]
