"""Resolve the platform outputs a new project is wired to.

In order: (1) `--outputs FILE` (JSON of `pulumi stack output --json`), (2) the real stack through the
Pulumi CLI when it is on PATH, (3) the offline plan of the shipped stack file — placeholder values,
marked as such in the command output and in the project's answers (`outputs_source: offline-plan`).
Every source is validated against the outputs contract (`PlatformOutputs`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlops_platform.config import check_env_name, repo_root, shipped_envs
from mlops_platform.config.loader import dotted
from mlops_platform.core.contract import PlatformOutputs
from mlops_platform.core.errors import ConfigError, ConfigIssue, EngineError, UsageError
from mlops_platform.core.files import load_json, read_text
from mlops_platform.engine import platform_outputs
from mlops_platform.scaffold.answers import OutputsSource

#: Seconds `pulumi stack output` may take (it reads the state backend).
PULUMI_TIMEOUT = 120


@dataclass(frozen=True)
class ResolvedOutputs:
    outputs: PlatformOutputs
    source: OutputsSource
    origin: str  # human-readable: the file, the command or the stack file planned

    @property
    def is_placeholder(self) -> bool:
        return self.source is OutputsSource.OFFLINE_PLAN


def resolve_outputs(env: str, outputs_file: Path | None = None, offline: bool = False) -> ResolvedOutputs:
    """The env's outputs from the first available source (see the module docstring)."""
    check_env_name(env)
    if outputs_file is not None:
        return ResolvedOutputs(read_outputs_file(outputs_file, env), OutputsSource.FILE, str(outputs_file))
    check_env(env)
    if not offline and shutil.which("pulumi"):
        return ResolvedOutputs(stack_outputs(env), OutputsSource.STACK, f"pulumi stack output --stack {env}")
    return ResolvedOutputs(offline_outputs(env), OutputsSource.OFFLINE_PLAN, f"offline plan of {env}")


def check_env(env: str) -> None:
    envs = shipped_envs()
    check_env_name(env)
    if env not in envs:
        raise UsageError(f"unknown environment '{env}' — fix: use one of {', '.join(envs)} "
                         f"or pass --outputs FILE with that environment's outputs")


def read_outputs_file(path: Path, env: str) -> PlatformOutputs:
    outputs = load_outputs_file(path, env)
    if outputs.environment != env:
        raise ConfigError([ConfigIssue("environment", f"the file holds outputs of '{outputs.environment}', "
                                       f"not of --env {env}", outputs.environment, file=str(path),
                                       fix=f"pass --env {outputs.environment} or the outputs of {env}")])
    return outputs


def load_outputs_file(path: Path, stack: str = "<org>/mlops-platform/<env>") -> PlatformOutputs:
    """A platform stack's `pulumi stack output --json`, checked against the outputs contract."""
    text = read_text(path, "outputs file", f"export it with `pulumi stack output --json --stack {stack} > "
                                           f"{path.name}`")
    raw = load_json(text, path, "outputs file", "pass the JSON printed by `pulumi stack output --json`")
    return validate_outputs(raw, str(path))


def validate_outputs(raw: Any, source: str) -> PlatformOutputs:
    """Check raw outputs against the contract; one ConfigError with every problem."""
    if not isinstance(raw, dict):
        raise ConfigError([ConfigIssue("<file>", "outputs must be a JSON object", type(raw).__name__,
                                       "pass the JSON printed by `pulumi stack output --json`", source)])
    try:
        return PlatformOutputs.model_validate(raw)
    except ValidationError as exc:
        issues = [ConfigIssue(dotted(tuple(e["loc"])) or "<outputs>", _message(e), _shown(e),
                              "export the outputs of a platform stack of this version "
                              "(`pulumi stack output --json`)", source)
                  for e in exc.errors(include_url=False)]
        raise ConfigError(issues, source) from None


def _message(err: Any) -> str:
    return {"missing": "required output is missing", "extra_forbidden": "unknown output"}.get(
        err["type"], str(err["msg"]))


def _shown(err: Any) -> Any:
    value = err.get("input")
    return None if err["type"] == "missing" or isinstance(value, dict | list) else value


def stack_outputs(env: str) -> PlatformOutputs:
    """Outputs of the deployed stack, read with the Pulumi CLI (no secrets shown)."""
    command = ["pulumi", "stack", "output", "--json", "--stack", env]
    try:
        done = subprocess.run(command, cwd=repo_root(), capture_output=True, text=True,
                              timeout=PULUMI_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EngineError(f"`{' '.join(command)}` failed: {exc} — fix: pass --outputs FILE or --offline") from None
    if done.returncode != 0:
        raise EngineError(f"`{' '.join(command)}` exited {done.returncode}: {done.stderr.strip()[-500:]} "
                          f"— fix: log in to the state backend, or pass --outputs FILE or --offline")
    try:
        raw = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise EngineError(f"`{' '.join(command)}` printed no JSON ({exc}) — fix: pass --outputs FILE") from None
    return validate_outputs(raw, f"stack {env}")


def offline_outputs(env: str) -> PlatformOutputs:
    """Outputs of the offline plan of the shipped stack file: real names, placeholder ids."""
    return validate_outputs(platform_outputs(env), f"offline plan of {env}")
