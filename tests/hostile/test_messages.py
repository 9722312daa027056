"""Messages: the hint fits the mistake — an unquoted account id of any length gets the quoting hint, a
public VPC CIDR warns, duplicate waivers are reported, and a program that raises is named by file:line."""

from __future__ import annotations

import ipaddress
import textwrap
from datetime import date, timedelta
from pathlib import Path

import pytest
from foundation.stackfiles import issue_at, issues_of, sections, write_stack
from hypothesis import given, settings
from hypothesis import strategies as st
from mlops_platform.config.rules import check_warnings
from mlops_platform.config.schema import PlatformConfig
from mlops_platform.core.errors import WaiverError
from mlops_platform.policy.waivers import parse_waivers
from ruamel.yaml import YAML

from .conftest import Cli, unchanged


def _stack_text(tmp_path: Path, account: str) -> Path:
    path = write_stack(tmp_path, sections("dev"))
    path.write_text(path.read_text().replace("account_id: '123456789012'", f"account_id: {account}"))
    return path


@pytest.mark.parametrize("account", ["123456789012", "12345", "012345678901", "1234567890123"])
def test_an_unquoted_account_id_gets_the_quoting_hint(cli: Cli, tmp_path: Path, account: str) -> None:
    path = _stack_text(tmp_path, account)
    result = cli("validate", "--stack-file", path, "--json", code=3)
    [issue] = result.error()["issues"]
    assert issue["path"] == "environment.account_id"
    assert "quote it: YAML reads unquoted digits as a number" in issue["fix"]
    assert 'the 12-digit account id as a quoted string, e.g. "123456789012"' in issue["fix"]


def test_numbers_for_other_text_fields_get_the_quoting_hint_too() -> None:
    config = sections("dev", {"environment": {"cost_center": 4711}})
    assert "quote it" in issue_at(issues_of(config, "dev"), "environment.cost_center").fix


@settings(max_examples=40, deadline=None)
@given(first=st.integers(1, 223).filter(lambda o: o not in (10, 100, 127, 169, 172, 192)),
       prefix=st.integers(16, 24))
def test_a_public_vpc_cidr_warns_and_private_ones_do_not(first: int, prefix: int) -> None:
    cidr = str(ipaddress.IPv4Network(f"{first}.0.0.0/{prefix}", strict=False))
    public = not ipaddress.IPv4Network(cidr).is_private
    cfg = PlatformConfig.model_validate(sections("dev", {"network": {"cidr": cidr}}))
    warnings = [w for w in check_warnings(cfg) if w.path == "network.cidr"]
    assert bool(warnings) == public, (cidr, warnings)


def test_validate_prints_the_public_cidr_warning_and_passes(cli: Cli, tmp_path: Path) -> None:
    path = write_stack(tmp_path, sections("dev", {"network": {"cidr": "52.0.0.0/16"}}))
    text = cli("validate", "--stack-file", path, code=0)
    assert "valid" in text.out and "warning:" in text.out and "network.cidr: is public address space" in text.out
    data = cli("validate", "--stack-file", path, "--json", code=0).json()
    [warning] = data["warnings"][str(path)]
    assert "use a private range (RFC 1918)" in warning
    for private in ("10.20.0.0/16", "172.16.0.0/16", "192.168.0.0/20", "100.64.0.0/16"):
        ok = write_stack(tmp_path, sections("dev", {"network": {"cidr": private}}))
        assert cli("validate", "--stack-file", ok, "--json", code=0).json()["warnings"][str(ok)] == []


def _waiver(urn: str, days: int = 30) -> dict[str, object]:
    return {"policy": "eks-private-endpoint", "urn": urn, "reason": "Reviewed exception for the test.",
            "approver": "sec@example.com", "expires": (date.today() + timedelta(days=days)).isoformat()}


def test_duplicate_waivers_are_reported_with_both_entries() -> None:
    data = {"waivers": [_waiver("urn:a"), _waiver("urn:b"), _waiver("urn:a", days=60)]}
    with pytest.raises(WaiverError, match=r"waivers\[2\]: duplicates waivers\[0\] \(same policy and urn\)"):
        parse_waivers(data, "waivers.yaml", ["eks-private-endpoint"])


def test_duplicate_waivers_fail_review_through_the_cli(cli: Cli, tmp_path: Path) -> None:
    waivers = tmp_path / "waivers.yaml"
    YAML(typ="safe", pure=True).dump({"waivers": [_waiver("urn:x"), _waiver("urn:x")]}, waivers.open("w"))
    plan = tmp_path / "plan.json"
    plan.write_text('{"stack": "dev", "resources": [], "outputs": {}}')
    with unchanged(tmp_path):
        result = cli("review", "--plan", plan, "--waivers", waivers, code=1)
    assert "duplicates waivers[0]" in result.err.replace("\n", "") and "keep one entry" in result.err.replace("\n", "")


PROGRAM = """\
    import pulumi

    def bucket_name(env):
        return {"dev": "ok"}[env]  # line 4: raises KeyError for any other stack

    pulumi.export("bucket", bucket_name(pulumi.get_stack()))
"""


def test_a_program_that_raises_is_named_by_file_and_line(cli: Cli, tmp_path: Path) -> None:
    program = tmp_path / "infra"
    program.mkdir()
    (program / "Pulumi.yaml").write_text("name: broken\nruntime: python\n")
    (program / "__main__.py").write_text(textwrap.dedent(PROGRAM))
    with unchanged(tmp_path):
        result = cli("review", "--program", program, "--stack", "qa", "--format", "json", code=4)
    error = result.error()
    assert error["code"] == "engine"
    assert f"{program.resolve() / '__main__.py'}:4" in error["message"]
    assert "raised KeyError: 'qa'" in error["message"]


def test_top_level_help_names_every_command() -> None:
    """`mlplat --help` lists the commands in its summary line: all of them, none made up."""
    import re

    import typer.main
    from mlops_platform.cli import app

    listed = re.fullmatch(r"MLOps platform: ([a-z, -]+)\.", app.info.help or "")
    assert listed, app.info.help
    assert sorted(listed.group(1).split(", ")) == sorted(typer.main.get_command(app).commands)
