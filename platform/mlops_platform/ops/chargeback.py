"""Each project's estimated monthly share of an environment's cost, from its quotas (`mlplat cost ENV
--by-project`).

A quota is a claim on capacity, so a project's share of a pool is its quota over what the pool can hold:
GPU pools' cost is split by `gpu_quota` over the GPUs the pools reach at max size; the system pool's cost
by the mean of the CPU and memory fractions (`cpu_quota` over its vCPUs, `memory_quota_gib` over its GiB).
When quotas add up to more than the capacity (oversubscription), fractions are taken over the sum of the
quotas instead, so the shares never add up to more than the pool. What no quota claims (control plane,
NAT, storage, the tracking database, idle capacity) stays a shared line.

Shares are computed per Monte Carlo scenario of `cost.simulate` and then summarised, so a project's
p50/p90 is a percentile of its own cost, on the same draws as the environment total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_platform.config.gpu_provisioning import gpu_limit
from mlops_platform.core import instances
from mlops_platform.ops.cost import DEFAULT_SCENARIOS, DEFAULT_SEED, Vector, simulate
from mlops_platform.ops.preflight import pools
from mlops_platform.ops.prices import Prices, table_prices

if TYPE_CHECKING:
    from mlops_platform.config import PlatformConfig
    from mlops_platform.config.sections import PoolConfig

#: What a project's AWS Budget (aws/budget.py: filtered on the `project` cost-allocation tag) can and
#: cannot see; printed with every by-project report.
BUDGET_VISIBILITY = (
    "The project's AWS Budget filters on the `project` cost-allocation tag: it sees what is tagged with the "
    "project (its ECR repository and whatever its own stack tags), never its use of shared nodes, GPUs, "
    "NAT or buckets, which carry the environment's tags only.",
    "OpenCost (cost_allocation) is the in-cluster view: it prices each namespace's CPU, memory, GPU and "
    "volume allocation on the nodes it actually ran on; each project's Grafana folder has its cost dashboard.",
    "This estimate prices quotas (ceilings), not use: a project below its quota costs less; quotas above "
    "capacity are scaled down so shares never exceed the pools' cost.",
)


@dataclass(frozen=True)
class Quota:
    """One project's claims: GPUs, vCPUs, memory GiB (all ≥ 0)."""

    name: str
    gpus: int
    vcpus: int
    memory_gib: int


@dataclass(frozen=True)
class Capacity:
    """What the pools can hold at max size: GPUs of the GPU pools; vCPUs and GiB of the system pool."""

    gpus: int
    vcpus: int
    memory_gib: int


@dataclass(frozen=True)
class Fractions:
    """A project's fraction of the GPU pools' cost and of the system pool's cost, each in [0, 1]."""

    gpu: float
    compute: float


def _fraction(claim: int, total_claims: int, capacity: int) -> float:
    denominator = max(capacity, total_claims)
    return claim / denominator if denominator > 0 else 0.0


def quota_fractions(quotas: Sequence[Quota], capacity: Capacity) -> list[Fractions]:
    """Per project, its fractions of the pools; over all projects each kind sums to at most 1."""
    gpus, vcpus, memory = (sum(q.gpus for q in quotas), sum(q.vcpus for q in quotas),
                           sum(q.memory_gib for q in quotas))
    return [Fractions(gpu=_fraction(q.gpus, gpus, capacity.gpus),
                      compute=(_fraction(q.vcpus, vcpus, capacity.vcpus)
                               + _fraction(q.memory_gib, memory, capacity.memory_gib)) / 2)
            for q in quotas]


def allocate(fractions: Sequence[Fractions], gpu_cost: Vector, compute_cost: Vector) -> list[Vector]:
    """Per project, its cost per scenario: fractions × the pools' cost vectors (same scenarios)."""
    return [f.gpu * gpu_cost + f.compute * compute_cost for f in fractions]


def _largest(pool: PoolConfig) -> instances.InstanceType | None:
    known = [t for t in (instances.lookup(n) for n in pool.instance_types) if t is not None]
    return max(known, key=lambda t: (t.vcpus, t.memory_gib)) if known else None


