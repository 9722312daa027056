"""Monthly cost model of an environment, vectorised with numpy over Monte Carlo scenarios.

Every line (control plane, each node pool with its root volumes, NAT, storage, tracking DB) is a vector
of costs over the same scenarios, so percentiles of the total are percentiles of real sums, not sums
of percentiles. Draws are seeded and each line has its own random stream (SeedSequence.spawn), so a
change to one pool never moves another pool's numbers and runs are reproducible.

A node pool's average node count in a scenario is
    min + steady × (desired − min) + burst × (max − desired)
with `steady` and `burst` drawn from Beta distributions chosen by the pool's utilisation profile (a GPU
pool on spot is batch training; a GPU pool on demand is serving; the system pool is steady). Pinned
pools (min = desired = max) therefore cost exactly max nodes, scale-to-zero pools cost only their bursts,
and cost is monotone in every size. Spot pools pay on-demand × (1 − savings), savings drawn per scenario
from the table's range for the instance's quota family.

With `gpu.provisioner: karpenter` a GPU pool is bounded by its NodePool's GPU limit, not a node count
(config/gpu_provisioning.py): it holds `burst × limit` GPUs on average, priced per GPU at the mean of its
instance types (Karpenter picks whichever type fits the pending pods), and a spot pool that may fall back
to on-demand pays on-demand for a share of them, drawn per scenario. Root volumes count the most nodes those
GPUs can be spread over (all on the type with the fewest GPUs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from mlops_platform.config.gpu_provisioning import gpu_limit, karpenter_max_nodes
from mlops_platform.config.sections import Capacity, GpuPoolConfig, NatStrategy, NetworkMode
from mlops_platform.core import instances
from mlops_platform.core.errors import BudgetExceededError, ConfigError, ConfigIssue
from mlops_platform.ops.preflight import pools, table_status
from mlops_platform.ops.prices import Prices, table_prices

if TYPE_CHECKING:
    from mlops_platform.config import PlatformConfig
    from mlops_platform.config.sections import PoolConfig

HOURS_PER_MONTH = 730.0  # AWS's billing convention: 8760 h / 12
DEFAULT_SCENARIOS = 4000
DEFAULT_SEED = 20261101
Vector = NDArray[np.float64]


@dataclass(frozen=True)
class UtilisationProfile:
    """How a pool uses its sizes: mean share of (desired − min) and of (max − desired) in use."""

    name: str
    steady_mean: float
    burst_mean: float
    concentration: float  # Beta α + β; lower is burstier (wider p50..p90)

    def draw(self, rng: np.random.Generator, mean: float, n: int) -> Vector:
        return rng.beta(mean * self.concentration, (1 - mean) * self.concentration, n)


PROFILES = {
    "system": UtilisationProfile("steady", steady_mean=0.9, burst_mean=0.15, concentration=8.0),
    "serving": UtilisationProfile("serving", steady_mean=0.8, burst_mean=0.3, concentration=4.0),
    "batch": UtilisationProfile("batch", steady_mean=0.6, burst_mean=0.35, concentration=2.5),
}


def profile_for(is_gpu: bool, capacity: Capacity) -> UtilisationProfile:
    if not is_gpu:
        return PROFILES["system"]
    return PROFILES["batch"] if capacity is Capacity.SPOT else PROFILES["serving"]


@dataclass(frozen=True)
class CostLine:
    name: str
    kind: str  # control-plane | node-pool | network | storage | database
    p50: float
    p90: float
    mean: float


@dataclass(frozen=True)
class CostEstimate:
    env: str
    region: str
    budget_usd: float
    price_source: str
    price_as_of: str
    scenarios: int
    hours: float
    lines: tuple[CostLine, ...]
    total_p50: float
    total_p90: float
    total_mean: float
    notes: tuple[str, ...] = field(default=())

    @property
    def estimated_monthly_p90_usd(self) -> float:
        """What a budget policy compares with `budget.monthly_usd`."""
        return self.total_p90

    @property
    def over_budget(self) -> bool:
        return self.total_p90 > self.budget_usd

    def line(self, name: str) -> CostLine:
        return next(line for line in self.lines if line.name == name)

    def to_json(self) -> dict[str, Any]:
        return {"env": self.env, "region": self.region, "currency": "USD", "hours": self.hours,
                "scenarios": self.scenarios, "price_source": self.price_source, "price_as_of": self.price_as_of,
                "budget_usd": self.budget_usd, "over_budget": self.over_budget,
                "estimated_monthly_p90_usd": round(self.total_p90, 2),
                "total": {"p50": round(self.total_p50, 2), "p90": round(self.total_p90, 2),
                          "mean": round(self.total_mean, 2)},
                "lines": [{"name": li.name, "kind": li.kind, "p50": round(li.p50, 2), "p90": round(li.p90, 2),
                           "mean": round(li.mean, 2)} for li in self.lines],
                "notes": list(self.notes)}


@dataclass(frozen=True)
class _Ctx:
    cfg: PlatformConfig
    prices: Prices
    n: int
    months: float
    today: date


LineFn = Callable[[_Ctx, np.random.Generator], Iterator[tuple[str, str, Vector]]]


# --- lines ---------------------------------------------------------------------------------------

def _control_plane(ctx: _Ctx, _rng: np.random.Generator) -> Iterator[tuple[str, str, Vector]]:
    extended = table_status(ctx.cfg.cluster.version, ctx.today) == "EXTENDED_SUPPORT"
    hourly = ctx.prices.eks_extended_hourly if extended else ctx.prices.eks_hourly
    yield "eks control plane", "control-plane", np.full(ctx.n, hourly * HOURS_PER_MONTH * ctx.months)


def instance_price(pool: PoolConfig, prices: Prices) -> float:
    """On-demand node groups launch the first listed type (prioritized); spot may land on any of them."""
    if pool.capacity is Capacity.ON_DEMAND:
        return prices.ec2_hourly[pool.instance_types[0]]
    return float(np.mean([prices.ec2_hourly[t] for t in pool.instance_types]))


def average_nodes(pool: PoolConfig, steady: Vector, burst: Vector) -> Vector:
    return pool.min_size + steady * (pool.desired_size - pool.min_size) + burst * (pool.max_size - pool.desired_size)


def _pool_cost(ctx: _Ctx, rng: np.random.Generator, pool: PoolConfig, is_gpu: bool) -> Vector:
    profile = profile_for(is_gpu, pool.capacity)
    nodes = average_nodes(pool, profile.draw(rng, profile.steady_mean, ctx.n),
                          profile.draw(rng, profile.burst_mean, ctx.n))
    price = np.full(ctx.n, instance_price(pool, ctx.prices))
    if pool.capacity is Capacity.SPOT:
        family = instances.INSTANCE_TYPES[pool.instance_types[0]].quota_family
        low, high = ctx.prices.spot_savings[family]
        price = price * (1.0 - rng.uniform(low, high, ctx.n))
    hours = HOURS_PER_MONTH * ctx.months
    disks = nodes * pool.disk_size_gib * ctx.prices.ebs_gb_month * ctx.months
    return nodes * hours * price + disks


#: Mean share of a Karpenter spot pool's GPUs that run on-demand when spot is short (its fallback), and the
#: Beta concentration of the draw: an assumption, not a published figure (spot capacity varies by type and AZ).
FALLBACK_SHARE_MEAN, FALLBACK_CONCENTRATION = 0.15, 4.0


def gpu_hour_price(pool: GpuPoolConfig, prices: Prices) -> float:
    """Mean on-demand price of one GPU-hour over the pool's instance types."""
    return float(np.mean([prices.ec2_hourly[t] / instances.INSTANCE_TYPES[t].gpus for t in pool.instance_types]))


