"""The moto *server* stand-in for AWS, shared by every test area that talks to AWS (ops, hostile, security),
and the helpers every real local stand-in process uses (a free loopback port, waiting until it answers).

A real moto server process per test session (per xdist worker); `moto` resets it and points boto3 at
it through the standard AWS_ENDPOINT_URL, with fake static credentials and no profile or config files.
Registered for all areas by tests/conftest.py.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import botocore.loaders
import botocore.session
import pytest

#: moto's default account; stack files of moto tests use it as environment.account_id.
MOTO_ACCOUNT = "123456789012"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(name: str, is_up: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path,
                  timeout: float = 90) -> None:
    """Poll `is_up` until it answers True; fail with the process's log if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if is_up():
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{name} did not start within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _answers(url: str) -> bool:
    urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
    return True


def _logged_url(log: Path) -> str | None:
    """The address the server says it listens on (werkzeug's start-up line)."""
    found = re.search(r"Running on (http://127\.0\.0\.1:\d+)", log.read_text(errors="replace"))
    return found.group(1) if found else None


def _default_amis(path: Path) -> Path:
    """moto's own default AMIs (44, Amazon-owned) as the plain JSON file MOTO_AMIS_PATH names. With it set, an
    EC2 backend (built again after every reset) loads these instead of also loading the region's catalogue of
    recent and ECS-optimized AMIs (over 1 200 entries: 0.13 CPU s of the server per test that touches EC2);
    no test reads that catalogue."""
    spec = importlib.util.find_spec("moto")  # moto's files without importing moto.ec2 (0.5 s of its models)
    assert spec is not None and spec.submodule_search_locations, "moto is not installed"
    source = Path(spec.submodule_search_locations[0], "ec2", "resources", "amis.json.gz")
    path.write_bytes(gzip.decompress(source.read_bytes()))
    return path


@contextmanager
def moto_process(account_id: str, log: Path) -> Iterator[str]:
    """A real moto server on a loopback port of its own whose default account is `account_id` (the account the
    planned ARNs name), logging to `log`; yields its URL and stops it on exit.

    The server binds port 0 itself and says which port it got: a port probed free and handed to it could be taken
    in between, by the other xdist worker's server too, and two workers resetting one server fail each other."""
    amis = _default_amis(log.with_name("moto-amis.json"))
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-p", "0", "-H", "127.0.0.1"],
                                stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "MOTO_ACCOUNT_ID": account_id, "MOTO_AMIS_PATH": str(amis)})
    try:
        wait_until_up("moto server", lambda: (url := _logged_url(log)) is not None and _answers(url), proc, log)
        yield str(_logged_url(log))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real moto server process on 127.0.0.1, one per test session (per xdist worker)."""
    with moto_process(MOTO_ACCOUNT, tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


@functools.cache
def _one_loader(data_path: str | None) -> botocore.loaders.Loader:
    return botocore.loaders.create_loader(data_path)


def _shared_loader(data_path: str | None) -> botocore.loaders.Loader:
    """botocore's reader of its own service models (read-only JSON, cached in the loader): the product creates
    a boto3 session per command run, the tests hundreds, and each would re-read the models (~30 ms a client).
    Each boto3 session appends its data path to the loader's search paths: kept free of repeats here, so the
    shared list stays as it is for one session."""
    loader = _one_loader(data_path)
    loader.search_paths[:] = list(dict.fromkeys(loader.search_paths))
    return loader


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real AWS: no profile or config files, fake static credentials, no endpoint unless asked. Every
    botocore session of the test shares one loader of botocore's service models (see `_shared_loader`)."""
    monkeypatch.setattr(botocore.session, "create_loader", _shared_loader)
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
def moto(moto_server: str, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 at the moto server (standard AWS_ENDPOINT_URL) with a fresh, empty backend."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"),
                           timeout=10).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    return moto_server
