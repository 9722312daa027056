"""A project rename (`previous_names`) moves its tenant with aliases and destroys nothing (issue #9).

Pulumi aliases a component's children named after it when the component itself is aliased
(https://www.pulumi.com/docs/iac/concepts/options/aliases/); the namespace, IAM roles and ECR repository
keep their physical names, which cannot change in place (Kubernetes `metadata.name`, IAM `RoleName`,
ECR `repositoryName` all force a replacement)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlops_platform.config import stack_file_for
from mlops_platform.engine import Plan, run_platform
from ruamel.yaml import YAML

OLD, NEW = "fraud-detector", "fraud-scorer"


def renamed(tmp_path: Path) -> Path:
    yaml = YAML()
    doc = yaml.load(stack_file_for("dev").read_text())
    for project in doc["config"]["mlops-platform:projects"]:
        if project["name"] == OLD:
            project["name"], project["previous_names"] = NEW, [OLD]
    path = tmp_path / "Pulumi.dev.yaml"
    with path.open("w") as fh:
        yaml.dump(doc, fh)
    return path


def tenant_resources(plan: Plan, project: str) -> dict[str, dict[str, object]]:
    """The tenant's resources by name relative to the tenant, with their inputs."""
    prefix = f"dev-tenants-project-{project}"
    return {r.name.removeprefix(prefix): r.inputs for r in plan.resources if r.name.startswith(prefix)}


@pytest.mark.slow
def test_a_renamed_project_moves_with_aliases_and_keeps_its_physical_names(plans: dict[str, Plan],
                                                                         tmp_path: Path) -> None:
    plan = run_platform(stack_file=renamed(tmp_path))
    [tenant] = [r for r in plan.resources if r.name == f"dev-tenants-project-{NEW}"]
    assert [a["spec"]["name"] for a in tenant.aliases] == [f"dev-tenants-project-{OLD}"]
    before, after = tenant_resources(plans["dev"], OLD), tenant_resources(plan, NEW)
    assert before and set(before) == set(after)  # every child maps onto an old one by name
    changed = {k for k in before if before[k] != after[k]}
    assert changed <= {""}  # no child input changes (the component itself has none)
    names = {r.get("metadata.name") for r in plan.of_type("kubernetes:core/v1:Namespace")}
    assert OLD in names and NEW not in names
    assert plan.outputs["projects"][NEW]["namespace"] == OLD
