"""`make demo`'s last step (apps/demo_project.py), cheaply: the environment the project's make gets, and the one
message a failed `make venv` prints, read from the real uv's output (run against a refused local port and an
empty cache, so no network is touched). The full step itself runs once, in test_generated_slow.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from mlops_platform.apps.demo_project import PYPI, project_env, uv_binary, venv_failure

#: Nothing listens on the discard port: every connection is refused at once.
REFUSED = "http://127.0.0.1:9"


def test_the_project_env_drops_what_changes_the_project_and_keeps_the_users_sources() -> None:
    outer = {"PATH": "/usr/bin", "HOME": "/home/me", "HTTPS_PROXY": "http://proxy:3128", "SSL_CERT_FILE": "/ca.pem",
             # the outer make: `make -i demo` must not make the inner `make test` ignore failures
             "MAKEFLAGS": "i -- FOO=bar", "MFLAGS": "-i", "MAKELEVEL": "1", "MAKEOVERRIDES": "FOO=bar",
             "MAKEFILES": "/tmp/evil.mk",
             "PYTHONPATH": "platform", "PYTHONHOME": "/opt/py", "VIRTUAL_ENV": "/work/.venv", "CI": "true",
             "GITHUB_ACTIONS": "true", "PYTHONDONTWRITEBYTECODE": "1",
             # layout/behaviour of the project: dropped
             "UV_PROJECT_ENVIRONMENT": "/elsewhere", "UV_PYTHON": "3.13", "UV_FROZEN": "1", "UV_LOCKED": "1",
             "UV_NO_SYNC": "1", "UV_EXCLUDE_NEWER": "2020-01-01", "UV_CONFIG_FILE": "/x/uv.toml",
             "UV_RESOLUTION": "lowest", "UV_SYSTEM_PYTHON": "1",
             # the user's network: kept
             "UV_DEFAULT_INDEX": "https://mirror.example/simple", "UV_INDEX_URL": "https://m2.example/simple",
             "UV_EXTRA_INDEX_URL": "https://m3.example/simple", "UV_PYTHON_INSTALL_MIRROR": "https://m.example/pbs",
             "UV_INDEX_CORP_USERNAME": "me", "UV_INDEX_CORP_PASSWORD": "s3cret", "UV_CACHE_DIR": "/cache",
             "UV_OFFLINE": "1", "UV_NATIVE_TLS": "1"}
    env = project_env(outer)
    assert sorted(env) == sorted(["PATH", "HOME", "HTTPS_PROXY", "SSL_CERT_FILE", "UV_DEFAULT_INDEX", "UV_INDEX_URL",
                                  "UV_EXTRA_INDEX_URL", "UV_PYTHON_INSTALL_MIRROR", "UV_INDEX_CORP_USERNAME",
                                  "UV_INDEX_CORP_PASSWORD", "UV_CACHE_DIR", "UV_OFFLINE", "UV_NATIVE_TLS"])
    assert all(env[k] == outer[k] for k in env)


def _uv(tmp_path: Path, *args: str, python: str | None = None, **env: str) -> str:
    """The real uv on a one-dependency project; its combined output (it must fail)."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0"\nrequires-python = ">=3.9"\n'
                                             'dependencies = ["six"]\n', encoding="utf-8")
    if python:
        (tmp_path / ".python-version").write_text(python, encoding="utf-8")
    uv = uv_binary()
    assert uv is not None
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "UV_CACHE_DIR": str(tmp_path / "cache"),
            "UV_HTTP_RETRIES": "0", "UV_NO_CONFIG": "1"}
    done = subprocess.run([uv, *args], cwd=tmp_path, env={**base, **env}, capture_output=True, text=True,
                          check=False, timeout=60)
    assert done.returncode != 0, done.stdout
    return done.stdout + done.stderr


def test_an_unreachable_index_is_named_with_the_mirror_fix(tmp_path: Path) -> None:
    output = _uv(tmp_path, "lock", UV_DEFAULT_INDEX=f"{REFUSED}/simple")
    env = project_env({"UV_DEFAULT_INDEX": f"{REFUSED}/simple"})
    message = venv_failure(output, env, "3.11")
    assert message.startswith("the demo project's `make venv` (uv lock against the package index, then uv sync of "
                              "its .venv on Python 3.11) failed; every step before it ran offline and passed: uv "
                              f"could not reach the package index {REFUSED}/simple\nfix: ")
    assert "UV_DEFAULT_INDEX (or UV_INDEX_URL) at a PyPI mirror" in message
    assert f"the package index {PYPI}" in venv_failure(output, {}, "3.11")  # no mirror set: PyPI


def test_a_cpython_download_that_fails_is_named_with_its_fix(tmp_path: Path) -> None:
    output = _uv(tmp_path, "sync", python="3.10.2", UV_PYTHON_PREFERENCE="only-managed",
                 UV_PYTHON_INSTALL_DIR=str(tmp_path / "pythons"), UV_PYTHON_INSTALL_MIRROR=REFUSED,
                 UV_DEFAULT_INDEX=f"{REFUSED}/simple")
    message = venv_failure(output, {}, "3.10.2")
    assert "uv could not download CPython 3.10.2 (python-build-standalone release assets on GitHub)" in message
    assert "UV_PYTHON_INSTALL_MIRROR" in message and "install Python 3.10.2" in message


def test_offline_mode_with_a_cold_cache_is_named(tmp_path: Path) -> None:
    output = _uv(tmp_path, "lock", UV_OFFLINE="1")
    message = venv_failure(output, {"UV_OFFLINE": "1"}, "3.11")
    assert "UV_OFFLINE is set and uv's cache lacks what the lock needs\nfix: unset UV_OFFLINE" in message


@pytest.mark.parametrize("output", ["", "error: No `project` table found in: `pyproject.toml`"])
def test_any_other_failure_points_at_uvs_own_error(output: str) -> None:
    assert venv_failure(output, {}, "3.11").endswith(": see uv's error above\nfix: correct what it names, then "
                                                     "rerun `make demo`")
