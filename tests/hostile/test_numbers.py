"""Numbers: every numeric field of every user-file model rejects booleans (YAML `true`/`yes`/`on`) and
non-finite floats (`.inf`, `.nan`), naming the field; `cost --json` never prints Infinity/NaN."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from foundation.stackfiles import issues_of, sections, write_stack
from hypothesis import given, settings
from hypothesis import strategies as st
from mlops_platform.config.loader import _model_of, dotted
from mlops_platform.config.schema import PlatformConfig
from mlops_platform.core.errors import ConfigError
from mlops_platform.core.files import finite_json
from mlops_platform.core.strict import _item_annotation, expects_number
from mlops_platform.scaffold.answers import validate_answers
from pydantic import BaseModel

from .conftest import Cli, unchanged

PROJECT = {"name": "demo", "owners": ["a@example.com"], "github_repo": "org/demo"}
BAD = [True, False, math.inf, -math.inf, math.nan]


def numeric_paths(model: type[BaseModel], prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Dotted locations of every numeric field (lists of models at index 0)."""
    found: list[tuple[str | int, ...]] = []
    for name, field in model.model_fields.items():
        sub = _model_of(field.annotation)
        item = _item_annotation(field.annotation)
        if sub is not None:
            found += numeric_paths(sub, (*prefix, name, *((0,) if item is not None else ())))
        elif expects_number(field.annotation) or (item is not None and expects_number(item)):
            found.append((*prefix, name))
    return found


PATHS = numeric_paths(PlatformConfig)


def _set(config: dict[str, Any], loc: tuple[str | int, ...], value: Any) -> None:
    node: Any = config
    for part in loc[:-1]:
        node = node[part] if isinstance(part, int) else node.setdefault(part, {})
    node[loc[-1]] = value


def test_the_schema_has_the_numeric_fields_we_expect() -> None:
    names = {dotted(p) for p in PATHS}
    assert {"budget.monthly_usd", "node_pools.gpu[0].max_size", "budget.alert_thresholds_pct",
            "projects[0].gpu_quota", "gpu.max_total_gpus"} <= names


@settings(max_examples=80, deadline=None)
@given(loc=st.sampled_from(PATHS), bad=st.sampled_from(BAD))
def test_no_numeric_field_takes_a_boolean_or_a_non_finite_number(loc: tuple[str | int, ...], bad: Any) -> None:
    config = sections("dev", {"projects": [PROJECT]})
    is_list = _is_list(loc)
    _set(config, loc, [bad] if is_list else bad)
    issues = [i for i in issues_of(config, stack="dev") if i.path.startswith(dotted(loc))]
    assert issues, f"{dotted(loc)} accepted {bad!r}"
    assert any(("boolean" if isinstance(bad, bool) else "finite") in i.message for i in issues), issues


def _is_list(loc: tuple[str | int, ...]) -> bool:
    model: Any = PlatformConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields[part]
        model = _model_of(field.annotation)
    return _item_annotation(field.annotation) is not None


@pytest.mark.parametrize("answer, value", [("gpu_quota", True), ("monthly_budget_usd", "inf"),
                                           ("gate_min_improvement", "nan"), ("serving_replicas", False)])
def test_answers_reject_booleans_and_non_finite_numbers(answer: str, value: Any) -> None:
    data = {"project_slug": "p", "owners": ["a@example.com"], "github_org": "o", "cost_center": "cc", answer: value}
    with pytest.raises(ConfigError, match=answer):
        validate_answers(data)


@settings(max_examples=50, deadline=None)
@given(st.recursive(st.floats(allow_nan=True, allow_infinity=True) | st.integers() | st.text(max_size=3),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                 max_size=3), max_leaves=10))
def test_json_output_is_always_strict_json(data: Any) -> None:
    import json

    json.loads(finite_json({"x": data}), parse_constant=lambda name: pytest.fail(f"{name} printed"))


def test_cost_json_of_an_infinite_budget_is_a_json_error(cli: Cli, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "stacks").mkdir()
    path = write_stack(tmp_path / "stacks", sections("dev"))
    path.write_text(path.read_text().replace("monthly_usd: 5000", "monthly_usd: .inf"))
    monkeypatch.setenv("MLPLAT_ROOT", str(tmp_path))
    with unchanged(tmp_path):
        result = cli("cost", "dev", "--json", "--prices", "table", code=3)
    [issue] = result.error()["issues"]
    assert (issue["path"], issue["value"]) == ("budget.monthly_usd", "inf")
    assert "finite" in issue["message"]


def test_a_boolean_pool_size_is_named_not_read_as_one(cli: Cli, tmp_path: Path) -> None:
    config = sections("dev")
    config["node_pools"]["gpu"][0]["max_size"] = True
    path = write_stack(tmp_path, config)
    result = cli("validate", "--stack-file", path, "--json", code=3)
    [issue] = result.error()["issues"]
    assert issue["path"] == "node_pools.gpu[0].max_size" and "a boolean where a number is expected" in issue["message"]
