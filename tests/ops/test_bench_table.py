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
    assert "argument --only: speed: use some of overhead,locality,parallel,scale-out,generation,tests" in \
        capsys.readouterr().err.replace("\n", "")


@pytest.mark.parametrize(("argv", "message"), [
    (["--fleet", "ten"], "argument --fleet: 'ten': not a whole number, e.g. 50"),
    (["--fleet", "5,6"], "argument --fleet: '5,6': not a whole number, e.g. 50"),
    (["--fleet"], "argument --fleet: expected one argument"),
    (["--tenants", "10,x"], "argument --tenants: '10,x': not comma-separated whole numbers, e.g. 10,100"),
    (["--tenants", "0"], "argument --tenants: '0': not comma-separated whole numbers, e.g. 10,100"),
    (["--tenant", "10"], "unrecognized arguments: --tenant 10"),  # no abbreviations: a typo is no option
])
def test_a_bad_option_is_a_usage_error_not_a_traceback(argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(bench, "rows_for", lambda *_: pytest.fail("a bad option ran the bench"))  # minutes
    assert bench.main(["--only", "tests", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m mlops_platform.apps.bench") and message in err.replace("\n", "")


def test_help_lists_the_options_and_runs_nothing(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(bench, "rows_for", lambda *_: pytest.fail("--help ran the bench"))
    assert bench.main(["--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--full", "--tenants", "--fleet", "--only", "--tests"):
        assert option in out


def test_make_bench_options_reach_the_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[object, ...]] = []
    monkeypatch.setattr(bench, "rows_for", lambda *args: seen.append(args[1:]) or [])
    assert bench.main(["--only", "overhead,tests", "--tenants", "10,20", "--fleet", "5"]) == 0
    assert bench.main(["--full"]) == 0
    assert seen == [(["overhead", "tests"], [10, 20], 5, True), (list(bench.SECTIONS), [10, 100, 500], 50, True)]


def test_a_failed_generation_is_a_failed_row_and_fails_the_run(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    def fails(work: Path, size: int) -> None:
        raise RuntimeError("mlplat fleet check failed (6): 50 project(s) need attention")
    monkeypatch.setattr(bench, "generation", fails)
    assert bench.main(["--only", "generation"]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_the_critical_path_is_the_busiest_process_of_each_layer_in_turn() -> None:
    # aws and cluster in the parent, one after the other; tenants in two workers side by side, one running two
    # parts in turn: the path is aws + cluster + the busier worker, the total every run
    timings = [{"layer": "aws", "pid": 1, "cpu_seconds": 3.0}, {"layer": "cluster", "pid": 1, "cpu_seconds": 2.0},
               {"layer": "tenants", "pid": 7, "cpu_seconds": 4.0}, {"layer": "tenants", "pid": 8, "cpu_seconds": 1.5},
               {"layer": "tenants", "pid": 8, "cpu_seconds": 1.5}]
    assert bench.critical_path_cpu(timings) == (9.0, 12.0)
    sequential = [{**run, "pid": 1} for run in timings]
    assert bench.critical_path_cpu(sequential) == (12.0, 12.0)  # -j 1: no gain
    assert bench.critical_path_cpu([]) == (0, 0)
