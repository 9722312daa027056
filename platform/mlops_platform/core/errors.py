"""Typed, user-facing errors. The CLI maps each class to an exit code; no traceback reaches a user."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class MlplatError(Exception):
    """Base of every error a user can cause or fix. `exit_code` is what the CLI exits with, `code` the
    stable name `--json` output carries (docs/cli.md lists both)."""

    exit_code = 2
    code = "error"

    def render(self) -> str:
        return str(self)

    def issues_json(self) -> list[dict[str, object]]:
        return []

    def to_json(self) -> dict[str, object]:
        """`{"error": {...}}`, the one object every `--json` command prints when it fails."""
        return error_json(self.code, self.exit_code, self.render(), self.issues_json())


def error_json(code: str, exit_code: int, message: str, issues: list[dict[str, object]] | None = None
               ) -> dict[str, object]:
    return {"error": {"code": code, "exit_code": exit_code, "message": message, "issues": issues or []}}


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

    def to_json(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "path": self.path, "message": self.message,
                "value": self.value, "fix": self.fix}


class ConfigError(MlplatError):
    """A stack/answers file failed validation. Carries every issue found, not just the first."""

    exit_code = 3
    code = "config"

    def __init__(self, issues: Iterable[ConfigIssue], source: str = "") -> None:
        self.issues = list(issues)
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        head = f"{len(self.issues)} configuration error(s)" + (f" in {self.source}" if self.source else "")
        return head + ":\n" + "\n".join(f"  - {i.render()}" for i in self.issues)

    def issues_json(self) -> list[dict[str, object]]:
        return [i.to_json() for i in self.issues]


class UsageError(MlplatError):
    """Wrong command-line usage (unknown environment, missing file, conflicting flags)."""

    exit_code = 2
    code = "usage"


class EngineError(MlplatError):
    """The offline engine could not run a program (import error, program raised)."""

    exit_code = 4
    code = "engine"


class PolicyViolationError(MlplatError):
    """Unwaived mandatory policy violations remain."""

    exit_code = 1
    code = "policy_violation"


class WaiverError(MlplatError):
    """A waivers file is malformed or holds an expired waiver."""

    exit_code = 1
    code = "waiver"


class PreflightError(MlplatError):
    """A preflight check failed (wrong account, capacity, quota, backend)."""

    exit_code = 1
    code = "preflight"


class UpgradeRefusedError(MlplatError):
    """A requested Kubernetes upgrade EKS does not allow (downgrade, skipped minor, unsupported target)."""

    exit_code = 1
    code = "upgrade_refused"


class BudgetExceededError(MlplatError):
    """The p90 cost estimate exceeds the configured budget."""

    exit_code = 1
    code = "budget_exceeded"


class ToolMissingError(MlplatError):
    """An external tool (Pulumi CLI, git) or credentials needed for this command are missing."""

    exit_code = 5
    code = "tool_missing"


class TemplateError(MlplatError):
    """Rendering or updating a project template failed (bad answers, conflicts)."""

    exit_code = 6
    code = "template"


#: Exit statuses without an error class: a fleet project behind the template (`fleet check --strict`),
#: Ctrl-C (128 + SIGINT, as shells report it) and a defect in mlplat itself (BSD EX_SOFTWARE).
EXIT_BEHIND = 7
EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70
