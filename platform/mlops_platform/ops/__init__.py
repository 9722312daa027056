"""Before and around `pulumi up`: state bootstrap, preflight checks, cost model and budgets, and the
Automation API path (`mlplat bootstrap / preflight / cost / preview / up / destroy`)."""

from mlops_platform.ops.backend import StateBackend, state_backend
from mlops_platform.ops.bootstrap import BootstrapReport, bootstrap
from mlops_platform.ops.cost import CostEstimate, check_budget, compare, estimate
from mlops_platform.ops.preflight import PreflightReport, run_preflight
from mlops_platform.ops.prices import Prices, PriceSource, resolve_prices, table_prices

__all__ = [
    "BootstrapReport",
    "CostEstimate",
    "PreflightReport",
    "PriceSource",
    "Prices",
    "StateBackend",
    "bootstrap",
    "check_budget",
    "compare",
    "estimate",
    "resolve_prices",
    "run_preflight",
    "state_backend",
    "table_prices",
]
