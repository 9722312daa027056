"""`make bench`: every speed goal of the platform, measured in one run against a floor measured alongside.

Floor: a fresh Python process that registers N plain `aws.s3.Bucket` resources under Pulumi's own
`set_mocks` (the cheapest any mock-runtime plan of N resources can be). Each platform measurement also runs in
a fresh process: plan prod with T tenants (no plan cache) and review the plan with the policy pack. Ratios use
CPU seconds (user + system of the child), which a busy shared machine disturbs far less than wall time;
wall seconds are printed too. Goals come from issue #12.
"""

from __future__ import annotations

import copy
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from ruamel.yaml import YAML

console = Console(width=200)
TENANTS = (10, 100, 500)
FLEET_SIZE = 50
FLOOR_PROGRAM = """
import asyncio, sys
import pulumi, pulumi_aws as aws
from pulumi.runtime.stack import wait_for_rpcs
from pulumi.runtime.sync_await import _sync_await

class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        return f"{args.name}-id", args.inputs
    def call(self, args):
        return {}, None

pulumi.runtime.set_mocks(Mocks(), preview=True)
ids = [aws.s3.Bucket(f"bucket-{i}", tags={"team": "bench"}).id for i in range(int(sys.argv[1]))]
_sync_await(asyncio.gather(*(i.future() for i in ids)))
_sync_await(wait_for_rpcs())
"""
NEW_ANSWERS = ("owners=bench@example.com", "github_org=example-org", "cost_center=bench")


@dataclass(frozen=True)
class Timing:
    cpu: float
    wall: float
    report: dict[str, Any]


def measure(argv: Sequence[str], env: dict[str, str] | None = None) -> Timing:
    """CPU (user + system, this child only) and wall seconds of one fresh process; its stdout's last JSON line."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(list(argv), capture_output=True, text=True, check=False, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} failed ({done.returncode}): {done.stderr[-2000:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(cpu, wall, json.loads(lines[-1]) if lines else {})


def synthetic_stack(workdir: Path, tenants: int, env: str = "prod") -> Path:
    """`env`'s stack file with `tenants` projects (no GPU quota, budgets scaled so the file stays valid)."""
    from mlops_platform.config import stack_file_for

    yaml = YAML(typ="safe")
    doc = yaml.load(stack_file_for(env).read_text())
    cfg = doc["config"]
    template = cfg["mlops-platform:projects"][0]
    cfg["mlops-platform:projects"] = [{**copy.deepcopy(template), "name": f"team-{i:04d}", "gpu_quota": 0,
                                       "monthly_budget_usd": 100, "github_repo": f"example-org/team-{i:04d}"}
                                      for i in range(tenants)]
    cfg["mlops-platform:budget"]["monthly_usd"] = cfg["mlops-platform:budget"]["monthly_usd"] + 100 * tenants
    out = workdir / f"{env}-{tenants}"
    out.mkdir(exist_ok=True)
    path = out / f"Pulumi.{env}.yaml"
    with path.open("w") as fh:
        yaml.dump(doc, fh)
    return path


def child_plan_and_review(stack_file: Path) -> None:
    """In a fresh process: plan the stack file (no cache) and review it; print phase seconds as JSON."""
    os.environ["MLPLAT_PLAN_CACHE"] = "off"
    start = time.perf_counter()
    from mlops_platform.engine import run_platform
    from mlops_platform.workflows.review import Subject, platform_config, review

    imported = time.perf_counter()
    plan = run_platform(stack_file=stack_file)
    planned = time.perf_counter()
    report = review(Subject(plan.to_json(), stack_file, platform_config(None, stack_file)))
    reviewed = time.perf_counter()
    print(json.dumps({"resources": len(plan.resources), "import_s": imported - start, "plan_s": planned - imported,
                      "review_s": reviewed - planned, "violations": len(report.violations)}))


def _mlplat(*args: str) -> list[str]:
    return [sys.executable, "-m", "mlops_platform.cli", *args]