def pool_capacity(cfg: PlatformConfig) -> Capacity:
    """GPUs of every GPU pool (its GPU bound: max_size nodes of its largest type, which is also its Karpenter
    NodePool's GPU limit) and vCPUs/GiB of the system pool at max_size of its largest type."""
    gpus = sum(gpu_limit(pool) for pool in cfg.node_pools.gpu)
    system = _largest(cfg.node_pools.system)
    size = cfg.node_pools.system.max_size
    return Capacity(gpus=gpus, vcpus=size * (system.vcpus if system else 0),
                    memory_gib=size * (system.memory_gib if system else 0))


def project_quotas(cfg: PlatformConfig) -> list[Quota]:
    return [Quota(p.name, p.gpu_quota, p.cpu_quota, p.memory_quota_gib) for p in cfg.projects]


@dataclass(frozen=True)
class ProjectShare:
    """One project's estimated monthly share, USD, with the quotas and budget it comes from."""

    quota: Quota
    budget_usd: float
    p50: float
    p90: float
    gpu_p50: float
    gpu_p90: float

    @property
    def over_budget(self) -> bool:
        """The p90 share is above the project's `monthly_budget_usd`."""
        return self.p90 > self.budget_usd


@dataclass(frozen=True)
class Chargeback:
    """Every project's share beside the environment total and the shared remainder (p50/p90, USD/month)."""

    env: str
    price_source: str
    projects: tuple[ProjectShare, ...]
    total_p50: float
    total_p90: float
    shared_p50: float
    shared_p90: float
    notes: tuple[str, ...] = BUDGET_VISIBILITY

    def to_json(self) -> dict[str, Any]:
        return {"env": self.env, "currency": "USD", "price_source": self.price_source,
                "total": {"p50": round(self.total_p50, 2), "p90": round(self.total_p90, 2)},
                "shared": {"p50": round(self.shared_p50, 2), "p90": round(self.shared_p90, 2)},
                "projects": [{"name": s.quota.name, "gpu_quota": s.quota.gpus, "cpu_quota": s.quota.vcpus,
                              "memory_quota_gib": s.quota.memory_gib, "monthly_budget_usd": s.budget_usd,
                              "p50": round(s.p50, 2), "p90": round(s.p90, 2), "gpu_p50": round(s.gpu_p50, 2),
                              "gpu_p90": round(s.gpu_p90, 2), "over_budget": s.over_budget}
                             for s in self.projects],
                "notes": list(self.notes)}


def _pool_costs(cfg: PlatformConfig, names: list[tuple[str, str]], matrix: Vector) -> tuple[Vector, Vector]:
    """(GPU pools' cost, system pool's cost) per scenario, from the lines of `cost.simulate`."""
    gpu_lines = {f"pool {pool.name}" for _, pool, is_gpu in pools(cfg) if is_gpu}
    system_line = f"pool {cfg.node_pools.system.name}"
    rows = {name: i for i, (name, _) in enumerate(names)}
    gpu = sum((matrix[rows[n]] for n in gpu_lines), np.zeros(matrix.shape[1]))
    return gpu, matrix[rows[system_line]]


def _p50_p90(costs: Vector) -> tuple[float, float]:
    p50, p90 = np.percentile(costs, [50, 90])
    return float(p50), float(p90)


def by_project(cfg: PlatformConfig, prices: Prices | None = None, *, scenarios: int = DEFAULT_SCENARIOS,
               seed: int = DEFAULT_SEED) -> Chargeback:
    """Each project's monthly share on the same scenarios as `cost.estimate` (offline by default)."""
    prices = prices or table_prices(cfg.environment.region)
    names, matrix = simulate(cfg, prices, scenarios, seed)
    gpu_cost, compute_cost = _pool_costs(cfg, names, matrix)
    quotas = project_quotas(cfg)
    fractions = quota_fractions(quotas, pool_capacity(cfg))
    shares = allocate(fractions, gpu_cost, compute_cost)
    budgets = {p.name: p.monthly_budget_usd for p in cfg.projects}
    projects = tuple(ProjectShare(q, budgets[q.name], *_p50_p90(cost), *_p50_p90(f.gpu * gpu_cost))
                     for q, f, cost in zip(quotas, fractions, shares, strict=True))
    total = matrix.sum(axis=0)
    shared = total - sum(shares, np.zeros(matrix.shape[1]))
    return Chargeback(cfg.environment.name, prices.source, projects, *_p50_p90(total), *_p50_p90(shared))