def _karpenter_pool_cost(ctx: _Ctx, rng: np.random.Generator, pool: GpuPoolConfig) -> Vector:
    profile = profile_for(True, pool.capacity)
    profile.draw(rng, profile.steady_mean, ctx.n)  # drawn as for a node group, so the stream lines up
    gpus = profile.draw(rng, profile.burst_mean, ctx.n) * gpu_limit(pool)
    on_demand = np.full(ctx.n, gpu_hour_price(pool, ctx.prices))
    price = on_demand
    if pool.capacity is Capacity.SPOT:
        low, high = ctx.prices.spot_savings[instances.INSTANCE_TYPES[pool.instance_types[0]].quota_family]
        price = on_demand * (1.0 - rng.uniform(low, high, ctx.n))
        if pool.karpenter.on_demand_fallback:
            share = rng.beta(FALLBACK_SHARE_MEAN * FALLBACK_CONCENTRATION,
                             (1 - FALLBACK_SHARE_MEAN) * FALLBACK_CONCENTRATION, ctx.n)
            price = share * on_demand + (1.0 - share) * price
    nodes = gpus * karpenter_max_nodes(pool) / max(gpu_limit(pool), 1)
    disks = nodes * pool.disk_size_gib * ctx.prices.ebs_gb_month * ctx.months
    return gpus * HOURS_PER_MONTH * ctx.months * price + disks


