"""`make bench`: every speed goal of the platform, measured in one run against a floor measured alongside.

Floor: a fresh Python process that registers N plain `aws.s3.Bucket` resources under Pulumi's own
`set_mocks` (the cheapest any mock-runtime plan of N resources can be). Each platform measurement also runs in
a fresh process: plan prod with T tenants (no plan cache) and review the plan with the policy pack. Ratios use
CPU seconds (user + system of the child), which a busy shared machine disturbs far less than wall time;
wall seconds are printed too. Goals come from issue #12.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from ruamel.yaml import YAML

console = Console(width=200)
TENANTS = (10, 100)
#: `--full` also measures 500 tenants (~13 000 resources): minutes of CPU, so not in every `make bench`.
FULL_TENANTS = (10, 100, 500)
#: Locality: one tenant planned (`--project`) in an environment of this many tenants vs of LOCALITY_BASE.
LOCALITY_AT, LOCALITY_BASE = 100, 2
#: Scale-out: one shard stack of this many, against the whole environment unsharded.
SCALE_OUT_SHARDS = 4
FLEET_SIZE = 50
#: CPU seconds `fleet check` may take over FLEET_SIZE projects
FLEET_GOAL_S = 30.0
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


def synthetic_stack(workdir: Path, tenants: int, env: str = "prod", shards: int = 1) -> Path:
    """`env`'s stack file with `tenants` projects (no GPU quota, budgets scaled so the file stays valid), split
    into `shards` tenant stacks."""
    from mlops_platform.config import stack_file_for

    yaml = YAML(typ="safe")
    doc = yaml.load(stack_file_for(env).read_text())
    cfg = doc["config"]
    template = cfg["mlops-platform:projects"][0]
    cfg["mlops-platform:projects"] = [{**copy.deepcopy(template), "name": f"team-{i:04d}", "gpu_quota": 0,
                                       "monthly_budget_usd": 100, "github_repo": f"example-org/team-{i:04d}"}
                                      for i in range(tenants)]
    cfg["mlops-platform:budget"]["monthly_usd"] = cfg["mlops-platform:budget"]["monthly_usd"] + 100 * tenants
    if shards > 1:
        cfg["mlops-platform:tenants"] = {"shards": shards}
    out = workdir / (f"{env}-{tenants}" + ("" if shards == 1 else f"-{shards}-shards"))
    out.mkdir(exist_ok=True)
    path = out / f"Pulumi.{env}.yaml"
    with path.open("w") as fh:
        yaml.dump(doc, fh)
    return path


def child_plan_and_review(stack_file: Path, jobs: int = 1, project: str | None = None,
                          shard: int | None = None) -> None:
    """In a fresh process: plan the stack file (no cache; `jobs` processes, one `project` or one tenant `shard`)
    and review the plan unless it is one project's; print phase seconds and the plan's per-run timings as JSON."""
    os.environ["MLPLAT_PLAN_CACHE"] = "off"
    start = time.perf_counter()
    from mlops_platform.engine import run_platform
    from mlops_platform.workflows.review import Subject, platform_config, review, tenants_scope

    imported = time.perf_counter()
    # a shard as `mlplat up ENV --shard K` reviews it: its tenants, the layers below as context
    plan = run_platform(stack_file=stack_file, jobs=jobs, project=project, shard=shard, below=shard is not None)
    planned = time.perf_counter()
    scope = None if shard is None else tenants_scope(plan)
    violations = None if project else len(review(Subject(plan.to_json(), stack_file, platform_config(None, stack_file),
                                                         scope=scope)).violations)
    reviewed = time.perf_counter()
    print(json.dumps({"resources": len(plan.resources), "import_s": imported - start, "plan_s": planned - imported,
                      "review_s": reviewed - planned, "violations": violations, "timings": plan.timings}))


def _mlplat(*args: str) -> list[str]:
    return [sys.executable, "-m", "mlops_platform.cli", *args]


def generation(work: Path, fleet_size: int = FLEET_SIZE) -> tuple[Timing, Timing, Timing]:
    """`mlplat new` with a cold and a warm plan cache, and `mlplat fleet check` over `fleet_size` projects."""
    from mlops_platform.config import repo_root

    cache = {"MLPLAT_PLAN_CACHE": str(work / "plan-cache")}
    template = work / "template"  # a clean clone of HEAD: what projects record and fleet check fetches
    subprocess.run(["git", "clone", "-q", str(repo_root()), str(template)], check=True)
    data = ["--offline", "--template", str(template), *(arg for answer in NEW_ANSWERS for arg in ("--data", answer))]
    cold = measure(_mlplat("new", "bench-cold", "--env", "dev", "--dest", str(work / "cold"), *data), cache)
    warm = measure(_mlplat("new", "bench-0", "--env", "dev", "--dest", str(work / "fleet" / "bench-0"), *data),
                   cache)
    projects = [work / "fleet" / "bench-0", *more_projects(work / "fleet", work / "fleet" / "bench-0", fleet_size)]
    # the projects name the cloned template, as projects name their platform repository: it is the allowed
    # source (without --template, fleet check allows only this checkout and reports every one as foreign)
    fleet = measure(_mlplat("fleet", "check", "--json", "--template", str(template), *map(str, projects)), cache)
    states = {p["state"] for p in fleet.report["projects"]}
    if states != {"current"}:
        raise RuntimeError(f"fleet check: projects not current ({', '.join(sorted(states))}): "
                           f"{json.dumps(fleet.report)[:600]}")
    return cold, warm, fleet


def more_projects(fleet: Path, first: Path, size: int) -> list[Path]:
    """`size - 1` more projects like `first` but each with its own name (so, as in a real fleet, no two share a
    render): the template version `first` records, rendered with its answers renamed, `git init`ed."""
    from mlops_platform.scaffold.templating import (
        commit_all,
        git,
        read_answers,
        release_version,
        render_version,
        template_version,
    )

    recorded = read_answers(first)
    answers = {k: v for k, v in recorded.items() if not k.startswith("_")}
    version = template_version(str(recorded["_src_path"]), str(recorded["_commit"]))
    try:
        made = []
        for i in range(1, size):
            dest = fleet / f"bench-{i}"
            render_version(dest, {**answers, "project_slug": f"bench-{i}", "package_name": f"bench_{i}"}, version)
            git("init", "-q", "-b", "main", cwd=dest)
            commit_all(dest, "generated")
            made.append(dest)
        return made
    finally:
        release_version(version)


def generation_rows(work: Path, fleet_size: int = FLEET_SIZE) -> list[list[str]]:
    """The `mlplat new` and `fleet check` rows; a command that fails is a FAILED row, so the table keeps the
    rows measured before it."""
    try:
        cold, warm, fleet = generation(work, fleet_size)
    except RuntimeError as exc:
        return [["mlplat new / fleet check", "-", "-", "-", str(exc)[:300], "FAILED"]]
    return [["mlplat new (cold plan cache)", "-", "-", f"{cold.cpu:.1f} / {cold.wall:.1f}", "plans dev once",
             _goal(cold.cpu, 5.0, " s")],
            ["mlplat new", "-", "-", f"{warm.cpu:.1f} / {warm.wall:.1f}", "cached platform outputs",
             _goal(warm.cpu, 5.0, " s")],
            [f"mlplat fleet check, {fleet_size} projects", "-", "-", f"{fleet.cpu:.1f} / {fleet.wall:.1f}",
             "distinct answers each; one checkout per template version",
             _goal(fleet.cpu, FLEET_GOAL_S, " s") if fleet_size == FLEET_SIZE else f"goal is for {FLEET_SIZE}"]]


def _goal(value: float, limit: float, unit: str = "") -> str:
    """`value` against its goal. Times are judged on CPU seconds: on a shared machine wall time measures the
    neighbours (both are printed)."""
    return f"{value:.2f}{unit} ({'ok' if value <= limit else 'MISSED'} ≤ {limit:g}{unit})"


def _child(stack: Path, *extra: str) -> Timing:
    return measure([sys.executable, "-m", "mlops_platform.apps.bench", "--child", str(stack), *extra])


def _runs(report: dict[str, Any]) -> str:
    """Per-layer wall seconds of a plan: `aws 3.1, cluster 2.0, tenants 4.2+4.0` (one figure per process)."""
    layers: dict[str, list[str]] = {}
    for run in report["timings"]:
        layers.setdefault(run["layer"], []).append(f"{run['seconds']:.1f}")
    return ", ".join(f"{layer} {'+'.join(times)}" for layer, times in layers.items())


def overhead_rows(work: Path, tenants: Sequence[int]) -> list[list[str]]:
    """Plan + review at each size against the floor of the same resource count; growth per tenant added."""
    rows, previous = [], None
    for count in tenants:
        stack = synthetic_stack(work, count)
        ours = _child(stack)
        n = int(ours.report["resources"])
        floor = measure([sys.executable, "-c", FLOOR_PROGRAM, str(n)])
        growth = "" if previous is None else (f"; +{1000 * (ours.cpu - previous[1]) / (count - previous[0]):.0f} "
                                              f"CPU ms per tenant added since {previous[0]}")
        rows.append([f"overhead, {count} tenants", str(n), f"{floor.cpu:.1f} / {floor.wall:.1f}",
                     f"{ours.cpu:.1f} / {ours.wall:.1f}",
                     f"plan {ours.report['plan_s']:.1f} ({_runs(ours.report)}), review {ours.report['review_s']:.1f}, "
                     f"import {ours.report['import_s']:.1f}; {1000 * ours.cpu / n:.2f} CPU ms/resource "
                     f"(floor {1000 * floor.cpu / n:.2f}){growth}", _goal(ours.cpu / floor.cpu, 1.5, "×")])
        previous = (count, ours.cpu)
    return rows


def locality_row(work: Path) -> list[str]:
    """`--project` in an environment of LOCALITY_AT tenants vs of LOCALITY_BASE: what one tenant change costs."""
    small = _child(synthetic_stack(work, LOCALITY_BASE), "--project", "team-0001")
    large = _child(synthetic_stack(work, LOCALITY_AT), "--project", "team-0001")
    return [f"locality: plan one tenant at {LOCALITY_AT} vs {LOCALITY_BASE} tenants", str(large.report["resources"]),
            f"{small.cpu:.1f} / {small.wall:.1f}", f"{large.cpu:.1f} / {large.wall:.1f}",
            f"at {LOCALITY_AT}: {_runs(large.report)}; at {LOCALITY_BASE}: {_runs(small.report)}",
            _goal(large.cpu / small.cpu, 1.3, "×")]


def critical_path_cpu(timings: Sequence[dict[str, Any]]) -> tuple[float, float]:
    """(critical-path, total) CPU seconds of a plan's program runs (`Plan.timings`).

    Layers run one after the other; within a layer, each process's runs (rows with its `pid`) run beside the
    others'. The critical path is, per layer, the busiest process's CPU, summed over the layers: what the plan
    takes on enough idle cores. Total/critical is the parallel gain, measured in CPU, so a machine whose cores
    are busy with other work (where wall time shows no gain) still shows it."""
    per_layer: dict[str, dict[int, float]] = {}
    for run in timings:
        by_pid = per_layer.setdefault(str(run["layer"]), {})
        by_pid[int(run["pid"])] = by_pid.get(int(run["pid"]), 0.0) + float(run["cpu_seconds"])
    return (sum(max(by_pid.values()) for by_pid in per_layer.values()),
            sum(sum(by_pid.values()) for by_pid in per_layer.values()))


def parallel_row(work: Path, tenants: int, jobs: int) -> list[str]:
    """A whole plan with `-j jobs` against `-j 1`: wall seconds (what this machine gave), and the critical-path CPU
    of the `-j jobs` plan against its total CPU (what the processes would give on idle cores) from the same run."""
    stack = synthetic_stack(work, tenants)
    one, many = _child(stack, "--jobs", "1"), _child(stack, "--jobs", str(jobs))
    critical, total = critical_path_cpu(many.report["timings"])
    processes = len({run["pid"] for run in many.report["timings"]})
    gain = f"critical-path CPU {critical / total:.2f}× of total" if total else "no CPU recorded"
    return [f"-j {jobs} vs -j 1, {tenants} tenants (plan + review)", str(many.report["resources"]),
            f"{one.cpu:.1f} / {one.wall:.1f}", f"{many.cpu:.1f} / {many.wall:.1f}",
            f"-j {jobs}: {_runs(many.report)}; -j 1: {_runs(one.report)}; -j {jobs} plan CPU: critical path "
            f"{critical:.1f} of {total:.1f} s in {processes} processes",
            f"wall {many.wall / one.wall:.2f}× of -j 1; {gain} (no goal: the layers below tenants run in order)"]


def scale_out_row(work: Path, tenants: int, shards: int) -> list[str]:
    """One shard stack of `shards` (what one CI job plans and reviews, docs/scale-out.md) against the whole
    unsharded environment: the layers below are planned in both, only the tenants are split."""
    whole = _child(synthetic_stack(work, tenants))
    one = _child(synthetic_stack(work, tenants, shards=shards), "--shard", "0")
    return [f"scale-out: shard 0 of {shards} vs unsharded, {tenants} tenants (plan + review)",
            str(one.report["resources"]), f"{whole.cpu:.1f} / {whole.wall:.1f}", f"{one.cpu:.1f} / {one.wall:.1f}",
            f"shard: {_runs(one.report)}; unsharded: {_runs(whole.report)}",
            f"{one.cpu / whole.cpu:.2f}× of unsharded (no goal: each shard job plans the layers below too)"]


#: The Makefile's lanes (`make test` also runs lint and mypy first; their time is not test time).
TEST_LANES = (("make test", (), 150.0), ("make test-fast", ("-m", "not slow"), 60.0))


def test_rows(measured: bool) -> list[list[str]]:
    """Wall seconds of each pytest lane as the Makefile runs it (the goal is test time on 2 cores)."""
    if not measured:
        return [[f"{lane} (≤ {limit:g} s)", "-", "-", "-", "not run: `make bench BENCH=--tests` (minutes)", "-"]
                for lane, _, limit in TEST_LANES]
    from mlops_platform.config import repo_root

    rows = []
    for lane, marks, limit in TEST_LANES:
        argv = [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "--no-loadscope-reorder",
                "--max-worker-restart=0", "-q", "-p", "no:cacheprovider", *marks]
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=repo_root(), capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        summary = (done.stdout.strip().splitlines() or ["no output"])[-1]
        result = _goal(wall, limit, " s") if done.returncode == 0 else f"FAILED (exit {done.returncode})"
        rows.append([lane, "-", "-", f"- / {wall:.1f}", summary[:200], result])
    return rows


SECTIONS = ("overhead", "locality", "parallel", "scale-out", "generation", "tests")


def rows_for(work: Path, sections: Sequence[str], tenants: Sequence[int], fleet_size: int,
             run_tests: bool) -> list[list[str]]:
    from mlops_platform.cli.commands import default_jobs

    builders = {"overhead": lambda: overhead_rows(work, tenants), "locality": lambda: [locality_row(work)],
                "parallel": lambda: [parallel_row(work, max(tenants), default_jobs())],
                "scale-out": lambda: [scale_out_row(work, max(tenants), SCALE_OUT_SHARDS)],
                "generation": lambda: generation_rows(work, fleet_size),
                "tests": lambda: test_rows(run_tests)}
    return [row for section in sections for row in builders[section]()]


def _counts(many: bool) -> Callable[[str], list[int]]:
    """argparse type: whole numbers ≥ 1 (comma-separated when `many`); a bad value is a usage error naming it."""
    form = "comma-separated whole numbers, e.g. 10,100" if many else "a whole number, e.g. 50"

    def parse(value: str) -> list[int]:
        try:
            counts = [int(v) for v in value.split(",")]
        except ValueError:
            counts = []
        if not counts or min(counts) < 1 or (len(counts) > 1 and not many):
            raise argparse.ArgumentTypeError(f"{value!r}: not {form}")
        return counts

    return parse


def _sections(value: str) -> list[str]:
    unknown = sorted(set(value.split(",")) - set(SECTIONS))
    if unknown:
        raise argparse.ArgumentTypeError(f"{','.join(unknown)}: use some of {','.join(SECTIONS)}")
    return value.split(",")


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m mlops_platform.apps.bench", allow_abbrev=False,
        description="Every speed goal of issue #12 as one table, ratios against a floor measured in the same run; "
                    "exit 1 when a row FAILED.",
        epilog="`make bench BENCH='--only overhead --tenants 10'` passes these options.")
    cli.add_argument("--full", action="store_true", help="also 500 tenants and the test lanes (minutes of CPU)")
    cli.add_argument("--tenants", type=_counts(many=True), metavar="N,N",
                     help=f"tenant counts to plan (default {','.join(map(str, TENANTS))}; with --full "
                          f"{','.join(map(str, FULL_TENANTS))})")
    cli.add_argument("--fleet", type=_counts(many=False), default=[FLEET_SIZE], metavar="N",
                     help=f"projects `mlplat fleet check` checks (default {FLEET_SIZE})")
    cli.add_argument("--only", type=_sections, metavar="SECTION,...",
                     help=f"run only these sections, of {','.join(SECTIONS)}")
    cli.add_argument("--tests", action="store_true", help="run the test lanes (minutes; also with --only tests)")
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table (`--help`: the options); 2 on bad options, 1 when a row FAILED. `--child` is the
    measured child process's own protocol (`child_plan_and_review`), not an option."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--child"]:
        options = dict(zip(args[2::2], args[3::2], strict=True))
        shard = options.get("--shard")
        child_plan_and_review(Path(args[1]), int(options.get("--jobs", "1")), options.get("--project"),
                              None if shard is None else int(shard))
        return 0
    try:
        opts = parser().parse_args(args)
    except SystemExit as exc:  # --help (0) or a usage error (2), printed by argparse
        return int(exc.code or 0)
    tenants = opts.tenants or list(FULL_TENANTS if opts.full else TENANTS)
    sections = opts.only or list(SECTIONS)
    # the lanes take minutes: run with --full, --tests or `--only tests`, else listed as not run
    run_tests = opts.full or opts.tests or (opts.only is not None and "tests" in sections)
    table = Table(title="mlops-platform speed goals (CPU s / wall s; ratios on CPU; floor, base measured in this run)")
    for col in ("goal", "resources", "floor / base", "platform", "phases (wall s, in-process)", "result"):
        table.add_column(col)
    with tempfile.TemporaryDirectory(prefix="mlplat-bench-") as tmp:
        rows = rows_for(Path(tmp), sections, tenants, opts.fleet[0], run_tests)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print("`make bench BENCH=--full` adds 500 tenants and the test lanes (minutes).")
    return 1 if any(row[-1].startswith("FAILED") for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
