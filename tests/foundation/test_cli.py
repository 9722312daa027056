"""Layer 5: the `mlplat validate | plan | graph` commands through `cli.main`, as a user runs them."""

from __future__ import annotations

import dataclasses
import json
import random
import re
from pathlib import Path

import pytest
from mlops_platform.cli import main
from mlops_platform.cli.commands import stack as stack_commands
from mlops_platform.config import shipped_envs, stack_file_for
from mlops_platform.engine import Plan
from mlops_platform.engine.present import graph

from .stackfiles import sections, write_stack

CIPHERTEXT = "v1:AAAAAAAAAAAAAAAAAAAAAAAB2m9vT3ZeRkaWxsY2lwaGVydGV4dA=="
PLAINTEXT_WEBHOOK = "https://hooks.slack.com/services/T0000/B0000/pl41nt3xtS3cr3t"


#: Tests that read the session's plan cache run on one xdist worker, so each environment is planned once.
PLANS = pytest.mark.xdist_group("platform-plans")


@pytest.fixture
def cached_plans(monkeypatch: pytest.MonkeyPatch, plans: dict[str, Plan]) -> None:
    """Serve shipped environments from the session cache: for tests of what the CLI prints, not of planning."""
    def from_cache(env: str | None = None, stack_file: Path | None = None, layer: object = None,
                   project: str | None = None, shard: int | None = None, jobs: int = 1) -> Plan:
        assert env is not None and stack_file is None and layer is None and project is None and shard is None
        assert jobs >= 1
        return plans[env]
    monkeypatch.setattr(stack_commands, "run_platform", from_cache)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.out, captured.err


@pytest.fixture
def bad_stack(tmp_path: Path) -> Path:
    config = sections("prod", {"network": {"nat": "single"}, "cluster": {"log_retention_days": 42}})
    config["budget"]["monthly_usd"] = "lots"
    return write_stack(tmp_path, config)


@pytest.fixture
def secret_stack(tmp_path: Path) -> Path:
    return write_stack(tmp_path, sections("dev"), extra={
        "mlops-platform:monitoring": {"slack_webhook_url": {"secure": CIPHERTEXT}}})


