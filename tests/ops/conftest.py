"""Fixtures of the ops tests: stack files written on the fly, and a real moto server process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mlops_platform.config import PlatformConfig, load_stack_file
from ops_configs import BASE, MOTO_ACCOUNT, merge
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("moto server did not start within 60 s")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A real moto server process on 127.0.0.1, one per test session (per xdist worker)."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-p", str(port), "-H", "127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "MOTO_ACCOUNT_ID": MOTO_ACCOUNT})
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real AWS: no profile or config files, fake static credentials, no endpoint unless asked."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def no_credentials(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")


@pytest.fixture
def moto(moto_server: str, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 at the moto server (standard AWS_ENDPOINT_URL) with a fresh, empty backend."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"),
                           timeout=10).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    return moto_server
