"""Tenant shards (`mlops_platform.core.shards`, `mlplat shards`): stable, balanced, few moves when they grow."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pulumi
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlops_platform.cli import main
from mlops_platform.core.errors import ToolMissingError, UsageError
from mlops_platform.core.shards import (
    MAX_SHARDS,
    assign,
    aws_layer_stack,
    project_platform_stack,
    shard_count,
    shard_of,
    shard_stack,
)
from mlops_platform.programs.project_platform import _shard_stack, platform_reference

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


@given(names, st.integers(1, 12))
def test_a_project_stack_reads_the_shard_the_platform_plans_it_in(projects: list[str], count: int) -> None:
    """The template's `infra/` and project CI find the tenants stack with the same function the platform
    places projects with: each project's stack is the one `mlplat shards` lists it in."""
    for shard in assign("prod", projects, count):
        for name in shard.projects:
            assert project_platform_stack("acme/mlops-platform/prod", name, count) == \
                f"acme/mlops-platform/{shard.stack}"


def test_the_platform_stack_of_a_project_unsharded_sharded_and_from_a_shard_name() -> None:
    assert project_platform_stack("acme/mlops-platform/prod", "fraud-detector", 1) == "acme/mlops-platform/prod"
    assert project_platform_stack("acme/mlops-platform/prod", "fraud-detector", 4) == \
        "acme/mlops-platform/prod-tenants-3"  # shard_of pinned above
    # a config already naming a shard still means its environment: the count decides the shard
    assert project_platform_stack("acme/mlops-platform/prod-tenants-1", "recsys", 4) == \
        "acme/mlops-platform/prod-tenants-2"
    assert aws_layer_stack("acme/mlops-platform/prod-tenants-1") == "acme/mlops-platform-aws/prod"
    assert [shard_count(v) for v in (None, "", 4, "4", 4.0)] == [1, 1, 4, 4, 4]  # older platforms export none
    with pytest.raises(UsageError, match=r"platformStack 'mlops-platform/prod': not a fully qualified .* fix: set "
                       r"the project's `platformStack` config to ORG/PROJECT/ENV"):
        aws_layer_stack("mlops-platform/prod")


@pytest.mark.parametrize("exported", ["abc", 0, MAX_SHARDS + 1, 2.5, True, [2]])
def test_a_tenant_shards_output_that_is_no_count_names_the_output_and_the_stack(exported: object) -> None:
    with pytest.raises(UsageError, match=rf"output tenant_shards of acme/mlops-platform-aws/prod is "
                                         rf"{re.escape(repr(exported))}, not a shard count 1..{MAX_SHARDS} — fix: "):
        shard_count(exported, "acme/mlops-platform-aws/prod")


def test_a_projects_program_stops_with_the_error_not_a_traceback() -> None:
    """A project's `infra/` calls platform_reference with its `platformStack` config: pulumi prints a RunError's
    message alone, where a ValueError would be an unhandled exception with the program's traceback."""
    with pytest.raises(pulumi.RunError, match="platformStack 'prod': not a fully qualified platform stack"):
        platform_reference("prod", "fraud-detector")
    with pytest.raises(pulumi.RunError, match="output tenant_shards of acme/mlops-platform-aws/prod is 'x'"):
        _shard_stack("acme/mlops-platform/prod", "fraud-detector", "x", "acme/mlops-platform-aws/prod")
    assert _shard_stack("acme/mlops-platform/prod", "fraud-detector", 4, "acme/mlops-platform-aws/prod") == \
        "acme/mlops-platform/prod-tenants-3"


def test_platform_stack_command(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                tmp_path: Path) -> None:
    assert main(["platform-stack", "acme/mlops-platform/prod", "--project", "fraud-detector", "--shards", "4"]) == 0
    assert capsys.readouterr().out.strip() == "acme/mlops-platform/prod-tenants-3"
    assert main(["platform-stack", "prod", "--project", "fraud-detector", "--shards", "4"]) == UsageError.exit_code
    assert "fix: set the project's `platformStack` config" in capsys.readouterr().err.replace("\n", "")
    assert main(["platform-stack", "acme/mlops-platform/prod", "--project", "../x", "--shards", "4"]) == 2
    assert "--project '../x': not a project name" in capsys.readouterr().err.replace("\n", "")
    monkeypatch.setenv("PATH", str(tmp_path))  # no Pulumi CLI to read the live count with
    assert main(["platform-stack", "acme/mlops-platform/prod", "--project", "x"]) == ToolMissingError.exit_code
    assert "or pass --shards" in capsys.readouterr().err.replace("\n", "")
