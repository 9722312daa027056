"""Resource exhaustion: alias bombs, huge files, deep nesting, recursive aliases — in every YAML/JSON
reader — answer in seconds with a clear error and exit 3 (issue #11)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlops_platform.core import files
from mlops_platform.core.errors import ConfigError
from mlops_platform.core.files import MAX_BYTES, MAX_DEPTH, MAX_NODES, load_yaml

from .conftest import Cli, subprocess_mlplat, unchanged


def alias_bomb(levels: int, width: int, key: str = "tags") -> str:
    """A 'billion laughs' stack file: each level lists the previous one `width` times."""
    lines = ["config:", "  mlops-platform:environment:", f"    {key}:",
             "      a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"      a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@settings(max_examples=12, deadline=None)
@given(levels=st.integers(6, 12), width=st.integers(8, 16))
def test_any_alias_bomb_is_refused_quickly(levels: int, width: int) -> None:
    """Quickly, deterministically: the expansion check visits each reference in the document once (shared
    nodes are counted from memory), so its work grows with the file, never with the width**levels nodes
    the aliases stand for. Counted in calls of its walker, not in seconds, so a busy machine cannot fail it."""
    calls = _walker_calls(lambda: load_yaml(alias_bomb(levels, width), "bomb.yaml", "stack file", typ="rt"),
                          match=rf"expands to more than {MAX_NODES:,} nodes")
    references = levels * width + 2 * levels + 6  # list items, the anchors' keys and values, the outer maps
    assert width**levels > MAX_NODES and calls <= references + 1, (calls, references)


def _walker_calls(load: Callable[[], object], match: str) -> int:
    """How often `load` entered the node walker of core/files.py's expansion check (it must refuse)."""
    calls = 0

    def profile(frame: FrameType, event: str, _arg: object) -> None:
        nonlocal calls
        if event == "call" and frame.f_code.co_name == "size" and frame.f_code.co_filename == files.__file__:
            calls += 1

    sys.setprofile(profile)
    try:
        with pytest.raises(ConfigError, match=match):
            load()
    finally:
        sys.setprofile(None)
    return calls


def test_a_document_with_harmless_aliases_still_loads() -> None:
    data = load_yaml("a: &x {k: v}\nb: *x\nc: *x\n", "ok.yaml", "stack file")
    assert data["b"] == data["c"] == {"k": "v"}


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(ConfigError, match="recursive alias"):
        load_yaml("a: &x\n  b: *x\n", "rec.yaml", "waivers file")


@pytest.mark.parametrize("text", [
    pytest.param("config: " + "[" * 5000 + "]" * 5000 + "\n", id="flow-lists"),
    pytest.param("config: " + "{a: " * 2000 + "1" + "}" * 2000 + "\n", id="flow-maps"),
])
def test_deep_nesting_is_refused_before_parsing(cli: Cli, tmp_path: Path, text: str) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(text)
    with unchanged(tmp_path):
        result = cli("validate", "--stack-file", path, "--json", code=3)
    assert f"nests more than {MAX_DEPTH} levels" in result.error()["message"]


def test_brackets_inside_quotes_and_comments_do_not_count() -> None:
    text = "a: '" + "[" * 200 + "'\nb: \"" + "{" * 200 + "\"  # " + "[" * 200 + "\n"
    assert load_yaml(text, "q.yaml", "stack file") == {"a": "[" * 200, "b": "{" * 200}


def test_huge_stack_file_is_refused_unread(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_bytes(b"config:\n  mlops-platform:environment:\n    tags:\n" + b"      k: v\n" * (MAX_BYTES // 10 + 1))
    with unchanged(tmp_path):
        result = cli("validate", "--stack-file", path, "--json", code=3)
    assert "larger than 1024 KiB" in result.error()["message"]


def test_every_yaml_reader_caps_aliases(cli: Cli, tmp_path: Path) -> None:
    """Waivers, policy configuration, answers file and a program's Pulumi.yaml go through the same reader."""
    bomb = alias_bomb(9, 10, key="x")
    for name in ("waivers.yaml", "policy.yaml", ".copier-answers.yml"):
        (tmp_path / name).write_text(bomb)
    plan = tmp_path / "plan.json"
    plan.write_text('{"stack": "dev", "resources": [], "outputs": {}}')
    with unchanged(tmp_path):
        waivers = cli("review", "--plan", plan, "--waivers", tmp_path / "waivers.yaml", code=1)
        policy = cli("policy", "config", "--policy-config", tmp_path / "policy.yaml", code=3)
        fleet = cli("fleet", "check", tmp_path, "--json", code=6)
    for result in (waivers, policy):
        assert f"more than {MAX_NODES:,} nodes" in result.err
    assert f"more than {MAX_NODES:,} nodes" in fleet.json()["projects"][0]["error"]


def test_alias_bomb_through_the_real_command_answers_in_seconds(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(alias_bomb(9, 10))
    done = subprocess_mlplat("validate", "--stack-file", path, timeout=60)
    assert done.returncode == 3
    assert "expands to more than" in done.stdout


def test_json_nan_in_a_plan_file_is_not_json(cli: Cli, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text('{"stack": "dev", "resources": [], "outputs": {"x": NaN}}')
    with unchanged(tmp_path):
        result = cli("review", "--plan", plan, "--format", "json", code=3)
    assert "NaN is not a JSON number" in result.error()["issues"][0]["message"]
