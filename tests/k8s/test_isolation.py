"""Adding or removing a project never touches another project's (or the platform's) resources, and every
Kubernetes resource goes through the layer's explicit provider. Plans real variants of the dev stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mlops_platform.config import stack_file_for
from mlops_platform.engine import Plan, run_platform
from mlops_platform.engine import runner as engine_runner
from mlops_platform.engine.recorder import RecordingMonitor
from ruamel.yaml import YAML

NEW = {"name": "new-team", "owners": ["new@example.com"], "github_repo": "example-org/new-team", "gpu_quota": 1}


def variant(tmp_path: Path, edit: Any) -> Path:
    yaml = YAML()
    doc = yaml.load(stack_file_for("dev").read_text())
    edit(doc["config"]["mlops-platform:projects"])
    out = tmp_path / "Pulumi.dev.yaml"
    with out.open("w") as fh:
        yaml.dump(doc, fh)
    return out


def snapshot(plan: Plan) -> dict[str, Any]:
    return {r.urn: r.inputs for r in plan.resources}


def owned_by(urn: str, project: str) -> bool:
    """The project's own resources (its Gateway and certificate on the models' gateway class among them:
    k8s/project_gateway.py) and its user on the shared tracking server (its password)."""
    name = urn.rsplit("::", 1)[1]
    return f"-project-{project}" in name or name.endswith(f"-tracking-user-{project}")


#: What a project's arrival or departure visibly changes outside its own resources: on the shared tracking
#: server, its pod's user fingerprint, so it restarts and syncs users (the user list itself is in a Secret,
#: whose contents a plan shows only as [secret]). The models' gateway does not change: each project's HTTPS
#: listener is on its own Gateway in its namespace (merged onto the shared Envoy fleet).
SHARED_CHANGES = {"dev-k8s-tracking-deployment"}


def changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {u.rsplit("::", 1)[1] for u in before if u in after and before[u] != after[u]}


@pytest.mark.slow
def test_adding_a_project_only_adds_that_projects_resources(plans: dict[str, Plan], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monitors: list[RecordingMonitor] = []

    class Capturing(RecordingMonitor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            monitors.append(self)

    monkeypatch.setattr(engine_runner, "RecordingMonitor", Capturing)
    grown = run_platform(stack_file=variant(tmp_path, lambda p: p.append(NEW)))
    before, after = snapshot(plans["dev"]), snapshot(grown)
    added = set(after) - set(before)
    assert added and all(owned_by(u, "new-team") for u in added)
    assert set(before) <= set(after)
    assert changed(before, after) == SHARED_CHANGES
    # every Kubernetes resource (and Helm release) is created through its own layer's provider (one
    # monitor per layer stack: aws, cluster, tenants)
    grown_monitors = monitors[:3]  # the grown plan ran first (`plans["dev"]` may plan after it)
    expected = {"mlops-platform-cluster": "dev-k8s-access-provider", "mlops-platform": "dev-tenants-access-provider"}
    k8s = [r for m in grown_monitors for r in m.registrations if r.custom and r.type.startswith("kubernetes:")]
    assert len(k8s) > 40
    for r in k8s:
        project = r.urn.split("::")[1]
        provider = r.provider.rsplit("::", 1)[0]
        assert provider.split("::")[1] == project
        assert provider.endswith(f"$pulumi:providers:kubernetes::{expected[project]}")


@pytest.mark.slow
def test_removing_a_project_only_removes_that_projects_resources(plans: dict[str, Plan], tmp_path: Path) -> None:
    def drop_churn(projects: list[Any]) -> None:
        projects[:] = [p for p in projects if p["name"] != "churn-model"]

    before, after = snapshot(plans["dev"]), snapshot(run_platform(stack_file=variant(tmp_path, drop_churn)))
    removed = set(before) - set(after)
    assert removed and all(owned_by(u, "churn-model") for u in removed)
    assert set(after) <= set(before)
    assert changed(before, after) == SHARED_CHANGES
