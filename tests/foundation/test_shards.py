"""Tenant shards (`mlops_platform.core.shards`, `mlplat shards`): stable, balanced, few moves when they grow."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlops_platform.cli import main
from mlops_platform.core.shards import MAX_SHARDS, assign, shard_of, shard_stack

from .stackfiles import issue_at, issues_of, sections

names = st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True), unique=True, max_size=40)


def test_assignment_is_pinned() -> None:
    # A changed hash would move every tenant between stacks: these values must never change.
    assert [shard_of(n, 4) for n in ("fraud-detector", "recsys", "churn-model", "team-0001")] == [3, 2, 3, 0]
    assert shard_of("anything", 1) == 0
    assert shard_stack("prod", 0, 1) == "prod" and shard_stack("prod", 2, 4) == "prod-tenants-2"


@given(names, st.integers(1, MAX_SHARDS - 1))
def test_growing_by_one_shard_only_moves_projects_onto_the_new_shard(projects: list[str], count: int) -> None:
    for name in projects:
        before, after = shard_of(name, count), shard_of(name, count + 1)
        assert after in (before, count), (name, before, after)


@given(names, st.integers(1, 8))
def test_every_shard_is_listed_whatever_the_order(projects: list[str], count: int) -> None:
    shards = assign("dev", projects, count)
    assert [s.index for s in shards] == list(range(count))
    assert sorted(p for s in shards for p in s.projects) == sorted(projects)
    assert assign("dev", list(reversed(projects)), count) == shards


def test_shards_are_balanced() -> None:
    counts = Counter(shard_of(f"team-{i:04d}", 8) for i in range(2000))
    assert all(abs(c - 250) < 60 for c in counts.values()), counts  # 2000/8 each, a few % spread


@pytest.mark.parametrize("bad", [0, MAX_SHARDS + 1])
def test_shard_count_is_validated(bad: int) -> None:
    issue = issue_at(issues_of(sections(over={"tenants": {"shards": bad}})), "tenants.shards")
    assert issue.value == bad
    with pytest.raises(ValueError, match=f"shards must be 1..{MAX_SHARDS}"):
        shard_of("x", bad)


def test_shards_command_prints_a_ci_matrix(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["shards", "dev", "--json"]) == 0
    matrix = json.loads(capsys.readouterr().out)
    assert matrix == {"include": [{"shard": 0, "stack": "dev", "projects": ["churn-model", "fraud-detector"]}]}
