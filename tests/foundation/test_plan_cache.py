"""The on-disk plan cache (`engine/cache.py`): a key for everything that decides a plan, exact round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlops_platform.engine import Plan
from mlops_platform.engine.cache import CACHE_ENV, cache_dir, cached_plan, plan_key


def program(tmp_path: Path) -> Path:
    root = tmp_path / "platform"
    (root / "pkg").mkdir(parents=True)
    (root / "__main__.py").write_text("import pkg\n")
    (root / "pkg" / "__init__.py").write_text("X = 1\n")
    return root


def test_the_key_covers_every_program_file_and_every_input(tmp_path: Path) -> None:
    root = program(tmp_path)
    key = plan_key(root, stack="dev", config={"a": 1}, preview=True)
    assert key == plan_key(root, stack="dev", config={"a": 1}, preview=True)
    assert key != plan_key(root, stack="dev", config={"a": 2}, preview=True)
    assert key != plan_key(root, stack="dev", config={"a": 1}, preview=False)
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "x.pyc").write_bytes(b"compiled")  # bytecode is not source
    assert key == plan_key(root, stack="dev", config={"a": 1}, preview=True)
    (root / "pkg" / "__init__.py").write_text("X = 2\n")
    assert key != plan_key(root, stack="dev", config={"a": 1}, preview=True)
    (root / "pkg" / "__init__.py").write_text("X = 1\n")
    (root / "pkg" / "data.yaml").write_text("k: v\n")  # data files a program reads count too
    assert key != plan_key(root, stack="dev", config={"a": 1}, preview=True)


def test_a_cached_plan_round_trips_exactly(plans: dict[str, Plan], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    fresh = plans["dev"]
    calls: list[int] = []

    def compute() -> Plan:
        calls.append(1)
        return fresh

    assert cached_plan("k", compute) is fresh
    again = cached_plan("k", compute)
    assert calls == [1] and again is not fresh and again == fresh
    assert {r.urn for r in again.resources if not r.custom} == {r.urn for r in fresh.resources if not r.custom}
    (tmp_path / "cache" / "k.json").write_text("{truncated")  # a broken entry is planned again, not trusted
    assert cached_plan("k", compute) == fresh and calls == [1, 1]


def test_errors_are_not_cached_and_off_disables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))

    def fail() -> Plan:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cached_plan("k", fail)
    assert not (tmp_path / "cache" / "k.json").exists()
    monkeypatch.setenv(CACHE_ENV, "off")
    assert cache_dir() is None
    plan = Plan("s", [])
    assert cached_plan("k", lambda: plan) is plan and cached_plan("k", lambda: Plan("t", [])).stack == "t"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "mlplat" / "plans"
