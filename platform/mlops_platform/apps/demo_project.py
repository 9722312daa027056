"""The last step of `make demo`: generate a project from the offline plan and run its own `make test`.

It is the one step that needs the network: the project's `make venv` (uv lock against the package index, then
uv sync of a .venv on the answered Python, which uv downloads from python-build-standalone's GitHub releases when
no such interpreter is installed). It runs first on its own, so that a failure there is named as such.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import deque
from collections.abc import Mapping
from pathlib import Path

from mlops_platform.scaffold.new import OFFLINE_BANNER, entry_yaml, new_project

DEMO_PROJECT = "fraud-detector"
DEMO_ENV = "dev"
DEMO_ANSWERS = {"owners": ["risk-ml@example.com"], "github_org": "example-org", "cost_center": "risk"}
#: Variables of the platform's shell that would change what the project's `make test` does on a team's
#: laptop: CI/GITHUB_ACTIONS make its Makefile only check a committed uv.lock (there is none yet);
#: PYTHONDONTWRITEBYTECODE would make every process of its suite compile its fresh .venv again (~5 CPU s each);
#: VIRTUAL_ENV, PYTHONPATH and PYTHONHOME point its tools at the platform's interpreter and code. The outer make's
#: MAKEFLAGS/MFLAGS/MAKELEVEL/MAKEOVERRIDES carry its options and variable overrides into the inner `make test`
#: (`make -i demo` would make it ignore failures and report success), and MAKEFILES makes it read other makefiles.
_NOT_A_LAPTOP = frozenset({"CI", "GITHUB_ACTIONS", "PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV", "PYTHONPATH",
                           "PYTHONHOME", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "MAKEFILES"})
#: uv settings that stay: where uv may download from and how (the user's index or mirror, credentials, TLS,
#: proxies' timeouts, the cache and installed Pythons, offline mode). Every other UV_* is dropped: those change
#: the project itself (UV_PROJECT_ENVIRONMENT moves its .venv away from the Makefile's `.venv/bin`, UV_PYTHON
#: picks another interpreter than .python-version, UV_FROZEN/UV_LOCKED/UV_NO_SYNC/UV_EXCLUDE_NEWER/
#: UV_RESOLUTION/UV_CONSTRAINT/UV_CONFIG_FILE change what is locked or installed). Names: docs.astral.sh/uv,
#: "Environment variables".
UV_SOURCE_SETTINGS = frozenset({
    "UV_DEFAULT_INDEX", "UV_INDEX", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS", "UV_INDEX_STRATEGY",
    "UV_KEYRING_PROVIDER", "UV_NATIVE_TLS", "UV_INSECURE_HOST", "UV_HTTP_TIMEOUT", "UV_HTTP_RETRIES",
    "UV_CONCURRENT_DOWNLOADS", "UV_CACHE_DIR", "UV_OFFLINE", "UV_PYTHON_INSTALL_MIRROR", "UV_PYPY_INSTALL_MIRROR",
    "UV_PYTHON_DOWNLOADS_JSON_URL", "UV_PYTHON_DOWNLOADS", "UV_PYTHON_INSTALL_DIR", "UV_PYTHON_CACHE_DIR",
})
#: Credentials of a named index (`UV_INDEX_<NAME>_USERNAME` / `_PASSWORD`).
_UV_INDEX_CREDENTIAL = re.compile(r"^UV_INDEX_[A-Z0-9_]+_(USERNAME|PASSWORD)$")
#: What uv prints when a download fails (its messages: "Failed to fetch", "error sending request for url",
#: "dns error", and under UV_OFFLINE "Packages were unavailable because the network was disabled"; the tests run
#: uv itself against a refused port to keep these true).
_NETWORK = re.compile(r"failed to (fetch|download)|error sending request|dns error|failed to lookup address|"
                      r"tcp connect error|connection (refused|reset)|timed out|network was disabled",
                      re.IGNORECASE)
_CPYTHON = re.compile(r"python-build-standalone|cpython-\d|no interpreter found for python", re.IGNORECASE)
PYPI = "https://pypi.org/simple"


def project_env(environ: Mapping[str, str]) -> dict[str, str]:
    """Pure: the environment the project's make runs with: the user's, minus what would change the project."""
    return {k: v for k, v in environ.items() if k not in _NOT_A_LAPTOP
            and (not k.startswith("UV_") or k in UV_SOURCE_SETTINGS or _UV_INDEX_CREDENTIAL.match(k))}


def venv_failure(output: str, env: Mapping[str, str], python: str) -> str:
    """Pure: one message for a failed `make venv` of the demo project: the step, the cause read from uv's output
    (the index, a CPython download, offline mode, or else uv's own error above), and the fix."""
    step = (f"the demo project's `make venv` (uv lock against the package index, then uv sync of its .venv on "
            f"Python {python}) failed; every step before it ran offline and passed")
    index = env.get("UV_DEFAULT_INDEX") or env.get("UV_INDEX_URL") or PYPI
    if env.get("UV_OFFLINE", "").lower() in ("1", "true", "yes") and _NETWORK.search(output):
        return (f"{step}: UV_OFFLINE is set and uv's cache lacks what the lock needs\nfix: unset UV_OFFLINE (the "
                "step needs the network once), then rerun `make demo`")
    if _NETWORK.search(output) and _CPYTHON.search(output):
        return (f"{step}: uv could not download CPython {python} (python-build-standalone release assets on "
                f"GitHub)\nfix: rerun with network access to github.com, or set UV_PYTHON_INSTALL_MIRROR to a "
                f"mirror of those releases, or install Python {python} where uv finds it (on PATH), then rerun "
                "`make demo`")
    if _NETWORK.search(output):
        return (f"{step}: uv could not reach the package index {index}\nfix: rerun with network access to it, or "
                "point UV_DEFAULT_INDEX (or UV_INDEX_URL) at a PyPI mirror, then rerun `make demo`")
    return f"{step}: see uv's error above\nfix: correct what it names, then rerun `make demo`"


def uv_binary() -> str | None:
    """The platform venv's own uv (a dev dependency, imported only here), else uv on PATH."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def _venv(uv: str, dest: Path, env: Mapping[str, str]) -> tuple[int, str]:
    """The project's `make venv`, its output streamed and its tail kept: (exit code, the last lines)."""
    tail: deque[str] = deque(maxlen=200)
    with subprocess.Popen(["make", "venv", f"UV={uv}"], cwd=dest, env=dict(env), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, errors="replace") as proc:
        for line in proc.stdout or ():
            sys.stdout.write(line)
            tail.append(line)
    sys.stdout.flush()
    return proc.returncode, "".join(tail)


def run_demo(dest: Path) -> int:
    """Generate the demo project into `dest` (must be new or empty) and run its `make test`; the exit code.

    That is what its team runs on a fresh machine: uv locks the dependencies with hashes (uv.lock), syncs
    a .venv of the answered Python from that lock (`make venv`, run first so a network failure is named), then
    lint, types and the project's tests. uv is the platform venv's own, so the demo needs no uv on PATH."""
    uv = uv_binary()
    if uv is None:
        print("error: the demo's last step needs uv\nfix: `make venv` in the platform repository installs it "
              "(the dev extra), or put uv on PATH", file=sys.stderr)
        return 1
    project = new_project(DEMO_PROJECT, DEMO_ENV, dest, DEMO_ANSWERS, offline=True, vcs_ref="HEAD")
    print(f"generated {dest} from template {project.template_version} ({OFFLINE_BANNER})")
    print(entry_yaml(project.entry, DEMO_ENV))
    env = project_env(os.environ)
    code, output = _venv(uv, dest, env)
    if code != 0:
        python = (dest / ".python-version").read_text(encoding="utf-8").strip()
        print(f"error: {venv_failure(output, env, python)}", file=sys.stderr)
        return code
    return subprocess.run(["make", "test", f"UV={uv}"], cwd=dest, env=env, check=False).returncode
