"""Fixtures of the ops tests: stack files written on the fly (the moto server: tests/moto_stand_in.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mlops_platform.config import PlatformConfig, load_stack_file
from ops_configs import BASE, merge
from rich.console import Console
from ruamel.yaml import YAML

StackFactory = Callable[..., PlatformConfig]


@pytest.fixture
def make_cfg(tmp_path: Path) -> StackFactory:
    """Write a stack file from BASE deep-merged with `over` and load it through the real loader."""

    def make(over: dict[str, Any] | None = None) -> PlatformConfig:
        sections = merge(BASE, over or {})
        name = sections["environment"]["name"]
        path = tmp_path / "stacks" / f"Pulumi.{name}.yaml"
        path.parent.mkdir(exist_ok=True)
        doc = {"config": {f"mlops-platform:{k}": v for k, v in sections.items()}}
        with path.open("w", encoding="utf-8") as fh:
            YAML(typ="safe").dump(doc, fh)
        return load_stack_file(path)

    return make


@pytest.fixture
def tmp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make `mlplat ENV` resolve environments to the stack files `make_cfg` writes (tmp_path/stacks)."""
    monkeypatch.setenv("MLPLAT_ROOT", str(tmp_path))
    return tmp_path


@pytest.fixture
def mlplat(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str]]:
    """Run `mlplat ARGS...` in-process through `cli.main`; (exit code, stdout + stderr)."""
    from mlops_platform.cli import mlplat as cli
    from mlops_platform.cli.commands import ops

    # Wide, colourless consoles: captured output is otherwise wrapped at 80 columns.
    monkeypatch.setattr(ops, "out", Console(width=200, no_color=True, highlight=False))
    monkeypatch.setattr(cli, "err", Console(width=200, no_color=True, stderr=True))

    def run(*args: str) -> tuple[int, str]:
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    return run


@pytest.fixture
def no_credentials(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