def _node_pools(ctx: _Ctx, rng: np.random.Generator) -> Iterator[tuple[str, str, Vector]]:
    for (_, pool, is_gpu), child in zip(pools(ctx.cfg), rng.spawn(len(pools(ctx.cfg))), strict=True):
        if is_gpu and ctx.cfg.karpenter and isinstance(pool, GpuPoolConfig):
            yield f"pool {pool.name}", "node-pool", _karpenter_pool_cost(ctx, child, pool)
        else:
            yield f"pool {pool.name}", "node-pool", _pool_cost(ctx, child, pool, is_gpu)


def nat_gateways(cfg: PlatformConfig) -> int:
    net = cfg.network
    if net.mode is NetworkMode.EXISTING or net.nat is NatStrategy.NONE:
        return 0  # a brought VPC's NAT is billed to whoever owns it
    return len(net.availability_zones) if net.nat is NatStrategy.ONE_PER_AZ else 1


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float], n: int) -> Vector:
    low, high = bounds
    return np.exp(rng.uniform(np.log(low), np.log(high), n))


def _network(ctx: _Ctx, rng: np.random.Generator) -> Iterator[tuple[str, str, Vector]]:
    count = nat_gateways(ctx.cfg)
    if count:
        gb = _log_uniform(rng, ctx.prices.assumptions.nat_processed_gb_month_per_gateway, ctx.n)
        hourly = ctx.prices.nat_hourly * HOURS_PER_MONTH
        yield f"nat gateways ×{count}", "network", count * (hourly + gb * ctx.prices.nat_per_gb) * ctx.months


def _storage(ctx: _Ctx, rng: np.random.Generator) -> Iterator[tuple[str, str, Vector]]:
    buckets = len(ctx.cfg.artifacts.buckets)
    if buckets:
        gb = _log_uniform(rng, ctx.prices.assumptions.s3_stored_gb_month_per_bucket, ctx.n)
        yield f"s3 artifacts ×{buckets}", "storage", buckets * gb * ctx.prices.s3_gb_month * ctx.months
    if ctx.cfg.component_enabled(ctx.cfg.monitoring):
        ebs = ctx.cfg.monitoring.storage_gib * ctx.prices.ebs_gb_month * ctx.months
        yield "prometheus volume", "storage", np.full(ctx.n, ebs)


def _database(ctx: _Ctx, _rng: np.random.Generator) -> Iterator[tuple[str, str, Vector]]:
    tracking = ctx.cfg.tracking
    if not ctx.cfg.component_enabled(tracking):
        return
    copies = 2 if ctx.cfg.tracking_multi_az else 1  # Multi-AZ bills a standby instance and its storage
    hourly = ctx.prices.rds_hourly.get(tracking.db_instance_class)
    if hourly is None:
        raise ConfigError([ConfigIssue("tracking.db_instance_class", "no price for this DB instance class",
                                       tracking.db_instance_class,
                                       f"use one of {', '.join(sorted(ctx.prices.rds_hourly))}")])
    monthly = copies * (hourly * HOURS_PER_MONTH + tracking.db_storage_gib * ctx.prices.rds_storage_gb_month)
    yield f"tracking db {tracking.db_instance_class}" + (" multi-az" if copies == 2 else ""), "database", \
        np.full(ctx.n, monthly * ctx.months)


