"""Many projects: stack policies index resources once per run, so projects never collide.

How evaluation cost grows with the stack (10 → 100 → 500 tenants) is measured by `make bench`, not here:
the suite holds no timed assertions.
"""

from __future__ import annotations

import pytest
from mlops_platform.policy import evaluate
from policy_plans import config_for, scaled


@pytest.mark.slow
def test_many_projects_stay_clean() -> None:
    large = scaled(400)
    # 360 more projects, each copying the reference project's 15 resources (policy_plans._PROJECT_RESOURCES:
    # IRSA role and policy, repository and its 2 policies, namespace, default-deny, service account,
    # Deployment, PDB, Service, HTTPRoute, SecurityPolicy, Canary, budget); the shared ones do not grow
    assert len(large["resources"]) - len(scaled(40)["resources"]) == 360 * 15
    assert evaluate(large, config_for()).diagnostics == []  # no index collisions between projects
