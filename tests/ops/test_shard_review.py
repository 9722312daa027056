"""`mlplat up|preview ENV --shard K` reviews what that run changes (issue #12, docs/scale-out.md): the offline
review plans the aws and cluster layers as StackReference inputs and shard K's tenants stack only — no other
shard's tenants — and only findings on shard K's resources (or the environment's own, stack-level ones) block
it. Without --shard the whole environment is reviewed, as before.

The environment is staging (tier staging: medium findings are mandatory) with `tenants.shards: 2` and a second
project: fraud-detector lands in shard 0, vision in shard 1 (`shard_of`, pinned below). A project with
`gpu_quota: 11` gets a ResourceQuota of 17 GPUs (its quota plus what it may borrow), over the environment's
`gpu.max_total_gpus` of 16: a real, blocking `gpu-quota-within-cap` finding on that project's shard.
The Pulumi Automation API is stubbed as in test_shard_operations.py; planning and review are real.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from mlops_platform.cli import main
from mlops_platform.config import load_env
from mlops_platform.core.errors import PolicyViolationError
from mlops_platform.core.shards import shard_of
from mlops_platform.ops.preflight import PreflightReport
from mlops_platform.workflows import automation, review
from mlops_platform.workflows.automation import Operation, run_operation
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
ENV = "staging"
SHARD_OF = {"fraud-detector": 0, "vision": 1}
OVER_CAP = 11  # a quota of 11 is a ResourceQuota of 17 GPUs: over the cap of 16
VISION = {"name": "vision", "owners": ["vision-ml@example.com"], "github_repo": "example-org/vision",
          "gpu_quota": 2}


def sharded_staging(root: Path, over_cap: str) -> None:
    """A checkout at `root` (the real programs, a stack file of its own) where project `over_cap`'s GPU quota
    is over the environment's cap."""
    for name in ("platform", "Pulumi.yaml"):
        (root / name).symlink_to(REPO / name)
    (root / "stacks").mkdir()
    shutil.copy(REPO / "stacks" / "waivers.yaml", root / "stacks" / "waivers.yaml")
    yaml = YAML(typ="safe", pure=True)
    doc = yaml.load((REPO / "stacks" / f"Pulumi.{ENV}.yaml").read_text(encoding="utf-8"))
    config = doc["config"]
    config["mlops-platform:tenants"] = {"shards": 2}
    config["mlops-platform:projects"] = [*config["mlops-platform:projects"], dict(VISION)]
    for project in config["mlops-platform:projects"]:
        if project["name"] == over_cap:
            project.update(gpu_quota=OVER_CAP, gpu_slices=0)
    with (root / "stacks" / f"Pulumi.{ENV}.yaml").open("w", encoding="utf-8") as fh:
        yaml.dump(doc, fh)


@pytest.fixture(autouse=True)
def over_cap_reaches_the_review(monkeypatch: pytest.MonkeyPatch) -> None:
    """`mlplat validate` refuses the over-cap quota up front (config/rules_gpu.py `borrowing_cap_rules`, tested
    in tests/foundation/test_rules.py); here that rule is lifted so the policy finding reaches the shard gate,
    which is what these tests judge."""
    from mlops_platform.config import rules_gpu

    monkeypatch.setattr(rules_gpu, "borrowing_cap_rules", lambda *_: iter(()))


@pytest.fixture
def stubbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """The Automation API and the account checks stubbed; what ran and what was reviewed, recorded."""
    monkeypatch.setenv("MLPLAT_ROOT", str(tmp_path))
    seen: dict[str, list[Any]] = {"ran": [], "reviewed": []}
    environment = review.environment

    def spy(env: str, *args: Any, **kwargs: Any) -> review.Subject:
        subject = environment(env, *args, **kwargs)
        seen["reviewed"].append(subject)
        return subject

    monkeypatch.setattr(review, "environment", spy)
    monkeypatch.setattr(automation, "require_tools", lambda aws, op: "pulumi")
    monkeypatch.setattr(automation, "run_preflight", lambda cfg, aws: PreflightReport(
        cfg.environment.name, cfg.environment.account_id, cfg.environment.region, ()))
    monkeypatch.setattr(automation, "_before_layer", lambda *_: [])
    monkeypatch.setattr(automation, "_select", lambda cfg, layer, name, create: SimpleNamespace(layer=layer, name=name))
    monkeypatch.setattr(automation, "_stack", lambda cfg, layer, create: SimpleNamespace(layer=layer, name=ENV))
    monkeypatch.setattr(automation, "_execute", lambda stack, op, out, force, refresh=False: seen["ran"].append(
        stack.name) or "{}")
    return seen


