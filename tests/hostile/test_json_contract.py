"""The `--json` contract: every command that takes `--json` prints exactly one JSON object on stdout when it
fails too — `{"error": {"code", "exit_code", "message", "issues"}}`, beside its result when it has one.

The commands are enumerated from the CLI itself, so a new `--json` command without failure cases here fails
`test_every_json_command_has_failure_cases`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer
from foundation.stackfiles import sections, write_stack
from mlops_platform.cli import app
from mlops_platform.cli.commands import stack as stack_commands

from .conftest import Cli, unchanged

Case = Callable[[Path], list[str]]


def json_commands() -> set[str]:
    """Every command path ("fleet check") with a --json option."""

    def walk(command: object, prefix: str) -> Iterator[str]:
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            path = f"{prefix} {name}".strip()
            if any("--json" in getattr(p, "opts", []) for p in sub.params):
                yield path
            yield from walk(sub, path)

    return set(walk(typer.main.get_command(app), ""))


def _over_budget(tmp: Path) -> Path:
    (tmp / "stacks").mkdir(exist_ok=True)
    return write_stack(tmp / "stacks", sections("dev", {"budget": {"monthly_usd": 1}}))


#: command -> failure cases: (id, argv given a tmp dir, exit code, error code)
CASES: dict[str, list[tuple[str, Case, int, str]]] = {
    "validate": [
        ("unknown-env", lambda t: ["validate", "nope"], 2, "usage"),
        ("path-as-name", lambda t: ["validate", "../../etc/passwd"], 2, "usage"),
        ("directory", lambda t: ["validate", "--stack-file", str(t)], 2, "input_file"),
        ("invalid-file", lambda t: ["validate", "--stack-file",
                                    str(write_stack(t, sections("dev", {"budget": {"monthly_usd": "x"}})))],
         3, "config"),
        ("bad-option", lambda t: ["validate", "--bogus"], 2, "usage"),
    ],
    "plan": [
        ("unknown-env", lambda t: ["plan", "nope"], 2, "usage"),
        ("env-and-file", lambda t: ["plan", "dev", "--stack-file", str(t / "x.yaml")], 2, "usage"),
        ("dev-null", lambda t: ["plan", "--stack-file", "/dev/null"], 2, "input_file"),
    ],
    "bootstrap": [("unknown-env", lambda t: ["bootstrap", "nope"], 2, "usage"),
                  ("no-credentials", lambda t: ["bootstrap", "dev"], 5, "tool_missing")],
    "preflight": [("unknown-env", lambda t: ["preflight", "nope"], 2, "usage"),
                  ("no-credentials", lambda t: ["preflight", "dev"], 5, "tool_missing")],
    # `up --json`: no Pulumi CLI and no credentials here, reported at once before anything is touched
    "up": [("unknown-env", lambda t: ["up", "nope"], 2, "usage"),
           ("no-tools", lambda t: ["up", "dev"], 5, "tool_missing"),
           ("bad-layer", lambda t: ["up", "dev", "--layer", "network"], 2, "usage")],
    "cost": [("unknown-env", lambda t: ["cost", "nope"], 2, "usage"),
             ("bad-compare", lambda t: ["cost", "dev", "--compare", "../prod"], 2, "usage"),
             ("bad-prices", lambda t: ["cost", "dev", "--prices", "free"], 2, "usage")],
    "fleet check": [("not-projects", lambda t: ["fleet", "check", str(t / "a"), str(t / "b")], 6, "template")],
    "policy list": [("bad-option", lambda t: ["policy", "list", "--bogus"], 2, "usage")],
    "shards": [("unknown-env", lambda t: ["shards", "nope"], 2, "usage"),
               ("path-as-name", lambda t: ["shards", "../../etc/passwd"], 2, "usage")],
    "upgrade": [("unknown-env", lambda t: ["upgrade", "nope", "--to", "1.35"], 2, "usage"),
                ("malformed-target", lambda t: ["upgrade", "dev", "--to", "1.3x"], 2, "usage"),
                ("no-target", lambda t: ["upgrade", "dev"], 2, "usage"),
                ("downgrade", lambda t: ["upgrade", "dev", "--to", "1.34"], 1, "upgrade_refused"),
                ("skipped-minor", lambda t: ["upgrade", "dev", "--to", "1.37"], 1, "upgrade_refused")],
    "mirror": [("unknown-env", lambda t: ["mirror", "nope"], 2, "usage"),
               ("path-as-name", lambda t: ["mirror", "../../etc/passwd"], 2, "usage"),
               ("not-mirrored", lambda t: ["mirror", "dev"], 2, "usage")],
}
ALL = [pytest.param(argv, code, kind, id=f"{command}:{name}")
       for command, cases in CASES.items() for name, argv, code, kind in cases]


def test_every_json_command_has_failure_cases() -> None:
    assert json_commands() == set(CASES)


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.parametrize("argv, code, kind", ALL)
def test_a_failing_json_command_prints_one_error_object(cli: Cli, tmp_path: Path, no_aws: None, argv: Case,
                                                        code: int, kind: str) -> None:
    args = [*argv(tmp_path), "--json"]
    with unchanged(tmp_path):
        result = cli(*args, code=code)
    error = result.error()
    assert error["code"] == kind and error["message"]


def test_a_failing_result_carries_its_error_beside_the_result(cli: Cli, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _over_budget(tmp_path)
    monkeypatch.setenv("MLPLAT_ROOT", str(tmp_path))
    result = cli("cost", "dev", "--json", "--prices", "table", code=1)
    data = result.json()
    assert data["over_budget"] is True and data["env"] == "dev"
    assert result.error()["code"] == "budget_exceeded"


def test_validate_json_keeps_its_result_and_adds_the_error(cli: Cli, tmp_path: Path) -> None:
    bad = write_stack(tmp_path, sections("dev", {"budget": {"monthly_usd": -1}}))
    result = cli("validate", "--stack-file", bad, "--json", code=3)
    assert result.json()["valid"] is False
    assert [i["path"] for i in result.error()["issues"]] == ["budget.monthly_usd"]


def test_review_format_json_failures_are_json(cli: Cli, tmp_path: Path) -> None:
    result = cli("review", "--plan", tmp_path / "none.json", "--format", "json", code=2)
    assert result.error()["code"] == "input_file"
    result = cli("review", "--plan=x", "--format=json", "--tier", "nope", code=2)
    assert "--tier 'nope'" in result.error()["message"]


def test_an_internal_error_is_json_named_by_file_and_line(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(stack_commands, "run_platform", broken)
    result = cli("plan", "dev", "--json", code=70)
    error = result.error()
    assert error["code"] == "internal" and "RuntimeError: boom" in error["message"]
    assert "test_json_contract.py:" in error["message"] and "please report it" in error["message"]


def test_ctrl_c_inside_a_json_command_is_json(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(stack_commands, "run_platform", interrupted)
    result = cli("plan", "dev", "--json", code=130)
    assert result.error()["code"] == "interrupted"
    assert result.err.strip() == "interrupted"


@pytest.mark.slow
@pytest.mark.xdist_group("moto")
def test_a_failing_preflight_against_moto_keeps_the_report(cli: Cli, moto: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "stacks").mkdir()
    write_stack(tmp_path / "stacks", sections("dev", {"environment": {"account_id": "999999999999"}}))
    monkeypatch.setenv("MLPLAT_ROOT", str(tmp_path))
    result = cli("preflight", "dev", "--json", code=1)  # AWS calls, retried by botocore
    assert result.json()["passed"] is False
    assert result.error()["code"] == "preflight" and "account" in result.error()["message"]
