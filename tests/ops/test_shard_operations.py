"""`mlplat preview|up|destroy` on a sharded environment (docs/scale-out.md): the tenants layer is each shard's
stack in turn, or `--shard K`'s alone, run with the environment's stack file; a shard the count does not have,
or `--shard` with a lower layer, is refused before any tool is needed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from mlops_platform.core.layers import Layer
from mlops_platform.workflows import automation
from mlops_platform.workflows.automation import Operation, run_operation, shared_config_file, targets

AWS, CLUSTER, TENANTS = Layer.AWS, Layer.CLUSTER, Layer.TENANTS
QA = {"environment": {"name": "qa", "tier": "staging"}}


def test_each_layer_runs_as_the_environments_stack_and_tenants_as_each_shard(make_cfg: Any, tmp_root: Any) -> None:
    sharded = make_cfg({**QA, "tenants": {"shards": 3}})
    shards = [(TENANTS, f"qa-tenants-{k}") for k in range(3)]
    assert targets(sharded, None, None) == [(AWS, "qa"), (CLUSTER, "qa"), *shards]
    assert targets(sharded, None, None, reverse=True) == [*shards, (CLUSTER, "qa"), (AWS, "qa")]
    assert targets(sharded, TENANTS, None) == shards
    assert targets(sharded, None, 2) == targets(sharded, TENANTS, 2) == [(TENANTS, "qa-tenants-2")]
    assert targets(sharded, CLUSTER, None) == [(CLUSTER, "qa")]
    unsharded = make_cfg(QA)
    assert targets(unsharded, None, None) == [(AWS, "qa"), (CLUSTER, "qa"), (TENANTS, "qa")]
    assert targets(unsharded, None, 0) == [(TENANTS, "qa")]


def test_a_shard_stack_runs_with_its_environments_stack_file(make_cfg: Any, tmp_root: Any) -> None:
    make_cfg({**QA, "tenants": {"shards": 3}})
    assert shared_config_file("qa-tenants-2") == str(tmp_root / "stacks" / "Pulumi.qa.yaml")
    assert shared_config_file("qa") is None  # found under stackConfigDir by its own name


def test_up_applies_every_shard_stack_after_the_layers_below(make_cfg: Any, tmp_root: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    make_cfg({**QA, "tenants": {"shards": 2}})
    ran: list[tuple[str, str, str | None]] = []
    layers: list[Layer] = []
    monkeypatch.setattr(automation, "require_tools", lambda aws, op: "pulumi")
    monkeypatch.setattr(automation, "_gate", lambda cfg, aws, op, shard=None: "skipped")
    monkeypatch.setattr(automation, "_before_layer", lambda cfg, aws, op, layer, *_: layers.append(layer) or [])
    monkeypatch.setattr(automation, "_select", lambda cfg, layer, name, create: SimpleNamespace(layer=layer, name=name))
    monkeypatch.setattr(automation, "_stack", lambda cfg, layer, create: SimpleNamespace(layer=layer, name="qa"))
    monkeypatch.setattr(automation, "_execute", lambda stack, op, out, force, refresh=False: ran.append(
        (stack.layer.value, stack.name, shared_config_file(stack.name))) or "{}")
    config = str(tmp_root / "stacks" / "Pulumi.qa.yaml")
    result = run_operation("qa", Operation.UP, aws=object(), on_output=lambda _: None)  # type: ignore[arg-type]
    assert ran == [("aws", "qa", None), ("cluster", "qa", None), ("tenants", "qa-tenants-0", config),
                   ("tenants", "qa-tenants-1", config)]
    assert layers == [AWS, CLUSTER, TENANTS]  # reachability and the like: once per layer, not per shard
    assert result.summary.endswith("qa-tenants-0: {}; qa-tenants-1: {}")
    ran.clear()
    run_operation("qa", Operation.PREVIEW, shard=1, aws=object(), on_output=lambda _: None)  # type: ignore[arg-type]
    assert ran == [("tenants", "qa-tenants-1", config)]


@pytest.mark.parametrize(("args", "message"), [
    (("up", "qa", "--layer", "aws", "--shard", "1"), "--shard 1 is a stack of the tenants layer — fix: drop --layer"),
    (("preview", "qa", "--shard", "2"), "--shard 2: tenants.shards is 2, so shards are 0..1 — fix: pass one of them"),
    (("destroy", "qa", "--shard", "5"), "--shard 5: tenants.shards is 2"),
])
def test_a_shard_the_environment_lacks_is_refused_before_any_tool(mlplat: Any, make_cfg: Any, tmp_root: Any,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  args: tuple[str, ...], message: str) -> None:
    make_cfg({**QA, "tenants": {"shards": 2}})
    monkeypatch.setenv("PATH", str(tmp_root))  # no Pulumi CLI: refused after the tool check, this would exit 5
    code, out = mlplat(*args)
    assert code == 2, out
    assert message in " ".join(out.split())
