"""The case table is split like the pack: `policy_cases.<area>` holds the cases of `policy.rules.<area>`."""

from __future__ import annotations

import re
from pathlib import Path

import policy_cases
from mlops_platform.policy import rules

RULES = Path(rules.__file__).parent


def _owners() -> dict[str, str]:
    """policy name -> rules module that declares it."""
    return {m.group(1): path.stem for path in RULES.glob("*.py")
            for m in re.finditer(r'\bname="([a-z0-9-]+)"', path.read_text(encoding="utf-8"))}


def test_each_case_lives_beside_its_rules_module() -> None:
    owners = _owners()
    for module in policy_cases.MODULES:
        area = module.__name__.rsplit(".", 1)[-1]
        assert {owners[name] for name in module.CASES} == {area}, area


def test_no_case_is_declared_twice() -> None:
    assert sum(len(m.CASES) for m in policy_cases.MODULES) == len(policy_cases.CASES)
