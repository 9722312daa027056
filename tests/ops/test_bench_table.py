"""`make bench` (apps/bench.py) lists every issue #12 goal as a row: the test lanes are listed even when not run,
an unknown section is a usage error, and a failed command is a FAILED row that makes the run exit 1. The
measurements themselves are `make bench`'s (no timed tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlops_platform.apps import bench


def test_test_lanes_are_rows_even_when_not_run() -> None:
    rows = bench.test_rows(measured=False)
    assert [row[0] for row in rows] == ["make test (≤ 150 s)", "make test-fast (≤ 60 s)"]
    assert all("BENCH=--tests" in row[4] for row in rows)


def test_an_unknown_section_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--only", "overhead,speed"]) == 2
    assert "--only speed: use some of overhead,locality,parallel,scale-out,generation,tests" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["--fleet", "ten"], "--fleet 'ten': not a whole number, e.g. 50"),
    (["--fleet", "5,6"], "--fleet '5,6': not a whole number, e.g. 50"),
    (["--fleet"], "--fleet '': not a whole number, e.g. 50"),
    (["--tenants", "10,x"], "--tenants '10,x': not comma-separated whole numbers, e.g. 10,100"),
    (["--tenants", "0"], "--tenants '0': not comma-separated whole numbers, e.g. 10,100"),
])
def test_a_bad_count_is_a_usage_error_not_a_traceback(argv: list[str], message: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--only", "tests", *argv]) == 2
    assert message in capsys.readouterr().out.replace("\n", "")


def test_a_failed_generation_is_a_failed_row_and_fails_the_run(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    def fails(work: Path, size: int) -> None:
        raise RuntimeError("mlplat fleet check failed (6): 50 project(s) need attention")
    monkeypatch.setattr(bench, "generation", fails)
    assert bench.main(["--only", "generation"]) == 1
    assert "FAILED" in capsys.readouterr().out
