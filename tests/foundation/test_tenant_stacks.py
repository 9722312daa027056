"""Tenants stacks (issue #12): a shard's stack plans exactly its projects, shards are disjoint and cover every
project, and planning the tenants in parallel processes (`-j`) gives the sequential plan with per-run timings.

dev's projects with `tenants.shards: 6`: churn-model → shard 5, fraud-detector → shard 3 (`shard_of`, pinned in
test_shards.py), so two shards hold one project each and four are empty.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from mlops_platform.cli import main
from mlops_platform.config import load_stack_file
from mlops_platform.config.loader import read_stack_config
from mlops_platform.core.errors import EngineError, UsageError
from mlops_platform.core.layers import Layer
from mlops_platform.core.shards import in_shard, shard_problem, split_stack
from mlops_platform.engine import Plan, run_platform
from mlops_platform.engine.cache import CACHE_ENV
from mlops_platform.engine.computed import Ctx
from mlops_platform.engine.layered import Selection, Unit, join, plan_unit, tenant_units
from mlops_platform.programs.common import config_stack

from .test_layer_stacks import layer_variant

SHARDS = 6
HOLDS = {"dev-tenants-5": ["churn-model"], "dev-tenants-3": ["fraud-detector"]}
TENANT = "mlops:k8s:ProjectTenant"


def stack_of(urn: str) -> str:
    return urn.split("::")[0].removeprefix("urn:pulumi:")


def tenants_by_stack(plan: Plan) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in plan.resources:
        if r.type == TENANT:
            out.setdefault(stack_of(r.urn), []).append(r.name.removeprefix("dev-tenants-project-"))
    return {stack: sorted(names) for stack, names in out.items()}


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    def edit(config: dict[str, Any]) -> None:
        config["mlops-platform:tenants"] = {"shards": SHARDS}
    return layer_variant(tmp_path_factory.mktemp("sharded"), edit)


def test_shard_stack_names_round_trip() -> None:
    assert split_stack("prod-tenants-3") == ("prod", 3)
    assert split_stack("prod") == ("prod", None)
    assert split_stack("prod-tenants-03") == ("prod-tenants-03", None)  # not a name `shard_stack` makes
    assert config_stack("mlops-platform", "prod-tenants-3") == "prod"  # a shard runs its environment's config
    assert config_stack("mlops-platform-aws", "prod-tenants-3") == "prod-tenants-3"  # only the tenants shard
    assert in_shard(["churn-model", "fraud-detector"], 5, SHARDS) == ["churn-model"]
    assert in_shard(["churn-model", "fraud-detector"], None, 1) == ["churn-model", "fraud-detector"]


def test_a_stack_that_is_no_shard_of_the_count_is_refused() -> None:
    assert shard_problem("dev", "dev", 1) is None and shard_problem("dev-tenants-5", "dev", SHARDS) is None
    assert "runs as stacks dev-tenants-0 .. dev-tenants-5, not dev" in str(shard_problem("dev", "dev", SHARDS))
    assert "not dev-tenants-6" in str(shard_problem("dev-tenants-6", "dev", SHARDS))
    assert "tenants.shards is 1" in str(shard_problem("dev-tenants-0", "dev", 1))


def test_the_tenants_program_refuses_the_environment_stack_when_sharded(sharded: Path) -> None:
    # A real `pulumi up --stack dev` of the tenants project would otherwise plan every project a second time.
    config = dict(read_stack_config(sharded)[1]["config"])
    with pytest.raises(UsageError, match=r"tenants\.shards is 6: the tenants layer runs as stacks dev-tenants-0"):
        plan_unit(Unit(Layer.TENANTS, "dev", config), "dev", Ctx("123456789012", "eu-west-1"), {}, True)


def test_tenants_runs_of_a_selection(sharded: Path) -> None:
    cfg = load_stack_file(sharded)
    units = tenant_units(cfg, {}, Selection(), jobs=1)
    assert [u.stack for u in units] == [f"dev-tenants-{k}" for k in range(SHARDS)]
    assert [u.projects for u in units] == [0, 0, 0, 1, 0, 1]
    assert [u.stack for u in tenant_units(cfg, {}, Selection(project="churn-model"), jobs=4)] == ["dev-tenants-5"]
    assert [u.stack for u in tenant_units(cfg, {}, Selection(shard=3), jobs=4)] == ["dev-tenants-3"]


def test_joined_runs_must_agree_on_what_they_share() -> None:
    one = Plan("dev", [], {"region": "eu-west-1", "projects": {"a": {}}})
    assert join("dev", [one, Plan("dev", [], {"region": "eu-west-1", "projects": {"b": {}}})]).outputs == {
        "region": "eu-west-1", "projects": {"a": {}, "b": {}}}
    with pytest.raises(EngineError, match="output 'region': two tenants runs planned different values"):
        join("dev", [one, Plan("dev", [], {"region": "us-east-1"})])


@pytest.mark.slow
def test_each_shard_stack_plans_exactly_its_projects(sharded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    whole = run_platform(stack_file=sharded)
    assert tenants_by_stack(whole) == HOLDS  # disjoint, and together every project once
    assert set(whole.outputs["projects"]) == {"churn-model", "fraud-detector"}
    tenant_stacks = {stack_of(r.urn) for r in whole.resources if r.urn.split("::")[1] == "mlops-platform"}
    assert tenant_stacks == {f"dev-tenants-{k}" for k in range(SHARDS)}  # empty shards are stacks too
    assert main(["plan", "--stack-file", str(sharded), "--layer", "tenants", "--shard", "5", "--json"]) == 0
    shard = json.loads(capsys.readouterr().out)
    assert {stack_of(r["urn"]) for r in shard["resources"]} == {"dev-tenants-5"}
    assert [r["urn"] for r in shard["resources"]] == sorted(r.urn for r in whole.resources
                                                             if stack_of(r.urn) == "dev-tenants-5")
    assert list(shard["outputs"]["projects"]) == ["churn-model"]
    assert [(t["layer"], t["stack"], t["projects"]) for t in shard["timings"]] == [
        ("aws", "dev", None), ("cluster", "dev", None), ("tenants", "dev-tenants-5", 1)]


@pytest.mark.slow
def test_parallel_tenants_plan_the_sequential_plan(plans: dict[str, Plan], monkeypatch: pytest.MonkeyPatch) -> None:
    sequential = plans["dev"]
    monkeypatch.setenv(CACHE_ENV, "off")  # plan again, in two processes, rather than read the sequential plan
    parallel = run_platform(env="dev", jobs=2)
    assert parallel.to_json() == sequential.to_json()
    assert [(t["layer"], t["stack"], t["projects"]) for t in parallel.timings] == [
        ("aws", "dev", None), ("cluster", "dev", None), ("tenants", "dev", 1), ("tenants", "dev", 1)]
    assert all(t["seconds"] > 0 and t["resources"] > 0 for t in parallel.timings)
    # processes, not threads under one GIL: each tenants part ran (and spent its CPU) in a worker of its own
    aws, cluster, *tenants = parallel.timings
    assert aws["pid"] == cluster["pid"] == os.getpid()
    assert len({t["pid"] for t in tenants} | {os.getpid()}) == 1 + len(tenants)
    assert all(t["cpu_seconds"] > 0 for t in parallel.timings)


def test_a_shard_out_of_range_is_a_usage_error(sharded: Path) -> None:
    with pytest.raises(UsageError, match=r"--shard 6: tenants.shards is 6, so shards are 0..5"):
        run_platform(stack_file=sharded, shard=SHARDS)


def test_review_reports_each_program_run_on_stderr(plans: dict[str, Plan], capsys: pytest.CaptureFixture[str]) -> None:
    assert plans["dev"].resources  # planned (or read from this run's cache) first: the review reads the cache
    main(["review", "dev", "--format", "json", "-j", "2"])
    out, err = capsys.readouterr()
    assert json.loads(out)["stack"] == "dev"  # stdout stays the one report document
    runs = re.search(r"^planned: aws dev [\d.]+ s, cluster dev [\d.]+ s, (tenants dev [\d.]+ s \(\d+ projects\)"
                     r"(, tenants dev [\d.]+ s \(\d+ projects\))*)", err, re.M)
    assert runs, err
    # the cached plan keeps the runs of whichever plan made it: one tenants run, or `-j` parts splitting them
    assert sum(map(int, re.findall(r"\((\d+) projects\)", runs.group(1)))) == 2, err