def _run(operation: Operation, shard: int | None = None) -> automation.OperationResult:
    return run_operation(ENV, operation, shard=shard, aws=object(), on_output=lambda _: None)  # type: ignore[arg-type]


def test_the_projects_land_in_the_shards_this_module_assumes() -> None:
    assert {name: shard_of(name, 2) for name in SHARD_OF} == SHARD_OF


@pytest.mark.slow
def test_a_shard_run_plans_and_judges_only_its_own_tenants(tmp_path: Path, stubbed: dict[str, list[Any]]) -> None:
    sharded_staging(tmp_path, over_cap="fraud-detector")  # a blocking finding in shard 0
    result = _run(Operation.UP, shard=1)
    assert stubbed["ran"] == [f"{ENV}-tenants-1"]
    assert result.review.startswith("offline review passed (") and result.review.endswith("of tenant shard 1 only")
    subject = stubbed["reviewed"][-1]
    # the layers below planned as inputs; shard 1's one project planned, shard 0's not at all
    assert [(t["layer"], t["stack"], t["projects"]) for t in subject.timings] == [
        ("aws", ENV, None), ("cluster", ENV, None), ("tenants", f"{ENV}-tenants-1", 1)]
    planned = {r["urn"] for r in subject.plan["resources"]}
    tenants = {urn for urn in planned if "::mlops-platform::" in urn}
    assert {urn.split("::")[0] for urn in tenants} == {f"urn:pulumi:{ENV}-tenants-1"}
    assert subject.scope == tenants and [urn for urn in tenants if "project-vision" in urn]
    assert {urn.split("::")[1] for urn in planned - tenants} == {"mlops-platform-aws", "mlops-platform-cluster"}
    # the whole environment is still reviewed without --shard, and shard 0's finding blocks it
    with pytest.raises(PolicyViolationError, match=r"offline review of staging: 1 unwaived mandatory violation"
                                                   r"(.|\n)*gpu-quota-within-cap: .*fraud-detector-quota"):
        _run(Operation.UP)
    assert stubbed["ran"] == [f"{ENV}-tenants-1"]  # refused before anything ran


@pytest.mark.slow
def test_a_blocking_finding_in_the_shard_refuses_its_run(tmp_path: Path, stubbed: dict[str, list[Any]],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    sharded_staging(tmp_path, over_cap="vision")  # a blocking finding in shard 1
    assert load_env(ENV).tenants.shards == 2
    with pytest.raises(PolicyViolationError) as refused:
        _run(Operation.PREVIEW, shard=1)
    message = str(refused.value)
    assert "offline review of staging tenant shard 1: 1 unwaived mandatory violation(s)" in message
    assert "gpu-quota-within-cap" in message and "vision-quota" in message and "17 physical GPUs" in message
    assert "fix: `mlplat review staging --shard 1` shows them all" in message
    assert refused.value.exit_code == 1 and stubbed["ran"] == []
    result = _run(Operation.PREVIEW, shard=0)  # shard 1's finding is not shard 0's
    assert stubbed["ran"] == [f"{ENV}-tenants-0"] and result.review.endswith("of tenant shard 0 only")
    # what the fix names: the same review from the command line (the plans come from the plan cache)
    assert main(["review", ENV, "--shard", "1", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [(v["policy"], v["urn"].split("::")[0]) for v in report["violations"]] == [
        ("gpu-quota-within-cap", f"urn:pulumi:{ENV}-tenants-1")]
    assert main(["review", ENV, "--shard", "0", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["violations"] == []


@pytest.mark.parametrize(("args", "message"), [
    (["review", "--plan", "plan.json", "--shard", "1"], "--shard applies to an environment (ENV) only"),
    (["review", ENV, "--layer", "aws", "--shard", "1"], "--shard 1 is a stack of the tenants layer — fix: drop"),
])
def test_review_shard_misuse_is_a_usage_error(args: list[str], message: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    assert message in " ".join(capsys.readouterr().err.split())
