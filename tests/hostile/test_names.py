"""Names: one validator for environment names, used by every command that takes one, before any path is
built from it (`cost ../../etc/passwd` used to show the joined path)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlops_platform.config import check_env_name, shipped_envs
from mlops_platform.config.sections import DNS_LABEL
from mlops_platform.core.errors import UsageError

from .conftest import Cli

NEW = ["-d", "owners=a@example.com", "-d", "github_org=org", "-d", "cost_center=cc", "--dest", "/nonexistent/p"]
#: Every way a command takes an environment name, as argv given the name.
COMMANDS = {
    "validate": lambda n: ["validate", n],
    "plan": lambda n: ["plan", n],
    "graph": lambda n: ["graph", n],
    "cost": lambda n: ["cost", n],
    "cost --compare": lambda n: ["cost", "dev", "--compare", n, "--prices", "table"],
    "preflight": lambda n: ["preflight", n],
    "bootstrap": lambda n: ["bootstrap", n],
    "preview": lambda n: ["preview", n],
    "up": lambda n: ["up", n],
    "destroy": lambda n: ["destroy", n],
    "review": lambda n: ["review", n],
    "policy config": lambda n: ["policy", "config", n],
    "new --env": lambda n: ["new", "proj", "--env", n, *NEW],
}
HOSTILE = ["../../etc/passwd", "/etc/passwd", "dev/../prod", "DEV", "dev\x00", "a" * 64, "dev.yaml", "dev prod",
           "~root", "prod;rm -rf /", "ＤＥＶ", ""]
bad_names = st.text(max_size=70).filter(lambda s: not re.fullmatch(DNS_LABEL, s) and not s.startswith("-"))


@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_refuses_a_name_that_is_not_an_environment_name(cli: Cli, command: str, name: str) -> None:
    result = cli(*COMMANDS[command](name), code=2)
    assert "is not an environment name" in result.err.replace("\n", "")
    assert "Pulumi." not in result.text  # no path was built from it


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=bad_names, command=st.sampled_from(sorted(COMMANDS)))
def test_no_bad_name_gets_past_the_validator(cli: Cli, name: str, command: str) -> None:
    result = cli(*COMMANDS[command](name), code=2)
    assert "is not an environment name" in result.err.replace("\n", "")


@given(name=bad_names)
def test_the_validator_refuses_exactly_what_is_not_a_dns_label(name: str) -> None:
    with pytest.raises(UsageError, match="is not an environment name"):
        check_env_name(name)


def test_shipped_names_pass_and_unknown_good_names_are_unknown(cli: Cli) -> None:
    for env in shipped_envs():
        assert check_env_name(env) == env
    result = cli("cost", "qa", code=2)
    assert "unknown environment 'qa'" in result.err and "dev, staging, prod" in result.err