LINES: tuple[LineFn, ...] = (_control_plane, _node_pools, _network, _storage, _database)


# --- estimate ------------------------------------------------------------------------------------

def simulate(cfg: PlatformConfig, prices: Prices, scenarios: int = DEFAULT_SCENARIOS, seed: int = DEFAULT_SEED,
             hours: float = HOURS_PER_MONTH, today: date | None = None) -> tuple[list[tuple[str, str]], Vector]:
    """(line names and kinds, cost matrix of shape lines × scenarios) in USD for `hours` of running."""
    ctx = _Ctx(cfg, prices, scenarios, hours / HOURS_PER_MONTH, today or datetime.now(UTC).date())
    streams = np.random.default_rng(seed).spawn(len(LINES))
    names: list[tuple[str, str]] = []
    rows: list[Vector] = []
    for line_fn, rng in zip(LINES, streams, strict=True):
        for name, kind, costs in line_fn(ctx, rng):
            names.append((name, kind))
            rows.append(costs)
    return names, np.vstack(rows)


def estimate(cfg: PlatformConfig, prices: Prices | None = None, *, scenarios: int = DEFAULT_SCENARIOS,
             seed: int = DEFAULT_SEED, hours: float = HOURS_PER_MONTH, today: date | None = None) -> CostEstimate:
    """p50/p90 monthly cost per line and in total. Offline by default (the shipped price table)."""
    prices = prices or table_prices(cfg.environment.region)
    names, matrix = simulate(cfg, prices, scenarios, seed, hours, today)
    p50, p90 = np.percentile(matrix, [50, 90], axis=1)
    total = matrix.sum(axis=0)
    t50, t90 = np.percentile(total, [50, 90])
    lines = tuple(CostLine(n, k, float(a), float(b), float(m))
                  for (n, k), a, b, m in zip(names, p50, p90, matrix.mean(axis=1), strict=True))
    return CostEstimate(cfg.environment.name, cfg.environment.region, cfg.budget.monthly_usd, prices.source,
                        prices.as_of, scenarios, hours, lines, float(t50), float(t90), float(total.mean()),
                        notes=prices.notes)


def check_budget(est: CostEstimate) -> None:
    """BudgetExceededError (exit 1) when the p90 estimate is above the environment's monthly budget."""
    if est.over_budget:
        raise BudgetExceededError(
            f"{est.env}: p90 monthly estimate {est.total_p90:,.0f} USD exceeds budget.monthly_usd "
            f"{est.budget_usd:,.0f} USD — fix: lower node pool max_size / use spot for training pools, or "
            f"raise mlops-platform:budget.monthly_usd in the {est.env} stack")


@dataclass(frozen=True)
class CompareRow:
    name: str
    left_p50: float
    left_p90: float
    right_p50: float
    right_p90: float

    @property
    def delta_p90(self) -> float:
        return self.right_p90 - self.left_p90


def compare(left: CostEstimate, right: CostEstimate) -> list[CompareRow]:
    """Line-by-line difference (missing lines count 0), then the totals."""
    names = list(dict.fromkeys([li.name for li in left.lines] + [li.name for li in right.lines]))
    lmap, rmap = {li.name: li for li in left.lines}, {li.name: li for li in right.lines}
    zero = CostLine("", "", 0.0, 0.0, 0.0)
    rows = [CompareRow(n, lmap.get(n, zero).p50, lmap.get(n, zero).p90, rmap.get(n, zero).p50,
                       rmap.get(n, zero).p90) for n in names]
    return [*rows, CompareRow("total", left.total_p50, left.total_p90, right.total_p50, right.total_p90)]
