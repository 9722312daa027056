"""`make bench`: plan-time scaling, as ratios to a bare mock-runtime program in the same process.

The baseline registers N plain custom resources through the same offline engine; the platform runs
synthetic environments with growing GPU pools and projects. The printed ratio is the platform's
per-resource planning cost over the baseline's: flat ratios mean no super-linear work.
"""

from __future__ import annotations

import copy
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from ruamel.yaml import YAML

from mlops_platform.config import stack_file_for
from mlops_platform.engine import run_platform
from mlops_platform.engine.computed import Ctx
from mlops_platform.engine.runner import run
from mlops_platform.policy import bench_evaluate

console = Console()
BASELINE_PROGRAM = '''
import pulumi
n = int(pulumi.Config().require("n"))
for i in range(n):
    pulumi.CustomResource("bench:index:Thing", f"thing-{i}", {"index": i, "tags": {"k": "v"}})
'''


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def baseline_per_resource(n: int, workdir: Path) -> float:
    prog = workdir / "baseline"
    prog.mkdir(exist_ok=True)
    (prog / "__main__.py").write_text(BASELINE_PROGRAM)
    seconds, plan = _timed(lambda: run(prog, "bench", "bench", {"n": str(n)}, Ctx("123456789012", "us-east-1")))
    return seconds / max(1, len(plan.resources))


def synthetic_stack(workdir: Path, gpu_pools: int, projects: int) -> Path:
    """The dev stack with `gpu_pools` GPU pools and `projects` tenants (budgets scaled to stay valid)."""
    yaml = YAML(typ="safe")
    doc = yaml.load(stack_file_for("dev").read_text())
    cfg = doc["config"]
    base_pool = cfg["mlops-platform:node_pools"]["gpu"][0]
    cfg["mlops-platform:node_pools"]["gpu"] = [{**copy.deepcopy(base_pool), "name": f"gpu-{i}", "max_size": 1}
                                               for i in range(gpu_pools)]
    cfg["mlops-platform:gpu"] = {"max_total_gpus": max(8, gpu_pools)}
    template = cfg["mlops-platform:projects"][0]
    cfg["mlops-platform:projects"] = [{**copy.deepcopy(template), "name": f"team-{i:04d}", "gpu_quota": 1,
                                       "monthly_budget_usd": 100, "github_repo": f"example-org/team-{i:04d}"}
                                      for i in range(projects)]
    cfg["mlops-platform:budget"]["monthly_usd"] = 1000 + 100 * projects
    out = workdir / f"{gpu_pools}-{projects}"
    out.mkdir(exist_ok=True)
    path = out / "Pulumi.dev.yaml"
    with path.open("w") as fh:
        yaml.dump(doc, fh)
    return path


def _policy_seconds(plan_json: dict[str, Any]) -> float:
    return float(bench_evaluate(plan_json))


def main() -> int:
    sizes = [(1, 10), (5, 100), (20, 500)]
    table = Table(title="Offline plan cost per resource (ratio to a bare mock-runtime program)")
    for col in ("gpu pools", "projects", "resources", "plan s", "ms/resource", "baseline ms/res", "ratio",
                "policy s", "policy/plan"):
        table.add_column(col, justify="right")
    with tempfile.TemporaryDirectory(prefix="mlplat-bench-") as tmp:
        work = Path(tmp)
        run_platform(stack_file=synthetic_stack(work, 1, 1))  # warm-up: imports are not plan cost
        baseline_per_resource(10, work)
        for pools, projects in sizes:
            stack = synthetic_stack(work, pools, projects)
            seconds, plan = _timed(partial(run_platform, stack_file=stack))
            n = len(plan.resources)
            base = baseline_per_resource(n, work)  # same process, same resource count
            policy = _policy_seconds(plan.to_json())
            per = seconds / n
            table.add_row(str(pools), str(projects), str(n), f"{seconds:.2f}", f"{per * 1000:.2f}",
                          f"{base * 1000:.2f}", f"{per / base:.2f}",
                          f"{policy:.2f}", f"{policy / seconds:.3f}")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
