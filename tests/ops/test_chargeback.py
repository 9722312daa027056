"""Per-project chargeback (`mlplat cost ENV --by-project`): the pure share arithmetic with hypothesis
properties, the shipped environments' reports, and the CLI (table, JSON, errors)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlops_platform.config import PlatformConfig, load_env
from mlops_platform.ops.chargeback import (
    BUDGET_VISIBILITY,
    Capacity,
    Fractions,
    Quota,
    allocate,
    by_project,
    pool_capacity,
    quota_fractions,
)
from mlops_platform.ops.cost import estimate
from mlops_platform.ops.prices import table_prices
from ops_configs import BASE, merge

quotas = st.lists(st.builds(Quota, name=st.just("p"), gpus=st.integers(0, 64), vcpus=st.integers(0, 512),
                            memory_gib=st.integers(0, 4096)), min_size=0, max_size=8)
capacities = st.builds(Capacity, gpus=st.integers(0, 128), vcpus=st.integers(0, 1024),
                       memory_gib=st.integers(0, 8192))
costs = st.lists(st.floats(0, 1e6, allow_nan=False), min_size=3, max_size=3).map(np.array)


# --- pure arithmetic: hand-checked cases ------------------------------------------------------------------

def test_fractions_are_quota_over_capacity_when_capacity_suffices() -> None:
    (a, b) = quota_fractions([Quota("a", 2, 16, 64), Quota("b", 0, 8, 32)], Capacity(gpus=8, vcpus=64, memory_gib=256))
    assert a == Fractions(gpu=2 / 8, compute=(16 / 64 + 64 / 256) / 2)
    assert b == Fractions(gpu=0.0, compute=(8 / 64 + 32 / 256) / 2)


def test_oversubscribed_quotas_are_scaled_to_the_pool() -> None:
    """Two projects each claiming every GPU get half of the GPU pools' cost each, never all of it twice."""
    fr = quota_fractions([Quota("a", 8, 1, 1), Quota("b", 8, 1, 1)], Capacity(gpus=8, vcpus=100, memory_gib=100))
    assert [f.gpu for f in fr] == [0.5, 0.5]


def test_no_capacity_no_share() -> None:
    (f,) = quota_fractions([Quota("a", 0, 0, 0)], Capacity(0, 0, 0))
    assert f == Fractions(0.0, 0.0)


def test_allocate_multiplies_per_scenario() -> None:
    (share,) = allocate([Fractions(0.5, 0.25)], np.array([100.0, 200.0]), np.array([40.0, 80.0]))
    assert share.tolist() == [60.0, 120.0]


# --- properties (derandomized under `make test`) ---------------------------------------------------------

@given(quotas, capacities, costs, costs)
def test_shares_never_add_up_to_more_than_the_pools(qs, cap, gpu_cost, compute_cost) -> None:
    shares = allocate(quota_fractions(qs, cap), gpu_cost, compute_cost)
    total = sum(shares, np.zeros(3))
    assert np.all(total <= (gpu_cost + compute_cost) * (1 + 1e-9) + 1e-9)
    assert all(np.all(s >= 0) for s in shares)


@given(quotas, capacities)
def test_each_kind_of_fraction_sums_to_at_most_one(qs, cap) -> None:
    fr = quota_fractions(qs, cap)
    assert sum(f.gpu for f in fr) <= 1 + 1e-9 and sum(f.compute for f in fr) <= 1 + 1e-9
    assert all(0 <= f.gpu <= 1 and 0 <= f.compute <= 1 for f in fr)


@given(quotas, capacities)
def test_zero_gpu_quota_means_zero_gpu_share(qs, cap) -> None:
    for q, f in zip(qs, quota_fractions(qs, cap), strict=True):
        if q.gpus == 0:
            assert f.gpu == 0.0


@given(quotas.filter(bool), capacities, st.integers(0, 3), st.integers(1, 16), st.integers(1, 64),
       st.integers(1, 256))
def test_a_project_share_is_monotone_in_its_own_quota(qs, cap, which, more_gpus, more_cpus, more_mem) -> None:
    """Raising one project's quota (the others fixed) never lowers its fractions."""
    i = which % len(qs)
    before = quota_fractions(qs, cap)[i]
    q = qs[i]
    raised = [*qs[:i], Quota(q.name, q.gpus + more_gpus, q.vcpus + more_cpus, q.memory_gib + more_mem), *qs[i + 1:]]
    after = quota_fractions(raised, cap)[i]
    assert after.gpu >= before.gpu - 1e-12 and after.compute >= before.compute - 1e-12


# --- shipped environments ---------------------------------------------------------------------------------

