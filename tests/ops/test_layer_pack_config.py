"""`mlplat up/preview` runs the real pack on each layer stack with its environment's policy configuration:
tier levels and the environment's caps (budget, p90 estimate, GPU cap), stack kind `auto` so that each layer
stack's environment marker decides which environment-level policies judge it (policy/registry.applies)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlops_platform.policy.config_files import to_pulumi_config
from mlops_platform.workflows import automation
from mlops_platform.workflows.automation import Operation, pack_config
from mlops_platform.workflows.review import deploy_config


class _Summary:
    resource_changes: dict[str, int] = {}
    change_summary: dict[str, int] = {}

    @property
    def summary(self) -> _Summary:
        return self


class _RecordingStack:
    """Records what `_execute` hands the Automation API (the Pulumi CLI is not here)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.configs: list[dict[str, Any]] = []

    def _record(self, policy_pack_configs: list[str], **_: Any) -> _Summary:
        self.configs += [json.loads(Path(p).read_text(encoding="utf-8")) for p in policy_pack_configs]
        return _Summary()

    preview = up = _record


def test_every_layer_and_shard_stack_runs_the_pack_with_its_environment_config() -> None:
    expected = to_pulumi_config(deploy_config("staging"))
    assert [w["urn"] for w in expected["iam-no-wildcard-resource"]["waivers"]] == [
        "urn:pulumi:*::*::*aws:iam/rolePolicy:RolePolicy::*-lb-controller-policy"]
    assert expected["budget-covers-estimate"]["monthly_budget_usd"] == 12000.0
    assert expected["budget-covers-estimate"]["estimated_monthly_p90_usd"] > 0
    for name in ("staging", "staging-tenants-1"):
        assert pack_config(name) == expected
        assert {c.get("stack_kind") for c in expected.values() if "stack_kind" in c} == {"auto"}
        for operation in (Operation.PREVIEW, Operation.UP):
            stack = _RecordingStack(name)
            automation._execute(stack, operation, lambda _: None, False)  # type: ignore[arg-type]
            assert stack.configs == [expected], (name, operation)