def test_validate_all_shipped_stacks(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate")
    assert code == 0
    for env in shipped_envs():
        assert f"{stack_file_for(env)}: valid" in out


def test_validate_named_environments_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", "dev", "prod", "--json")
    assert code == 0
    files = {str(stack_file_for("dev")): [], str(stack_file_for("prod")): []}
    assert json.loads(out) == {"valid": True, "files": files, "warnings": files}


def test_validate_bad_file_exits_3_listing_every_error(capsys: pytest.CaptureFixture[str], bad_stack: Path) -> None:
    code, out, _ = run(capsys, "validate", "--stack-file", str(bad_stack))
    assert code == 3
    assert f"{bad_stack}: 1 error(s)" in out  # rules run only once the types are right
    assert "budget.monthly_usd: Input should be a valid number" in out
    assert re.search(rf"{re.escape(str(bad_stack))}:\d+: budget\.monthly_usd", out)


def test_validate_reports_all_rule_breaks_with_fixes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    broken = {"network": {"nat": "single"}, "cluster": {"log_retention_days": 42}}
    path = write_stack(tmp_path, sections("prod", broken))
    code, out, _ = run(capsys, "validate", "--stack-file", str(path), "--json")
    assert code == 3
    result = json.loads(out)
    assert result["valid"] is False
    [issues] = result["files"].values()
    assert len(issues) == 2
    assert any("network.nat: prod may not depend on a single NAT gateway" in i and "fix: use nat: one_per_az" in i
               for i in issues)


def test_validate_mixes_good_and_bad_files(capsys: pytest.CaptureFixture[str], bad_stack: Path) -> None:
    code, out, _ = run(capsys, "validate", "dev", "--stack-file", str(bad_stack))
    assert code == 3
    assert f"{stack_file_for('dev')}: valid" in out


@pytest.mark.parametrize("argv", [
    pytest.param(["validate", "nope"], id="unknown-env"),
    pytest.param(["validate", "--stack-file", "/nonexistent/Pulumi.dev.yaml"], id="missing-file"),
    pytest.param(["plan"], id="plan-without-target"),
    pytest.param(["plan", "dev", "--stack-file", "stacks/Pulumi.dev.yaml"], id="plan-env-and-file"),
    pytest.param(["plan", "nope"], id="plan-unknown-env"),
    pytest.param(["plan", "dev", "--bogus"], id="unknown-option"),
    pytest.param(["graph", "dev", "--format", "png"], id="unknown-graph-format"),
    pytest.param(["frobnicate"], id="unknown-command"),
])
def test_usage_errors_exit_2_without_traceback(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.strip(), "a usage error explains itself on stderr"


def test_usage_error_names_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = run(capsys, "plan", "nope")
    assert "unknown environment 'nope'" in err
    assert "fix: use one of dev, staging, prod" in err


def test_plan_of_a_bad_file_exits_3_before_creating_anything(capsys: pytest.CaptureFixture[str],
                                                            bad_stack: Path) -> None:
    code, out, err = run(capsys, "plan", "--stack-file", str(bad_stack), "--json")
    assert code == 3
    error = json.loads(out)["error"]  # --json stays JSON on failure (issue #11)
    assert (error["code"], error["exit_code"]) == ("config", 3)
    assert [i["path"] for i in error["issues"]] == ["budget.monthly_usd"]
    assert "budget.monthly_usd" in err


@PLANS
def test_plan_json_follows_the_contract(capsys: pytest.CaptureFixture[str], plans: dict[str, Plan]) -> None:
    code, out, _ = run(capsys, "plan", "dev", "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"stack", "resources", "outputs", "timings"}  # timings: one row per program run
    assert data["stack"] == "dev"
    assert [(t["layer"], t["stack"]) for t in data["timings"]][:2] == [("aws", "dev"), ("cluster", "dev")]
    assert {t["layer"] for t in data["timings"][2:]} == {"tenants"}
    assert sum(t["projects"] for t in data["timings"][2:]) == 2 and all(t["seconds"] > 0 for t in data["timings"])
    for res in data["resources"]:
        assert {"urn", "type", "name", "parent", "dependencies", "inputs"} <= set(res)
        assert isinstance(res["dependencies"], list) and isinstance(res["inputs"], dict)
    assert sorted(r["urn"] for r in data["resources"]) == sorted(r.urn for r in plans["dev"].resources)
    assert data["outputs"] == json.loads(json.dumps(plans["dev"].outputs))
    cluster = next(r for r in data["resources"] if r["type"] == "aws:eks/cluster:Cluster")
    assert cluster["inputs"]["vpcConfig"]["endpointPrivateAccess"] is True  # camelCase, as the engine sees it


@PLANS
@pytest.mark.usefixtures("cached_plans")
def test_plan_prints_tree_security_settings_and_outputs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plan", "staging")
    assert code == 0
    assert re.search(r"staging — \d+ resources, \d+ components", out)
    for text in ("Key security settings", "IMDSv2 / hop limit", "KMS rotation", "Stack outputs", "cluster_endpoint",
                 "Program runs"):
        assert text in out


def test_secret_config_never_reaches_plan_output(capsys: pytest.CaptureFixture[str], secret_stack: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(capsys, "plan", "--stack-file", str(secret_stack), "--json")
    assert code == 0
    assert CIPHERTEXT not in out + err
    assert "AAAAAAAAAAAAAAAAAAAAAAAB2m9vT3ZeRkaWxsY2lwaGVydGV4dA" not in out  # not even the bare ciphertext
    # The human view renders the same recorded plan: replay it instead of planning again.
    recorded = Plan.from_json(json.loads(out))
    monkeypatch.setattr(stack_commands, "run_platform", lambda env=None, stack_file=None, **_: recorded)
    code, out, err = run(capsys, "plan", "--stack-file", str(secret_stack))
    assert code == 0
    assert CIPHERTEXT not in out + err


def test_plaintext_secret_fields_are_masked_too(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A webhook written in the clear is still a secret field: it must not be echoed by plan."""
    path = write_stack(tmp_path, sections("dev", {"monitoring": {"slack_webhook_url": PLAINTEXT_WEBHOOK}}))
    code, out, err = run(capsys, "plan", "--stack-file", str(path), "--json")
    assert code == 0
    assert PLAINTEXT_WEBHOOK not in out + err
    assert "pl41nt3xtS3cr3t" not in out


def test_validate_never_echoes_a_secret(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_stack(tmp_path, sections("dev"), extra={
        "mlops-platform:monitoring": {"storage_gib": {"secure": CIPHERTEXT}}})
    code, out, _ = run(capsys, "validate", "--stack-file", str(path))
    assert code == 3
    assert "monitoring.storage_gib" in out
    assert CIPHERTEXT not in out


@PLANS
@pytest.mark.usefixtures("cached_plans")
def test_graph_mermaid_shape(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "graph", "dev")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0] == "flowchart LR"
    nodes = [ln for ln in lines[1:] if re.fullmatch(r'  n\d+\["[\w-]+<br/>\d+ resources"\]', ln)]
    edges = [ln for ln in lines[1:] if re.fullmatch(r"  n\d+ --> n\d+", ln)]
    assert len(nodes) + len(edges) == len(lines) - 1
    names = {re.search(r'\["([\w-]+)<br/>', n).group(1) for n in nodes}  # type: ignore[union-attr]
    assert names >= {"dev-keys", "dev-network", "dev-artifacts", "dev-cluster", "dev-nodes", "dev-budget"}
    assert edges, "components depend on each other (nodes on the cluster, cluster on keys and network)"


@PLANS
@pytest.mark.usefixtures("cached_plans")
def test_graph_dot_shape(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "graph", "dev", "--format", "dot")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[:3] == ["digraph platform {", "  rankdir=LR;", "  node [shape=box, style=rounded];"]
    assert lines[-1] == "}"
    body = lines[3:-1]
    assert all(re.fullmatch(r'  n\d+ \[label="[\w-]+\\n\d+ resources"\];|  n\d+ -> n\d+;', ln) for ln in body), body
    assert any("->" in ln for ln in body)


@PLANS
def test_graph_edges_follow_recorded_dependencies(plans: dict[str, Plan]) -> None:
    text = graph(plans["dev"])
    index = {m.group(2): m.group(1) for m in re.finditer(r'(n\d+)\["([\w-]+)<br/>', text)}
    assert f"{index['dev-nodes']} --> {index['dev-cluster']}" in text
    assert f"{index['dev-cluster']} --> {index['dev-keys']}" in text
    assert f"{index['dev-cluster']} --> {index['dev-network']}" in text


@PLANS
def test_graph_does_not_depend_on_registration_order(plans: dict[str, Plan]) -> None:
    plan = plans["dev"]
    shuffled = list(plan.resources)
    random.Random(7).shuffle(shuffled)
    assert graph(Plan(plan.stack, shuffled, plan.outputs)) == graph(plan)
    assert graph(Plan(plan.stack, shuffled, plan.outputs), "dot") == graph(plan, "dot")


@PLANS
def test_plan_json_does_not_depend_on_registration_order(plans: dict[str, Plan]) -> None:
    plan = plans["dev"]
    shuffled = [dataclasses.replace(r, dependencies=tuple(reversed(r.dependencies)), property_dependencies={
        k: tuple(reversed(v)) for k, v in reversed(r.property_dependencies.items())}) for r in reversed(plan.resources)]
    assert Plan(plan.stack, shuffled, plan.outputs).to_json() == plan.to_json()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert (code, out.strip()) == (0, "mlplat 0.1.0")
