"""The validated stack configuration: every section (`sections.py`) plus the cross-field rules (`rules.py`).

The rules run as the last step of validation, so one `PlatformConfig.model_validate` reports every
structural problem, and then every rule problem, with dotted paths.
"""

from __future__ import annotations

from pydantic import model_validator

from mlops_platform.config.rules import RuleViolations, check_rules
from mlops_platform.config.sections import PlatformSections


class PlatformConfig(PlatformSections):
    """The whole `mlops-platform:*` namespace of one stack file, validated structurally and by the rules."""

    @model_validator(mode="after")
    def _check_rules(self) -> PlatformConfig:
        issues = check_rules(self)
        if issues:
            raise RuleViolations(issues)
        return self
