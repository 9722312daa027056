"""Typed, user-facing errors. The CLI maps each class to an exit code; no traceback reaches a user."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class MlplatError(Exception):
    """Base of every error a user can cause or fix. `exit_code` is what the CLI exits with."""

    exit_code = 2

    def render(self) -> str:
        return str(self)


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a stack or answers file: where it is, what is wrong and how to fix it."""

    path: str  # dotted field path, e.g. "node_pools.gpu[0].max_size"
    message: str
    value: object = None
    fix: str = ""
    file: str = ""
    line: int | None = None

    def render(self) -> str:
        where = self.file or "<config>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        text = f"{where}: {self.path}: {self.message}"
        if self.value is not None:
            text += f" (got {self.value!r})"
        if self.fix:
            text += f" — fix: {self.fix}"
        return text


class ConfigError(MlplatError):
    """A stack/answers file failed validation. Carries every issue found, not just the first."""

    exit_code = 3

    def __init__(self, issues: Iterable[ConfigIssue], source: str = "") -> None:
        self.issues = list(issues)
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        head = f"{len(self.issues)} configuration error(s)" + (f" in {self.source}" if self.source else "")
        return head + ":\n" + "\n".join(f"  - {i.render()}" for i in self.issues)


class UsageError(MlplatError):
    """Wrong command-line usage (unknown environment, missing file, conflicting flags)."""

    exit_code = 2


class EngineError(MlplatError):
    """The offline engine could not run a program (import error, program raised)."""

    exit_code = 4


class PolicyViolationError(MlplatError):
    """Unwaived mandatory policy violations remain."""

    exit_code = 1


class WaiverError(MlplatError):
    """A waivers file is malformed or holds an expired waiver."""

    exit_code = 1


class PreflightError(MlplatError):
    """A preflight check failed (wrong account, capacity, quota, backend)."""

    exit_code = 1


class BudgetExceededError(MlplatError):
    """The p90 cost estimate exceeds the configured budget."""

    exit_code = 1


class ToolMissingError(MlplatError):
    """An external tool (Pulumi CLI, git) or credentials needed for this command are missing."""

    exit_code = 5


class TemplateError(MlplatError):
    """Rendering or updating a project template failed (bad answers, conflicts)."""

    exit_code = 6
