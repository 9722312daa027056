"""The CrossGuard policy pack of mlops-platform, and its offline evaluation.

Policies live in `rules/` (one module per area) and register themselves with metadata in `registry`;
`pack` collects them.
`platform/policypack/__main__.py` serves them to a real `pulumi preview --policy-pack`; `evaluate()`
drives the very same analyzer offline for `mlplat review`.
"""

from __future__ import annotations

from mlops_platform.policy.config import Enforcement, PolicyPackConfig, PolicySettings, Severity
from mlops_platform.policy.config_files import preset
from mlops_platform.policy.evaluate import Diagnostic, Evaluation, evaluate
from mlops_platform.policy.pack import all_specs, build_policies
from mlops_platform.policy.registry import PolicySpec

__all__ = [
    "Diagnostic",
    "Enforcement",
    "Evaluation",
    "PolicyPackConfig",
    "PolicySettings",
    "PolicySpec",
    "Severity",
    "all_specs",
    "build_policies",
    "evaluate",
    "preset",
]
