"""The one constructor of the issues config rules report: every rule module builds them through `issue`, and
config/rule_docs.py reads its calls to write the rules list of docs/configuration.md."""

from __future__ import annotations

from mlops_platform.core.errors import ConfigIssue


def issue(path: str, message: str, value: object = None, fix: str = "") -> ConfigIssue:
    """One problem at dotted `path`: what is wrong, the bad value and how to fix it."""
    return ConfigIssue(path=path, message=message, value=value, fix=fix)