@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_shipped_environments_split_within_their_total(env: str) -> None:
    cfg = load_env(env)
    report = by_project(cfg, table_prices(cfg.environment.region), scenarios=500)
    est = estimate(cfg, table_prices(cfg.environment.region), scenarios=500)
    assert report.total_p50 == pytest.approx(est.total_p50) and report.total_p90 == pytest.approx(est.total_p90)
    assert [s.quota.name for s in report.projects] == [p.name for p in cfg.projects]
    assert sum(s.p50 for s in report.projects) <= report.total_p90
    assert report.shared_p50 > 0  # the control plane alone is never anyone's quota
    for share, project in zip(report.projects, cfg.projects, strict=True):
        assert share.p50 <= share.p90 and share.gpu_p90 <= share.p90 + 1e-6
        assert (share.gpu_p90 == 0) == (project.gpu_quota == 0 or pool_capacity(cfg).gpus == 0)


def test_dev_gpu_project_pays_for_gpus_and_the_cpu_only_one_does_not() -> None:
    report = by_project(load_env("dev"), scenarios=500)
    shares = {s.quota.name: s for s in report.projects}
    assert shares["fraud-detector"].gpu_p90 > 0 and shares["churn-model"].gpu_p90 == 0
    assert shares["fraud-detector"].p90 > shares["churn-model"].p90


# --- CLI ---------------------------------------------------------------------------------------------------

def test_by_project_json(mlplat, no_credentials) -> None:
    code, out = mlplat("cost", "dev", "--by-project", "--json")
    data = json.loads(out)
    assert code == 0
    assert [p["name"] for p in data["projects"]] == ["fraud-detector", "churn-model"]
    assert data["total"]["p90"] >= sum(p["p50"] for p in data["projects"])
    assert data["notes"] == list(BUDGET_VISIBILITY)
    fraud = data["projects"][0]
    assert (fraud["gpu_quota"], fraud["cpu_quota"], fraud["memory_quota_gib"]) == (2, 16, 64)
    assert fraud["monthly_budget_usd"] == 800 and fraud["over_budget"] is (fraud["p90"] > 800)


def test_by_project_table_names_what_budgets_cannot_see(mlplat, no_credentials) -> None:
    code, out = mlplat("cost", "staging", "--by-project", "--prices", "table")
    assert code == 0
    assert "monthly cost by project staging" in out and "environment total" in out and "shared" in out
    assert "cost-allocation tag" in out and "OpenCost" in out


def test_by_project_unknown_environment_is_a_usage_error(mlplat, no_credentials) -> None:
    code, out = mlplat("cost", "nosuch", "--by-project", "--json")
    assert code == 2
    first = out.splitlines()[0]
    assert json.loads(first)["error"]["code"] == "usage" and "unknown environment 'nosuch'" in first


def test_by_project_refuses_compare_and_png(mlplat, no_credentials, tmp_path) -> None:
    code, out = mlplat("cost", "dev", "--by-project", "--compare", "prod")
    assert code == 2 and "--by-project takes neither --compare nor --png" in out
    code, out = mlplat("cost", "dev", "--by-project", "--json", "--png", str(tmp_path / "x.png"))
    assert code == 2 and json.loads(out.splitlines()[0])["error"]["exit_code"] == 2
    assert not (tmp_path / "x.png").exists()


def test_by_project_with_no_projects_reports_only_the_shared_total(mlplat, no_credentials, make_cfg, tmp_root) -> None:
    make_cfg({"projects": []})
    code, out = mlplat("cost", "dev", "--by-project", "--json")
    data = json.loads(out)
    assert code == 0 and data["projects"] == []
    assert data["shared"] == data["total"]


@pytest.mark.parametrize("provisioner", ["managed_node_groups", "karpenter"])
def test_both_gpu_provisioners_split_the_gpu_pools_by_their_gpu_bound(provisioner: str) -> None:
    """A Karpenter pool's GPU bound is its NodePool limit (config.gpu_provisioning.gpu_limit), the same
    number a node group reaches at max_size: a project holding half of it pays half of the pool."""
    staging = merge(BASE, {"environment": {"name": "staging", "tier": "staging"}})
    cfg = PlatformConfig.model_validate(merge(staging, {
        "gpu": {"max_total_gpus": 64, "provisioner": provisioner},
        "node_pools": {"gpu": [{"name": "gpu", "min_size": 0, "desired_size": 0, "max_size": 2,
                                "instance_types": ["g6.xlarge", "g6.12xlarge"], "capacity": "on_demand"}]},
        "projects": [{"name": "half", "owners": ["a@example.com"], "github_repo": "o/half", "gpu_quota": 4,
                      "monthly_budget_usd": 100}]}))
    assert pool_capacity(cfg).gpus == 8  # 2 × g6.12xlarge's 4 GPUs
    report = by_project(cfg, scenarios=300)
    pool = estimate(cfg, scenarios=300).line("pool gpu")
    (half,) = report.projects
    assert half.gpu_p50 == pytest.approx(pool.p50 / 2, rel=1e-9)