def generation(work: Path) -> tuple[Timing, Timing, Timing]:
    """`mlplat new` with a cold and a warm plan cache, and `mlplat fleet check` over FLEET_SIZE projects."""
    from mlops_platform.config import repo_root

    cache = {"MLPLAT_PLAN_CACHE": str(work / "plan-cache")}
    template = work / "template"  # a clean clone of HEAD: what projects record and fleet check fetches
    subprocess.run(["git", "clone", "-q", str(repo_root()), str(template)], check=True)
    data = ["--offline", "--template", str(template), *(arg for answer in NEW_ANSWERS for arg in ("--data", answer))]
    cold = measure(_mlplat("new", "bench-cold", "--env", "dev", "--dest", str(work / "cold"), *data), cache)
    warm = measure(_mlplat("new", "bench-0", "--env", "dev", "--dest", str(work / "fleet" / "bench-0"), *data),
                   cache)
    for i in range(1, FLEET_SIZE):  # same template version and answers: what fleet check reads per project
        shutil.copytree(work / "fleet" / "bench-0", work / "fleet" / f"bench-{i}", symlinks=True)
    fleet = measure(_mlplat("fleet", "check", "--json", *(str(p) for p in sorted((work / "fleet").iterdir()))), cache)
    return cold, warm, fleet


def _goal(value: float, limit: float, unit: str = "") -> str:
    """`value` against its goal. Times are judged on CPU seconds: on a shared machine wall time measures the
    neighbours (both are printed)."""
    return f"{value:.2f}{unit} ({'ok' if value <= limit else 'MISSED'} ≤ {limit:g}{unit})"


def overhead_rows(work: Path, tenants: Sequence[int]) -> list[list[str]]:
    rows = []
    for count in tenants:
        stack = synthetic_stack(work, count)
        ours = measure([sys.executable, "-m", "mlops_platform.apps.bench", "--child", str(stack)])
        n = int(ours.report["resources"])
        floor = measure([sys.executable, "-c", FLOOR_PROGRAM, str(n)])
        rows.append([f"overhead, {count} tenants", str(n), f"{floor.cpu:.1f} / {floor.wall:.1f}",
                     f"{ours.cpu:.1f} / {ours.wall:.1f}",
                     f"plan {ours.report['plan_s']:.1f}, review {ours.report['review_s']:.1f}, "
                     f"import {ours.report['import_s']:.1f}; {1000 * ours.cpu / n:.2f} CPU ms/resource "
                     f"(floor {1000 * floor.cpu / n:.2f})", _goal(ours.cpu / floor.cpu, 1.5, "×")])
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--child"]:
        child_plan_and_review(Path(args[1]))
        return 0
    tenants = [int(t) for t in args[1].split(",")] if args[:1] == ["--tenants"] else list(TENANTS)
    table = Table(title="mlops-platform speed goals (CPU s / wall s; ratios on CPU, floor measured in this run)")
    for col in ("goal", "resources", "floor", "platform", "phases (wall s, in-process)", "result"):
        table.add_column(col)
    with tempfile.TemporaryDirectory(prefix="mlplat-bench-") as tmp:
        work = Path(tmp)
        for row in overhead_rows(work, tenants):
            table.add_row(*row)
        cold, warm, fleet = generation(work)
    table.add_row("mlplat new (cold plan cache)", "-", "-", f"{cold.cpu:.1f} / {cold.wall:.1f}", "plans dev once",
                  _goal(cold.cpu, 5.0, " s"))
    table.add_row("mlplat new", "-", "-", f"{warm.cpu:.1f} / {warm.wall:.1f}", "cached platform outputs",
                  _goal(warm.cpu, 5.0, " s"))
    table.add_row(f"mlplat fleet check, {FLEET_SIZE} projects", "-", "-", f"{fleet.cpu:.1f} / {fleet.wall:.1f}",
                  "one local mirror per template source", _goal(fleet.cpu, 30.0, " s"))
    table.add_row("locality: plan one tenant at 100 vs 2", "-", "-", "-", "needs the tenants layer", "not measured")
    console.print(table)
    console.print("Tests: `make test` (≤ 150 s) and `make test-fast` (≤ 60 s) print their own durations.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
